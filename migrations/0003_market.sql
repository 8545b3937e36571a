-- 0003_market: shared market data, the signal pipeline's state and queue, signals, external alerts, the alert
-- outbox and the trade journal.
--
-- * Candles are shared (not tenant-owned): one row per (symbol, timeframe, open_time), read by range through the
--   primary key's btree (see deploy/SCALING.md for the partitioning step beyond ~100M rows).
-- * The pipeline runs as `smc_worker`: like `smc_app` it owns nothing and cannot bypass RLS, but the tenant
--   tables it must write for every tenant (signals, pipeline state, outbox) give it an explicit policy. Requests
--   keep running as `smc_app`, held to their own tenant.

DO $$
BEGIN
    CREATE ROLE smc_worker NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'smc_worker', 'MEMBER') THEN
        EXECUTE format('GRANT smc_worker TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO smc_worker;
GRANT SELECT ON symbols, plans, tenants, users, user_settings, feeder_keys TO smc_worker;
CREATE POLICY worker_reads ON tenants FOR SELECT TO smc_worker USING (true);
CREATE POLICY worker_reads ON users FOR SELECT TO smc_worker USING (true);
CREATE POLICY worker_reads ON user_settings FOR SELECT TO smc_worker USING (true);

CREATE FUNCTION smc_timeframe_seconds(tf text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE tf WHEN '1m' THEN 60 WHEN '5m' THEN 300 WHEN '15m' THEN 900 WHEN '30m' THEN 1800
                        WHEN '1h' THEN 3600 WHEN '4h' THEN 14400 WHEN '1d' THEN 86400 WHEN '1w' THEN 604800 END $$;

-- Shared market data.
CREATE TABLE candles (
    symbol       text NOT NULL REFERENCES symbols (symbol),
    timeframe    text NOT NULL CHECK (smc_timeframe_seconds(timeframe) IS NOT NULL),
    open_time    timestamptz NOT NULL,
    open         double precision NOT NULL CHECK (open > 0 AND open < 'Infinity'),
    high         double precision NOT NULL CHECK (high < 'Infinity'),
    low          double precision NOT NULL CHECK (low > 0),
    close        double precision NOT NULL CHECK (close > 0 AND close < 'Infinity'),
    volume       double precision NOT NULL CHECK (volume >= 0 AND volume < 'Infinity'),
    source       text NOT NULL CHECK (length(source) BETWEEN 1 AND 100),
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, timeframe, open_time),
    CHECK (high >= open AND high >= close AND low <= open AND low <= close)
);

-- A closed candle that arrived again with other values: recorded, the stored candle kept (signals rest on it).
CREATE TABLE candle_corrections (
    correction_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol         text NOT NULL,
    timeframe      text NOT NULL,
    open_time      timestamptz NOT NULL,
    open           double precision NOT NULL,
    high           double precision NOT NULL,
    low            double precision NOT NULL,
    close          double precision NOT NULL,
    volume         double precision NOT NULL,
    source         text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (symbol, timeframe, open_time) REFERENCES candles (symbol, timeframe, open_time) ON DELETE CASCADE
);
CREATE INDEX candle_corrections_candle ON candle_corrections (symbol, timeframe, open_time);

GRANT SELECT, INSERT, UPDATE ON candles TO smc_app, smc_worker;
GRANT SELECT, INSERT ON candle_corrections TO smc_app, smc_worker;

-- The pipeline's queue: a row per batch of closed candles of a (symbol, timeframe), written in the ingest's
-- transaction; a worker takes a stream (row lock on market_streams, SKIP LOCKED), deletes its jobs and processes
-- every closed candle the stream has not seen, in one transaction.
CREATE TABLE market_streams (
    symbol     text NOT NULL REFERENCES symbols (symbol),
    timeframe  text NOT NULL CHECK (smc_timeframe_seconds(timeframe) IS NOT NULL),
    PRIMARY KEY (symbol, timeframe)
);
CREATE TABLE pipeline_jobs (
    job_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol      text NOT NULL,
    timeframe   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (symbol, timeframe) REFERENCES market_streams (symbol, timeframe)
);
CREATE INDEX pipeline_jobs_stream ON pipeline_jobs (symbol, timeframe);

-- The shared analyzer of a (symbol, timeframe) per distinct detector-parameter set, persisted between candles.
CREATE TABLE analysis_streams (
    symbol           text NOT NULL,
    timeframe        text NOT NULL,
    params           text NOT NULL,            -- e.g. 'sl50-cb1-cm0'
    state            bytea NOT NULL,           -- JSON of SMCEngine.MarketAnalyzer
    engine_version   integer NOT NULL,
    processed_until  timestamptz,              -- open time of the last candle fed
    candles          bigint NOT NULL DEFAULT 0,
    version          bigint NOT NULL DEFAULT 1,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, timeframe, params),
    FOREIGN KEY (symbol, timeframe) REFERENCES market_streams (symbol, timeframe)
);

