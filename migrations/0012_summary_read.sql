-- The market summary (`GET /v1/market/{symbol}/summary`) reads the pipeline's stored analyses in the caller's tenant
-- transaction (role smc_app). They are shared market data (no tenant column, no row-level security): read only.
GRANT SELECT ON analysis_streams TO smc_app;
