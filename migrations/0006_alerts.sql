-- 0006_alerts: per-user alert channels (signed webhooks, the Telegram bot) and the delivery queue.
--
-- * `alert_outbox` (0003) stays the transactional outbox the pipeline writes with each signal; the alert workers
--   (role `smc_worker`) turn each outbox event into one `alert_deliveries` row per channel of each user of the
--   tenant, applying the user's alert preferences (suppressed ones are rows too, with their reason), and delete the
--   event, in one transaction. Deliveries are the second queue: claimed with FOR UPDATE SKIP LOCKED and leased
--   (`status = 'sending'`, `next_attempt_at` = the lease's end), so a process killed mid-request leaves a lease that
--   expires and another attempt follows with the same id (at least once).
-- * Every table is tenant-owned: `tenant_id` leads its primary key, RLS is enabled and forced with the tenant policy,
--   and the worker gets an explicit all-tenant policy where it must read or write.
-- * `telegram_links` is also read by chat (the bot knows only the chat): `telegram_links_by_chat` is the one index
--   not led by `tenant_id` (a distributed table can keep it as a local, non-unique index).
-- * `telegram_bot_state` is shared (not tenant-owned): the update offset of the server-wide bot.

CREATE TABLE webhook_endpoints (
    tenant_id                    uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    endpoint_id                  uuid NOT NULL,
    user_id                      uuid NOT NULL,
    url                          text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    description                  text CHECK (description IS NULL OR length(description) <= 200),
    event_types                  text[] NOT NULL CHECK (cardinality(event_types) >= 1
                                     AND event_types <@ ARRAY['signal.created', 'signal.outcome', 'alert.test']),
    secret                       text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    previous_secret              text CHECK (previous_secret IS NULL OR previous_secret LIKE 'whsec\_%'),
    previous_secret_expires_at   timestamptz,
    enabled                      boolean NOT NULL DEFAULT true,
    disabled_reason              text,
    failing_since                timestamptz,            -- first failure since the last success
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, endpoint_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

-- A user's Telegram chat (one per user; a chat belongs to one user at a time).
CREATE TABLE telegram_links (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    chat_id     bigint NOT NULL,
    username    text,
    linked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX telegram_links_by_chat ON telegram_links (chat_id);

-- One-time link codes (`/start <code>`): only the SHA-256 of the code's secret part is kept.
CREATE TABLE telegram_link_codes (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL CHECK (length(code_hash) = 32),
    user_id     uuid NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

-- One event to one channel of one user: the queue the delivery workers claim, and the record the API lists.
CREATE TABLE alert_deliveries (
    tenant_id          uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    delivery_id        uuid NOT NULL,                 -- also the webhook-id (msg_…): the receiver's idempotency key
    event_id           uuid NOT NULL,
    event_type         text NOT NULL CHECK (event_type IN ('signal.created', 'signal.outcome', 'alert.test',
                                                            'webhook.disabled', 'telegram.unlinked')),
    user_id            uuid NOT NULL,
    channel            text NOT NULL CHECK (channel IN ('webhook', 'telegram')),
    target             text NOT NULL,                 -- 'webhook:<endpoint id>' or 'telegram:<user id>'
    endpoint_id        uuid,
    signal_id          uuid,
    payload            text NOT NULL CHECK (octet_length(payload) < 20480),  -- the JSON body, fixed for every attempt
    silent             boolean NOT NULL DEFAULT false,
    status             text NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'dead', 'suppressed', 'cancelled')),
    reason             text,                          -- why suppressed, cancelled or dead
    attempts           integer NOT NULL DEFAULT 0,    -- attempts made, all rounds (numbers the attempt rows)
    round_attempts     integer NOT NULL DEFAULT 0,    -- attempts in this round (the retry schedule's position)
    next_attempt_at    timestamptz,                   -- pending: when due; sending: when the lease ends
    lease_token        uuid,
    last_status_code   integer,
    last_error         text,
    last_latency_ms    integer,
    created_at         timestamptz NOT NULL DEFAULT now(),
    delivered_at       timestamptz,
    PRIMARY KEY (tenant_id, delivery_id),
    UNIQUE (tenant_id, event_id, target),
    CHECK ((channel = 'webhook') = (endpoint_id IS NOT NULL))
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX alert_deliveries_by_time ON alert_deliveries (tenant_id, created_at DESC, delivery_id DESC);
CREATE INDEX alert_deliveries_by_endpoint ON alert_deliveries (tenant_id, endpoint_id) WHERE status IN ('pending', 'sending');
-- What is in flight (a handful of rows): claims skip endpoints at their limit.
CREATE INDEX alert_deliveries_sending ON alert_deliveries (tenant_id, endpoint_id) WHERE status = 'sending';

-- Every attempt of a delivery.
CREATE TABLE alert_attempts (
    tenant_id     uuid NOT NULL,
    delivery_id   uuid NOT NULL,
    attempt       integer NOT NULL,
    started_at    timestamptz NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'throttled', 'gone', 'refused', 'blocked')),
    status_code   integer,
    latency_ms    integer,
    error         text CHECK (error IS NULL OR length(error) <= 500),
    PRIMARY KEY (tenant_id, delivery_id, attempt),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES alert_deliveries (tenant_id, delivery_id) ON DELETE CASCADE
);

-- The server-wide bot's position in its update stream (so a restarted poller neither repeats nor skips updates).
CREATE TABLE telegram_bot_state (
    bot_id         bigint PRIMARY KEY,
    update_offset  bigint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'telegram_links', 'telegram_link_codes', 'alert_deliveries',
                             'alert_attempts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = smc_current_tenant()) '
                       'WITH CHECK (tenant_id = smc_current_tenant())', t);
        EXECUTE format('CREATE POLICY worker_all ON %I TO smc_worker USING (true) WITH CHECK (true)', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO smc_worker', t);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, telegram_link_codes TO smc_app;
GRANT SELECT, DELETE ON telegram_links TO smc_app;
GRANT SELECT, INSERT, UPDATE ON alert_deliveries TO smc_app;
GRANT SELECT ON alert_attempts TO smc_app;
GRANT SELECT, INSERT, UPDATE ON telegram_bot_state TO smc_worker;