GRANT SELECT, INSERT ON market_streams TO smc_app;
GRANT SELECT, INSERT, UPDATE ON market_streams TO smc_worker;  -- UPDATE: FOR UPDATE takes the stream
GRANT SELECT, INSERT, DELETE ON pipeline_jobs TO smc_app, smc_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON analysis_streams TO smc_worker;

-- A tenant's evaluator on a stream (settings, ensemble state, setups awaiting their outcome).
CREATE TABLE tenant_streams (
    tenant_id         uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    symbol            text NOT NULL,
    timeframe         text NOT NULL,
    params            text NOT NULL,
    settings_version  text NOT NULL,           -- the strategy/killzones document versions it was built from
    state             bytea NOT NULL,          -- JSON of SMCEngine.TenantEvaluator
    engine_version    integer NOT NULL,
    subscribed_at     timestamptz NOT NULL,    -- candles received from then on are evaluated (not older history)
    version           bigint NOT NULL DEFAULT 1,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, symbol, timeframe)
);

-- The pipeline reads a stream's evaluators (all tenants) and its subscribers (watchlists containing it).
CREATE INDEX tenant_streams_by_stream ON tenant_streams (symbol, timeframe);
CREATE INDEX user_settings_watchlists ON user_settings USING gin (body jsonb_path_ops) WHERE kind = 'watchlist';

-- Signals: one per (tenant, symbol, timeframe, setup, candle), whatever the retries.
CREATE TABLE signals (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    signal_id     uuid NOT NULL,
    signal_key    text NOT NULL,               -- the engine's id: '<zone id>@<candle open time>'
    symbol        text NOT NULL,
    timeframe     text NOT NULL,
    direction     smallint NOT NULL CHECK (direction IN (-1, 1)),
    setup_type    text NOT NULL CHECK (setup_type IN ('order_block', 'fair_value_gap')),
    confidence    double precision NOT NULL CHECK (confidence BETWEEN 0 AND 100),
    level         text NOT NULL CHECK (level IN ('HIGH', 'MEDIUM', 'LOW', 'NEUTRAL')),
    candle_time   timestamptz NOT NULL,        -- open time of the candle whose close made the signal
    close_time    timestamptz NOT NULL,
    entry         double precision NOT NULL,
    stop          double precision NOT NULL,
    targets       double precision[] NOT NULL,
    reward_risk   double precision NOT NULL,
    regime        text,
    killzone      text,
    confluence    double precision NOT NULL,
    detail        jsonb NOT NULL,              -- zone, votes, biases: the whole engine signal
    outcome       text CHECK (outcome IN ('target', 'stop', 'expired')),
    outcome_time  timestamptz,
    outcome_r     double precision,
    exit_price    double precision,
    sync_version  bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, signal_id),
    UNIQUE (tenant_id, symbol, timeframe, signal_key)
);
CREATE INDEX signals_by_time ON signals (tenant_id, candle_time DESC, signal_id DESC);
CREATE INDEX signals_by_sync ON signals (tenant_id, sync_version);

-- The user's own notes on a signal.
CREATE TABLE signal_annotations (
    tenant_id   uuid NOT NULL,
    signal_id   uuid NOT NULL,
    note        text CHECK (note IS NULL OR length(note) <= 10000),
    tags        text[] NOT NULL DEFAULT '{}',
    taken       boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, signal_id),
    FOREIGN KEY (tenant_id, signal_id) REFERENCES signals (tenant_id, signal_id) ON DELETE CASCADE
);

