-- A wake from another workflow (a child that ended) is kept apart from the workflow's own
-- wake-up: its own commits set next_wake_at from what their decision read, and would
-- otherwise overwrite a wake that arrived while the decision ran. woken_at stays until a
-- decision that read the current wake_seq clears it.
ALTER TABLE workflows ADD COLUMN woken_at bigint,
    ADD COLUMN wake_seq bigint NOT NULL DEFAULT 0;
CREATE INDEX workflows_woken ON workflows (woken_at) WHERE woken_at IS NOT NULL;
