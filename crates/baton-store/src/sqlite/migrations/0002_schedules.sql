-- Baton SQLite schema, version 2: cron schedules.
--
-- `json` is the schedule without `nextRunTime`; `next_run_at` is the due time of its next run
-- (NULL: no more runs). Firing a run moves `next_run_at` with a compare-and-set, so with
-- several nodes on one database exactly one of them claims each due time.

CREATE TABLE schedules (
    name        TEXT PRIMARY KEY NOT NULL,
    json        TEXT NOT NULL,
    paused      INTEGER NOT NULL DEFAULT 0,
    next_run_at INTEGER
);

CREATE INDEX schedules_due ON schedules (next_run_at)
    WHERE paused = 0 AND next_run_at IS NOT NULL;