-- Per-tenant, per-stream change counters, bumped in the writing transaction (the sync protocol's versions).
CREATE TABLE sync_counters (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    stream     text NOT NULL CHECK (stream IN ('signals', 'journal')),
    version    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, stream)
);

-- TradingView (and other) alerts a tenant sends to its hook; they vote as the ensemble's external member.
CREATE TABLE external_alerts (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    alert_id      uuid NOT NULL,
    key_id        uuid NOT NULL,
    dedupe_key    bytea NOT NULL,              -- SHA-256 of the body (or of the alert's own id when it has one)
    content_type  text NOT NULL,
    body          text NOT NULL CHECK (length(body) <= 65536),
    symbol        text,
    direction     smallint CHECK (direction IN (-1, 1)),
    strength      double precision,
    message       text,
    received_at   timestamptz NOT NULL DEFAULT now(),
    parsed_at     timestamptz,
    parse_error   text,
    PRIMARY KEY (tenant_id, alert_id),
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX external_alerts_recent ON external_alerts (tenant_id, symbol, received_at DESC);
CREATE INDEX external_alerts_unparsed ON external_alerts (received_at) WHERE parsed_at IS NULL;

-- Alert jobs, written with the signal (transactional outbox); delivered by the alerts workers.
CREATE TABLE alert_outbox (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL CHECK (event_type IN ('signal.created', 'signal.outcome', 'alert.test')),
    signal_id   uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX alert_outbox_pending ON alert_outbox (created_at);

-- The trade journal.
CREATE TABLE trades (
    tenant_id    uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    trade_id     uuid NOT NULL,
    user_id      uuid NOT NULL,
    signal_id    uuid,                         -- no foreign key: the signal may be pruned (plan history), the trade stays
    symbol       text NOT NULL CHECK (symbol ~ '^[A-Z0-9]{3,20}$'),
    direction    smallint NOT NULL CHECK (direction IN (-1, 1)),
    entry_price  numeric NOT NULL CHECK (entry_price > 0),
    stop_price   numeric CHECK (stop_price > 0),
    targets      numeric[] NOT NULL DEFAULT '{}',
    size         numeric NOT NULL DEFAULT 1 CHECK (size > 0),
    fees         numeric NOT NULL DEFAULT 0 CHECK (fees >= 0),
    entry_time   timestamptz NOT NULL,
    exit_time    timestamptz,
    exit_price   numeric CHECK (exit_price > 0),
    pnl          numeric,                      -- computed on close: (exit − entry) × direction × size − fees
    r_multiple   numeric,                      -- computed on close: (exit − entry) × direction / |entry − stop|
    outcome      text NOT NULL DEFAULT 'open' CHECK (outcome IN ('open', 'win', 'loss', 'breakeven')),
    setup_type   text,
    killzone     text,
    timeframe    text,
    notes        text CHECK (notes IS NULL OR length(notes) <= 10000),
    tags         text[] NOT NULL DEFAULT '{}',
    screenshots  text[] NOT NULL DEFAULT '{}',
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, trade_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE,
    CHECK ((exit_time IS NULL) = (exit_price IS NULL)),
    CHECK (exit_time IS NULL OR exit_time >= entry_time)
);
CREATE INDEX trades_by_time ON trades (tenant_id, entry_time DESC, trade_id DESC);

-- Tenancy: RLS on, forced, one policy on the transaction's tenant; the worker's explicit policies where it writes.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant_streams', 'signals', 'signal_annotations', 'sync_counters', 'external_alerts',
                             'alert_outbox', 'trades'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = smc_current_tenant()) '
                       'WITH CHECK (tenant_id = smc_current_tenant())', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['tenant_streams', 'signals', 'sync_counters', 'external_alerts', 'alert_outbox'] LOOP
        EXECUTE format('CREATE POLICY worker_all ON %I TO smc_worker USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_streams, signals, sync_counters, alert_outbox TO smc_worker;
GRANT SELECT, UPDATE ON external_alerts TO smc_worker;
GRANT SELECT ON tenant_streams TO smc_app;
GRANT SELECT, DELETE ON signals TO smc_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON signal_annotations, trades TO smc_app;
GRANT SELECT, INSERT, UPDATE ON sync_counters TO smc_app;
GRANT SELECT, INSERT ON external_alerts, alert_outbox TO smc_app;
