-- Baton SQLite schema, version 1.
--
-- Every table that stores a model struct keeps its serde JSON in `json`; the other columns
-- duplicate fields for indexing and filtering only.

CREATE TABLE task_defs (
    name        TEXT PRIMARY KEY NOT NULL,
    json        TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);

CREATE TABLE workflow_defs (
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    json        TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);

-- The definition an execution runs, stored once per distinct content.
-- hash = lowercase hex SHA-256 of `json`.
CREATE TABLE def_snapshots (
    hash TEXT PRIMARY KEY NOT NULL,
    json TEXT NOT NULL
);

CREATE TABLE workflows (
    workflow_id        TEXT PRIMARY KEY NOT NULL,
    name               TEXT NOT NULL,
    def_version        INTEGER NOT NULL,
    status             TEXT NOT NULL,
    correlation_id     TEXT,
    idempotency_key    TEXT,
    parent_workflow_id TEXT,
    start_time         INTEGER NOT NULL,
    update_time        INTEGER NOT NULL,
    end_time           INTEGER NOT NULL,
    priority           INTEGER NOT NULL,
    def_hash           TEXT NOT NULL,
    -- Optimistic concurrency: bumped by every commit and every poll that claims a task.
    version            INTEGER NOT NULL,
    -- When the workflow must next be decided; NULL = not scheduled.
    next_wake_at       INTEGER,
    json               TEXT NOT NULL
);
CREATE INDEX workflows_wake ON workflows (next_wake_at) WHERE next_wake_at IS NOT NULL;
CREATE INDEX workflows_name_status ON workflows (name, status);
CREATE INDEX workflows_start_time ON workflows (start_time);
CREATE INDEX workflows_correlation ON workflows (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX workflows_idempotency ON workflows (name, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE tasks (
    task_id       TEXT PRIMARY KEY NOT NULL,
    workflow_id   TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    ref_name      TEXT NOT NULL,
    task_type     TEXT NOT NULL,
    task_def_name TEXT NOT NULL,
    status        TEXT NOT NULL,
    domain        TEXT,
    json          TEXT NOT NULL
);
CREATE INDEX tasks_workflow ON tasks (workflow_id, seq);

CREATE TABLE queue (
    task_id     TEXT PRIMARY KEY NOT NULL,
    queue_name  TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    visible_at  INTEGER NOT NULL
);
-- Claim order.
CREATE INDEX queue_claim ON queue (queue_name, priority DESC, visible_at);
-- Earliest visibility of a queue (next_visible_at, empty-poll fast path).
CREATE INDEX queue_visible ON queue (queue_name, visible_at);

CREATE TABLE task_logs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id      TEXT NOT NULL,
    log          TEXT NOT NULL,
    created_time INTEGER NOT NULL
);
CREATE INDEX task_logs_task ON task_logs (task_id);

-- Append-only audit trail; never deleted, not even with its workflow.
CREATE TABLE history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id TEXT NOT NULL,
    task_id     TEXT,
    json        TEXT NOT NULL
);
CREATE INDEX history_workflow ON history (workflow_id);

-- Last poll per queue (task type) and domain; domain '' = none.
CREATE TABLE poll_data (
    queue_name     TEXT NOT NULL,
    domain         TEXT NOT NULL,
    worker_id      TEXT NOT NULL,
    last_poll_time INTEGER NOT NULL,
    PRIMARY KEY (queue_name, domain)
);
