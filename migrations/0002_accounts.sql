-- 0002_accounts: plans, credentials, devices, API keys, login throttling, per-user settings, symbols.

-- Plans are data: limits live here, not in code. Shared (not tenant-owned), read-only to the app.
CREATE TABLE plans (
    plan_id                    text PRIMARY KEY CHECK (plan_id ~ '^[a-z][a-z0-9_]{1,30}$'),
    name                       text NOT NULL,
    rank                       integer NOT NULL UNIQUE,   -- higher ranks lift limits of lower ones
    price_cents_month          integer NOT NULL CHECK (price_cents_month >= 0),
    max_symbols                integer NOT NULL CHECK (max_symbols >= 0),
    max_timeframes_per_symbol  integer NOT NULL CHECK (max_timeframes_per_symbol >= 1),
    max_webhooks               integer NOT NULL CHECK (max_webhooks >= 0),
    telegram                   boolean NOT NULL,
    alerts_per_day             integer NOT NULL CHECK (alerts_per_day >= 0),
    history_days               integer NOT NULL CHECK (history_days >= 1),
    max_devices                integer NOT NULL CHECK (max_devices >= 1),
    api_requests_per_minute    integer NOT NULL CHECK (api_requests_per_minute >= 1),
    max_api_keys               integer NOT NULL CHECK (max_api_keys >= 0)
);

INSERT INTO plans VALUES
    ('free', 'Free', 0,    0,  3, 2,  0, false,   20,   30,  2,   60,  1),
    ('pro',  'Pro',  1, 2900, 25, 6,  5, true,   500,  365,  5,  600,  5),
    ('team', 'Team', 2, 9900, 100, 8, 25, true, 5000, 1825, 25, 3000, 25);

GRANT SELECT ON plans TO smc_app;

ALTER TABLE tenants ADD COLUMN plan_id text NOT NULL DEFAULT 'free' REFERENCES plans (plan_id);
ALTER TABLE tenants ADD COLUMN plan_changed_at timestamptz NOT NULL DEFAULT now();

-- argon2id PHC string, e.g. $argon2id$v=19$m=19456,t=2,p=1$…$…
ALTER TABLE users ADD COLUMN password_hash text NOT NULL DEFAULT '' CHECK (password_hash = '' OR password_hash LIKE '$argon2id$%');
ALTER TABLE users ALTER COLUMN password_hash DROP DEFAULT;
ALTER TABLE users ADD COLUMN password_changed_at timestamptz NOT NULL DEFAULT now();

-- The one cross-tenant lookup: which tenant an email signs in to. Holds no secret. Not tenant-owned
-- by design (a login does not know its tenant yet); every other account table is.
CREATE TABLE login_emails (
    email      text PRIMARY KEY CHECK (email = lower(btrim(email))),
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id    uuid NOT NULL
);
CREATE INDEX login_emails_tenant ON login_emails (tenant_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON login_emails TO smc_app;

-- A signed-in device: one bearer token each (only its SHA-256 is stored).
CREATE TABLE devices (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    device_id     uuid NOT NULL,
    user_id       uuid NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash    bytea NOT NULL CHECK (length(token_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, device_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX devices_token ON devices (tenant_id, token_hash);
CREATE INDEX devices_user_active ON devices (tenant_id, user_id) WHERE revoked_at IS NULL;

-- Machine credentials of a tenant (e.g. the TradingView hook token), separate from device tokens.
CREATE TABLE api_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    key_id        uuid NOT NULL,
    user_id       uuid NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scopes        text[] NOT NULL CHECK (cardinality(scopes) >= 1 AND scopes <@ ARRAY['tradingview_hook', 'signals_read']),
    key_hash      bytea NOT NULL CHECK (length(key_hash) = 32),
    key_hint      text NOT NULL,     -- the last characters, to recognise a key in a list
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, key_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (tenant_id, key_hash);

-- Per-user configuration documents (watchlist, killzones, strategy, alerts), versioned for ETag/If-Match.
CREATE TABLE user_settings (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('watchlist', 'killzones', 'strategy', 'alerts')),
    version     integer NOT NULL CHECK (version >= 1),
    body        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, kind),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['devices', 'api_keys', 'user_settings'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = smc_current_tenant()) WITH CHECK (tenant_id = smc_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO smc_app', t);
    END LOOP;
END
$$;

-- Failed sign-ins per key ('email:…' or 'ip:…'), shared by every server process.
CREATE TABLE login_throttle (
    key           text PRIMARY KEY,
    failures      integer NOT NULL,
    locked_until  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO smc_app;

-- The market-data symbol registry (shared). Market-data work extends it; these are the ones users can
-- watch from day one.
CREATE TABLE symbols (
    symbol       text PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9]{3,20}$'),
    asset_class  text NOT NULL CHECK (asset_class IN ('forex', 'crypto', 'metal', 'index', 'commodity')),
    description  text NOT NULL,
    active       boolean NOT NULL DEFAULT true
);
INSERT INTO symbols (symbol, asset_class, description) VALUES
    ('EURUSD', 'forex', 'Euro / US Dollar'), ('GBPUSD', 'forex', 'British Pound / US Dollar'),
    ('USDJPY', 'forex', 'US Dollar / Japanese Yen'), ('USDCHF', 'forex', 'US Dollar / Swiss Franc'),
    ('AUDUSD', 'forex', 'Australian Dollar / US Dollar'), ('USDCAD', 'forex', 'US Dollar / Canadian Dollar'),
    ('NZDUSD', 'forex', 'New Zealand Dollar / US Dollar'), ('EURGBP', 'forex', 'Euro / British Pound'),
    ('EURJPY', 'forex', 'Euro / Japanese Yen'), ('GBPJPY', 'forex', 'British Pound / Japanese Yen'),
    ('XAUUSD', 'metal', 'Gold / US Dollar'), ('XAGUSD', 'metal', 'Silver / US Dollar'),
    ('BTCUSDT', 'crypto', 'Bitcoin / Tether'), ('ETHUSDT', 'crypto', 'Ether / Tether'),
    ('SOLUSDT', 'crypto', 'Solana / Tether'), ('BNBUSDT', 'crypto', 'BNB / Tether'),
    ('US30', 'index', 'Dow Jones 30'), ('NAS100', 'index', 'Nasdaq 100'), ('SPX500', 'index', 'S&P 500'),
    ('GER40', 'index', 'DAX 40'), ('USOIL', 'commodity', 'WTI Crude Oil');
GRANT SELECT ON symbols TO smc_app;

-- Market-data feeder keys: operator-issued (smc-server admin create-feeder-key), not tenant-owned.
CREATE TABLE feeder_keys (
    key_id      uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    key_hash    bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
GRANT SELECT, UPDATE ON feeder_keys TO smc_app;
