-- Free text on tasks from a small search document under a trigram index, as workflows have
-- had since migration 7 (issue 14, ADR 32): a task search by free text read and matched
-- every task's JSON. What SQLite migration 16 does, in PostgreSQL's terms.

-- The search document of a task attempt: its id, workflow id, workflow type, correlation
-- id, reference name, type, definition name, input, output and reason, one per line. It
-- lives in a table of its own, not in `tasks`: every claim rewrites a task row, and an
-- index over a column of `tasks` would get a new entry for each row version (status is
-- indexed, so a task update is never heap-only). The commit writes the document
-- (commit_sql.rs) and rewrites it only when it changed; claims do not touch it (the status
-- and the worker are not in it).
CREATE TABLE task_texts (
    task_id     text PRIMARY KEY,
    search_text text NOT NULL
);

-- Rows whose document holds an escaped NUL character (which json's text operators refuse)
-- get their whole JSON as the end of the document.
INSERT INTO task_texts (task_id, search_text)
SELECT task_id,
       task_id || E'\n' || workflow_id || E'\n'
           || CASE WHEN strpos(json::text, '\u0000') = 0
                   THEN COALESCE(json ->> 'workflowType', '') || E'\n'
                        || COALESCE(json ->> 'correlationId', '') || E'\n'
                        || ref_name || E'\n' || task_type || E'\n' || task_def_name || E'\n'
                        || COALESCE((json -> 'inputData')::text, '') || E'\n'
                        || COALESCE((json -> 'outputData')::text, '') || E'\n'
                        || COALESCE(json ->> 'reasonForIncompletion', '')
                   ELSE ref_name || E'\n' || task_type || E'\n' || task_def_name || E'\n'
                        || json::text END
  FROM tasks;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX task_texts_search ON task_texts
                     USING gin (search_text gin_trgm_ops)';
    END IF;
END
$$;

-- A task's document goes with it, whichever statement deletes it (a rerun's removed
-- attempts, a removed workflow): one statement per delete, not a trigger call per row.
CREATE FUNCTION task_texts_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM task_texts t USING gone WHERE t.task_id = gone.task_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER task_texts_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION task_texts_delete();
