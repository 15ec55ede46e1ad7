-- Durable follow-up work (an outbox): what a commit leaves for other workflows to do
-- (terminate a running child, start a failure workflow) is written in the same transaction
-- as its cause and deleted in the transaction that carries it out, so a crash in between
-- delays it but cannot lose it. Ids are time-ordered, so `ORDER BY id` is oldest first.
CREATE TABLE follow_ups (
    id          TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
