-- Baton PostgreSQL schema, version 1: everything SQLite's migrations 1-7 built, in
-- PostgreSQL's own types.
--
-- Documents (the serde JSON of a model struct) are `json`, not `jsonb`: they are stored and
-- read whole, never queried inside, and `json` keeps them exactly as written (key order, and
-- the NUL character, which `jsonb` refuses); the other columns duplicate fields for indexing
-- and filtering only. Times are epoch milliseconds (`bigint`), as on
-- SQLite, so both backends and every node compare the same numbers. `row_id` columns keep
-- insertion order where SQLite used its rowid.

CREATE TABLE task_defs (
    name        text PRIMARY KEY,
    json       json NOT NULL,
    create_time bigint NOT NULL,
    update_time bigint NOT NULL
);

CREATE TABLE workflow_defs (
    name        text NOT NULL,
    version     integer NOT NULL,
    json       json NOT NULL,
    create_time bigint NOT NULL,
    update_time bigint NOT NULL,
    PRIMARY KEY (name, version)
);

-- The definition an execution runs, stored once per distinct content.
-- hash = lowercase hex SHA-256 of its serde JSON.
CREATE TABLE def_snapshots (
    hash text PRIMARY KEY,
    json json NOT NULL
);

CREATE TABLE workflows (
    workflow_id        text PRIMARY KEY,
    row_id             bigint GENERATED ALWAYS AS IDENTITY,
    name               text NOT NULL,
    def_version        integer NOT NULL,
    status             text NOT NULL,
    correlation_id     text,
    idempotency_key    text,
    parent_workflow_id text,
    start_time         bigint NOT NULL,
    update_time        bigint NOT NULL,
    end_time           bigint NOT NULL,
    priority           integer NOT NULL,
    def_hash           text NOT NULL,
    -- Optimistic concurrency: bumped by every commit (claims leave it alone, ADR 14).
    version            bigint NOT NULL,
    -- When the workflow must next be decided; NULL = not scheduled.
    next_wake_at       bigint,
    json              json NOT NULL
);
-- Due wake-ups: only scheduled rows are indexed.
CREATE INDEX workflows_wake ON workflows (next_wake_at) WHERE next_wake_at IS NOT NULL;
CREATE INDEX workflows_name_status ON workflows (name, status);
CREATE INDEX workflows_start_time ON workflows (start_time);
CREATE INDEX workflows_correlation ON workflows (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX workflows_idempotency ON workflows (name, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE tasks (
    task_id       text PRIMARY KEY,
    row_id        bigint GENERATED ALWAYS AS IDENTITY,
    workflow_id   text NOT NULL,
    seq           integer NOT NULL,
    ref_name      text NOT NULL,
    task_type     text NOT NULL,
    task_def_name text NOT NULL,
    status        text NOT NULL,
    domain        text,
    -- Raised only by claims (the engine's claim rule); guards commits from older copies.
    poll_count    integer NOT NULL DEFAULT 0,
    -- The lease a claim granted, until a commit that saw the claim rewrites the task. The
    -- workflow is due by the earliest of these as well as by its own next_wake_at.
    lease_until   bigint,
    json         json NOT NULL
);
CREATE INDEX tasks_workflow ON tasks (workflow_id, seq);
CREATE INDEX tasks_lease ON tasks (lease_until) WHERE lease_until IS NOT NULL;
-- concurrentExecLimit counts these; the others cost the index nothing.
CREATE INDEX tasks_in_progress_by_def ON tasks (task_def_name) WHERE status = 'IN_PROGRESS';

CREATE TABLE queue (
    task_id     text PRIMARY KEY,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    queue_name  text NOT NULL,
    workflow_id text NOT NULL,
    priority    integer NOT NULL,
    visible_at  bigint NOT NULL
);
-- Claim order.
CREATE INDEX queue_claim ON queue (queue_name, priority DESC, visible_at, id);
-- Earliest visibility of a queue (next_visible_at, the empty-poll fast path).
CREATE INDEX queue_visible ON queue (queue_name, visible_at);

CREATE TABLE task_logs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id      text NOT NULL,
    log          text NOT NULL,
    created_time bigint NOT NULL
);
CREATE INDEX task_logs_task ON task_logs (task_id, id);

-- Append-only audit trail; never deleted, not even with its workflow.
CREATE TABLE history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id text NOT NULL,
    task_id     text,
    json       json NOT NULL
);
CREATE INDEX history_workflow ON history (workflow_id, id);

-- Last poll per queue (task type) and domain; domain '' = none.
CREATE TABLE poll_data (
    queue_name     text NOT NULL,
    domain         text NOT NULL,
    worker_id      text NOT NULL,
    last_poll_time bigint NOT NULL,
    PRIMARY KEY (queue_name, domain)
);

-- Cron schedules: the JSON without nextRunTime, and the due time of the next run, moved by
-- a compare-and-set so that exactly one node claims each due time.
CREATE TABLE schedules (
    name        text PRIMARY KEY,
    json       json NOT NULL,
    paused      boolean NOT NULL DEFAULT false,
    next_run_at bigint
);
CREATE INDEX schedules_due ON schedules (next_run_at)
    WHERE NOT paused AND next_run_at IS NOT NULL;

CREATE TABLE event_handlers (
    name   text PRIMARY KEY,
    event  text NOT NULL,
    active boolean NOT NULL,
    json  json NOT NULL
);
CREATE INDEX event_handlers_event ON event_handlers (event, active);

-- Append-only record of every message published to Baton's own sink (EVENT tasks).
CREATE TABLE events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id text NOT NULL,
    event      text NOT NULL,
    message   json NOT NULL,
    time       bigint NOT NULL
);
CREATE INDEX events_event ON events (event, id);

-- Hand-outs of rate-limited task types, pruned to the current window.
CREATE TABLE task_handouts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_def_name text NOT NULL,
    handed_out_at bigint NOT NULL
);
CREATE INDEX task_handouts_by_def ON task_handouts (task_def_name, handed_out_at);

-- Durable follow-up work (an outbox); ids are time-ordered, so ORDER BY id is oldest first.
CREATE TABLE follow_ups (
    id          text PRIMARY KEY,
    workflow_id text NOT NULL,
    payload    json NOT NULL,
    created_at  bigint NOT NULL
);
