-- What SQLite migration 12 added (search indexes, a task's start and end time as columns),
-- plus trigram indexes for free-text search where the server has pg_trgm (issue 14).

-- Workflow searches filter by status or name and sort by start time, newest first, with the
-- workflow id breaking ties: each index ends in (start_time, workflow_id), so a page is read
-- in order from the index.
DROP INDEX workflows_start_time;
CREATE INDEX workflows_start_time ON workflows (start_time, workflow_id);
CREATE INDEX workflows_status_start ON workflows (status, start_time, workflow_id);
CREATE INDEX workflows_name_start ON workflows (name, start_time, workflow_id);
-- Children of a workflow (`parentWorkflowId` in a search).
CREATE INDEX workflows_parent ON workflows (parent_workflow_id)
    WHERE parent_workflow_id IS NOT NULL;

-- A task's start and end time, written with the task (write.rs, and the claim in queue.rs).
-- Not generated from the document: PostgreSQL's json operators refuse a document holding
-- an escaped NUL character, which Baton stores. Rows written before are filled from their
-- document, except such rows, which keep 0.
ALTER TABLE tasks ADD COLUMN start_time bigint NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN end_time bigint NOT NULL DEFAULT 0;
UPDATE tasks
   SET start_time = COALESCE((json ->> 'startTime')::bigint, 0),
       end_time = COALESCE((json ->> 'endTime')::bigint, 0)
 WHERE strpos(json::text, '\u0000') = 0;

-- Task search by status and task type, newest first.
CREATE INDEX tasks_status ON tasks (status, row_id);
CREATE INDEX tasks_def_name ON tasks (task_def_name, row_id);
CREATE INDEX tasks_start_time ON tasks (start_time);

-- Free text is a case-insensitive substring of the document (ILIKE); a pg_trgm GIN index
-- answers that without reading every row. pg_trgm is a contrib extension, trusted since
-- PostgreSQL 13 (a database owner may create it); where it cannot be created (not
-- installed, no privilege) the migration goes on without it and free text scans.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable (%): free-text search will scan', SQLERRM;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        -- The expressions are exactly those the searches filter on (read.rs).
        EXECUTE 'CREATE INDEX workflows_text ON workflows USING gin
                     ((json::text || COALESCE(input_json::text, '''')) gin_trgm_ops)';
        EXECUTE 'CREATE INDEX tasks_text ON tasks USING gin ((json::text) gin_trgm_ops)';
    END IF;
END
$$;
