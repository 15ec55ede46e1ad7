-- History ids come from the rowid instead of AUTOINCREMENT: history rows are never deleted,
-- so the next id is still always above every id ever handed out, and an insert no longer
-- reads and rewrites `sqlite_sequence`.
CREATE TABLE history_v5 (
    id          INTEGER PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    task_id     TEXT,
    json        TEXT NOT NULL
);
INSERT INTO history_v5 (id, workflow_id, task_id, json)
    SELECT id, workflow_id, task_id, json FROM history ORDER BY id;
DROP TABLE history;
ALTER TABLE history_v5 RENAME TO history;
CREATE INDEX history_workflow ON history (workflow_id);
