-- 0010_feeder_key_admin: feeder keys can be listed and revoked (`smc-server admin list-feeder-keys`,
-- `revoke-feeder-key`). A list shows the key's last four characters (`hint`), never the key; a name is unique among
-- the keys in use only, so a revoked key's name can be issued again.
ALTER TABLE feeder_keys ADD COLUMN hint text CHECK (hint IS NULL OR length(hint) <= 16);
ALTER TABLE feeder_keys DROP CONSTRAINT feeder_keys_name_key;
CREATE UNIQUE INDEX feeder_keys_name_in_use ON feeder_keys (name) WHERE revoked_at IS NULL;
