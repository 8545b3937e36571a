-- 0005_sync: what the delta-sync protocol (api-spec/sync-protocol.md) needs beyond 0003/0004.
--
-- * `devices.last_mutation_id`: the last push mutation of the device the server has processed, updated in the
--   transaction that processes it (a retried push is applied once; a lost answer is recovered from it).
-- * `sync_counters.epoch` / `horizon`: a cursor from another epoch, or below the horizon (the newest version of a
--   purged tombstone), must re-download its stream (`reset`).
-- * `clocks`: per field, the hybrid-logical-clock stamp of the write that set it (field-level last-writer-wins);
--   `deleted_hlc`: the stamp of the delete that made a trade a tombstone.
-- * `signal_tombstones`: a signal pruned by its plan's history leaves a tombstone in the signals stream.
-- * Annotations merge like trades; clearing one is a write of every field, not a tombstone.

ALTER TABLE devices ADD COLUMN last_mutation_id bigint NOT NULL DEFAULT 0 CHECK (last_mutation_id >= 0);

ALTER TABLE sync_counters ADD COLUMN epoch bigint NOT NULL DEFAULT 1 CHECK (epoch >= 1);
ALTER TABLE sync_counters ADD COLUMN horizon bigint NOT NULL DEFAULT 0 CHECK (horizon >= 0);

ALTER TABLE trades ADD COLUMN clocks jsonb NOT NULL DEFAULT '{}';
ALTER TABLE trades ADD COLUMN deleted_hlc text;
ALTER TABLE signal_annotations ADD COLUMN clocks jsonb NOT NULL DEFAULT '{}';

CREATE TABLE signal_tombstones (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    signal_id     uuid NOT NULL,
    sync_version  bigint NOT NULL,
    deleted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, signal_id)
);
CREATE INDEX signal_tombstones_by_sync ON signal_tombstones (tenant_id, sync_version);
-- Tombstone purges scan by age.
CREATE INDEX signal_tombstones_by_age ON signal_tombstones (deleted_at);
CREATE INDEX trades_deleted ON trades (deleted_at) WHERE deleted_at IS NOT NULL;

ALTER TABLE signal_tombstones ENABLE ROW LEVEL SECURITY;
ALTER TABLE signal_tombstones FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON signal_tombstones USING (tenant_id = smc_current_tenant())
    WITH CHECK (tenant_id = smc_current_tenant());
GRANT SELECT ON signal_tombstones TO smc_app;

-- The maintenance loop (as smc_worker) writes signal tombstones when it prunes, and purges old tombstones of
-- both streams, raising the horizon.
CREATE POLICY worker_all ON signal_tombstones TO smc_worker USING (true) WITH CHECK (true);
CREATE POLICY worker_purge ON trades FOR SELECT TO smc_worker USING (deleted_at IS NOT NULL);
CREATE POLICY worker_purge_delete ON trades FOR DELETE TO smc_worker USING (deleted_at IS NOT NULL);
GRANT SELECT, INSERT, DELETE ON signal_tombstones TO smc_worker;
GRANT SELECT, DELETE ON trades TO smc_worker;
