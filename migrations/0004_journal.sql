-- 0004_journal: what the REST journal and signal annotations need beyond 0003.
--
-- * `create_digest`: SHA-256 of a trade's normalised create request, so that a client retrying a create with
--   its own id gets the trade back (same digest) or 409 (another body), even after the trade was edited.
-- * Deletes are tombstones (DESIGN.md §5: deletes win and must reach every device): `deleted_at` marks them,
--   the REST API treats them as gone, their free text is cleared.
-- * `sync_version`: every journal write (trades, signal annotations) bumps the tenant's `journal` counter in
--   `sync_counters` in its own transaction and stamps the changed row with it, tombstones included, so the
--   sync protocol can page changes by (sync_version, id) whichever path (REST or sync) wrote them.

ALTER TABLE trades ADD COLUMN create_digest bytea CHECK (create_digest IS NULL OR length(create_digest) = 32);
ALTER TABLE trades ADD COLUMN deleted_at timestamptz;
ALTER TABLE trades ADD COLUMN sync_version bigint NOT NULL DEFAULT 0;
ALTER TABLE signal_annotations ADD COLUMN sync_version bigint NOT NULL DEFAULT 0;

-- The journal's lists and stats read live trades only.
DROP INDEX trades_by_time;
CREATE INDEX trades_by_time ON trades (tenant_id, entry_time DESC, trade_id DESC) WHERE deleted_at IS NULL;
CREATE INDEX trades_by_sync ON trades (tenant_id, sync_version);
CREATE INDEX signal_annotations_by_sync ON signal_annotations (tenant_id, sync_version);
