-- A task's start time as a column the writer sets, instead of a column generated from the
-- JSON (migration 12). The index over the generated column evaluated `json_extract` on the
-- old and the new JSON at every write of a task (creation, claim, completion): six parses of
-- the task's JSON per task, about 2% of the server's CPU on short workflows (ADR 35). The
-- end time stays generated: it has no index, so it is computed only when a search reads it.
DROP INDEX tasks_start_time;
ALTER TABLE tasks DROP COLUMN start_time;
ALTER TABLE tasks ADD COLUMN start_time INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET start_time = json_extract(json, '$.startTime')
 WHERE json_extract(json, '$.startTime') IS NOT NULL;
CREATE INDEX tasks_start_time ON tasks (start_time);
