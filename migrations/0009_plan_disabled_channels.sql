-- 0009_plan_disabled_channels: a plan downgrade disables the webhook endpoints over the new plan's limit (the newest
-- first) and an upgrade enables them again. `plan_disabled` tells those apart from endpoints their owner or a failing
-- receiver disabled, which an upgrade must leave alone.
ALTER TABLE webhook_endpoints ADD COLUMN plan_disabled boolean NOT NULL DEFAULT false;
