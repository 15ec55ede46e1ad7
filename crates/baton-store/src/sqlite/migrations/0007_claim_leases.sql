-- A claim no longer bumps its workflow's version (ADR 14). Instead each task row carries its
-- poll count, so a commit written from a copy older than a claim of that task is refused, and
-- the end of the lease a claim granted, kept until a commit that saw the claim rewrites the
-- task, so that no commit can move the workflow's wake-up past it.
ALTER TABLE tasks ADD COLUMN poll_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN lease_until INTEGER;
UPDATE tasks SET poll_count = COALESCE(json_extract(json, '$.pollCount'), 0);
CREATE INDEX tasks_lease ON tasks (workflow_id, lease_until) WHERE lease_until IS NOT NULL;
