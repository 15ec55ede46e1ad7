-- Concurrency and rate limits of task definitions (concurrentExecLimit,
-- rateLimitPerFrequency / rateLimitFrequencyInSeconds), checked when a poll claims tasks.

-- Only tasks in progress are indexed, so the index costs nothing for the others.
CREATE INDEX IF NOT EXISTS tasks_in_progress_by_def
    ON tasks (task_def_name) WHERE status = 'IN_PROGRESS';

-- Hand-outs of rate-limited task types, pruned to the current window.
CREATE TABLE IF NOT EXISTS task_handouts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    task_def_name TEXT    NOT NULL,
    handed_out_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS task_handouts_by_def ON task_handouts (task_def_name, handed_out_at);
