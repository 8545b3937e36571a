-- 0008_sealed_secrets: webhook signing secrets may be stored sealed (AES-256-GCM under SMC_SECRETS_KEY) as
-- `enc:v1:<key id>:<base64>`, besides as they are (`whsec_…`, when no key is configured).
ALTER TABLE webhook_endpoints
    DROP CONSTRAINT webhook_endpoints_secret_check,
    ADD CONSTRAINT webhook_endpoints_secret_check CHECK (secret LIKE 'whsec\_%' OR secret LIKE 'enc:v1:%'),
    DROP CONSTRAINT webhook_endpoints_previous_secret_check,
    ADD CONSTRAINT webhook_endpoints_previous_secret_check
        CHECK (previous_secret IS NULL OR previous_secret LIKE 'whsec\_%' OR previous_secret LIKE 'enc:v1:%');
