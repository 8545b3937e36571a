-- 0007_alert_retention: finished alert deliveries (and their attempts, by cascade) are pruned once older than
-- SMC_ALERT_HISTORY_DAYS, by when they were queued. The pruning pass walks the tenants and takes each one's oldest
-- finished deliveries through this index (led by tenant_id, like every index of a tenant-owned table).
CREATE INDEX alert_deliveries_finished ON alert_deliveries (tenant_id, created_at)
    WHERE status IN ('delivered', 'dead', 'suppressed', 'cancelled');
