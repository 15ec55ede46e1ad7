-- search-by-tasks reads the workflow id of up to 10,000 matching attempts of a task type
-- (`--search-by-tasks-scan-limit`). With the workflow id in the type index the scan is
-- index-only instead of a visit to each attempt's row. A task's workflow id never changes,
-- so the wider entries cost no update that did not already rewrite this index (issue 14).
DROP INDEX tasks_def_name;
CREATE INDEX tasks_def_name ON tasks (task_def_name, row_id) INCLUDE (workflow_id);
