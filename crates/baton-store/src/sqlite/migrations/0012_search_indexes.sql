-- Indexes that answer the searches from the index instead of a scan and a sort (issue 14).
--
-- Workflow searches filter by status or by name and sort by start time, newest first, with
-- the workflow id breaking ties: each index below ends in (start_time, workflow_id), so a page
-- is read in order from the index (deep pages step over index entries, never over rows) and
-- the count of a filter is a walk over one index range.
DROP INDEX workflows_start_time;
CREATE INDEX workflows_start_time ON workflows (start_time, workflow_id);
CREATE INDEX workflows_status_start ON workflows (status, start_time, workflow_id);
CREATE INDEX workflows_name_start ON workflows (name, start_time, workflow_id);

-- Children of a workflow (`parentWorkflowId` in a search); top-level rows are not indexed.
CREATE INDEX workflows_parent ON workflows (parent_workflow_id)
    WHERE parent_workflow_id IS NOT NULL;

-- A task's start and end time, for the time ranges Conductor's UI sends with every task
-- search. Generated from the JSON, so no write path has to remember them; virtual, so the
-- row does not grow (the index below keeps start_time's value).
ALTER TABLE tasks ADD COLUMN start_time INTEGER
    GENERATED ALWAYS AS (COALESCE(json_extract(json, '$.startTime'), 0)) VIRTUAL;
ALTER TABLE tasks ADD COLUMN end_time INTEGER
    GENERATED ALWAYS AS (COALESCE(json_extract(json, '$.endTime'), 0)) VIRTUAL;

-- Task search by status and by task type (`taskType`, `taskDefName`, `search-by-tasks`);
-- the implicit rowid at the end of each gives the newest-first order.
CREATE INDEX tasks_status ON tasks (status);
CREATE INDEX tasks_def_name ON tasks (task_def_name);
CREATE INDEX tasks_start_time ON tasks (start_time);
