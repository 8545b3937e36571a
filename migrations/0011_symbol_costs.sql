-- 0011_symbol_costs: the symbol registry says how to show and what it costs to trade each symbol.
--
-- price_decimals: the tick (prices are shown and sent rounded to it; stored values keep full precision).
-- spread, commission: price units per round trip (entry and exit together); commission_rate: a fraction of the
-- entry price per round trip (crypto exchanges charge a share of the notional). A setup's cost in R is
-- (spread + commission + commission_rate × entry) / |entry − stop|. Defaults are typical retail figures per asset
-- class; the operator edits them with `smc-server admin set-symbol` or PATCH /v1/admin/symbols/{symbol}.
ALTER TABLE symbols
    ADD COLUMN price_decimals  smallint NOT NULL DEFAULT 5 CHECK (price_decimals BETWEEN 0 AND 10),
    ADD COLUMN spread          double precision NOT NULL DEFAULT 0 CHECK (spread >= 0 AND spread < 1e9),
    ADD COLUMN commission      double precision NOT NULL DEFAULT 0 CHECK (commission >= 0 AND commission < 1e9),
    ADD COLUMN commission_rate double precision NOT NULL DEFAULT 0 CHECK (commission_rate >= 0 AND commission_rate < 0.1),
    ADD COLUMN updated_at      timestamptz NOT NULL DEFAULT now();

-- Forex: 1 pip spread and 0.7 pip commission (an ECN account's $7 per lot round trip); yen pairs quote to 3 places.
UPDATE symbols SET price_decimals = 5, spread = 0.0001, commission = 0.00007 WHERE asset_class = 'forex';
UPDATE symbols SET price_decimals = 3, spread = 0.01, commission = 0.007 WHERE asset_class = 'forex' AND symbol LIKE '%JPY';
UPDATE symbols SET price_decimals = 2, spread = 0.30 WHERE symbol = 'XAUUSD';
UPDATE symbols SET price_decimals = 3, spread = 0.025 WHERE symbol = 'XAGUSD';
-- Crypto spot: a tick of spread and 0.1 % taker fee on each side.
UPDATE symbols SET price_decimals = 2, spread = 0.01, commission_rate = 0.002 WHERE asset_class = 'crypto';
UPDATE symbols SET price_decimals = 1, spread = 2.0 WHERE symbol = 'US30';
UPDATE symbols SET price_decimals = 1, spread = 1.0 WHERE symbol IN ('NAS100', 'GER40');
UPDATE symbols SET price_decimals = 2, spread = 0.5 WHERE symbol = 'SPX500';
UPDATE symbols SET price_decimals = 2, spread = 0.03 WHERE symbol = 'USOIL';

GRANT UPDATE (price_decimals, spread, commission, commission_rate, updated_at) ON symbols TO smc_app;

-- A signal's cost in R under the registry when it was issued (an edit applies to later signals), so that outcomes
-- and statistics report R before and after costs and a client's mirror never goes stale.
ALTER TABLE signals ADD COLUMN cost_r double precision NOT NULL DEFAULT 0 CHECK (cost_r >= 0);
UPDATE signals s SET cost_r = (y.spread + y.commission + y.commission_rate * abs(s.entry))
                              / greatest(abs(s.entry - s.stop), 1e-12)
FROM symbols y WHERE y.symbol = s.symbol;
ALTER TABLE signals ALTER COLUMN cost_r DROP DEFAULT;
