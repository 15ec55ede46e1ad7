-- Free text on tasks from a small search document in an FTS5 trigram index, as workflows
-- have had since migration 13 (issue 14, ADR 32): a task search by free text read and
-- matched every task's JSON.

-- The search document of a task attempt: its id, workflow id, workflow type, correlation
-- id, reference name, type, definition name, input, output and reason, one per line. Its
-- rowid is the task row's rowid. The status and the worker are left out: a claim changes
-- them and nothing else in the document, so claims never touch it.
CREATE VIRTUAL TABLE tasks_text USING fts5(doc, tokenize = 'trigram');

INSERT INTO tasks_text (rowid, doc)
SELECT rowid,
       task_id || char(10) || workflow_id || char(10)
           || COALESCE(json_extract(json, '$.workflowType'), '') || char(10)
           || COALESCE(json_extract(json, '$.correlationId'), '') || char(10)
           || ref_name || char(10) || task_type || char(10) || task_def_name || char(10)
           || COALESCE(json_extract(json, '$.inputData'), '') || char(10)
           || COALESCE(json_extract(json, '$.outputData'), '') || char(10)
           || COALESCE(json_extract(json, '$.reasonForIncompletion'), '')
  FROM tasks;

-- Tasks whose document is not in `tasks_text` yet, or is out of date (`stale`). FTS5 writes
-- a segment of the index at every commit, and merges them: on the single writer that cost
-- 40% more CPU per task (ADR 32). Documents are instead indexed 256 at a time, in one
-- segment, by the write that queues the 256th; a search matches the tasks queued here
-- against their rows (search.rs). The ids restart at 1 once the queue is emptied.
CREATE TABLE tasks_text_pending (
    id INTEGER PRIMARY KEY,
    task_rowid INTEGER NOT NULL,
    stale INTEGER NOT NULL
);

CREATE TRIGGER tasks_text_flush AFTER INSERT ON tasks_text_pending
WHEN NEW.id >= 256
BEGIN
    DELETE FROM tasks_text
     WHERE rowid IN (SELECT task_rowid FROM tasks_text_pending WHERE stale);
    INSERT INTO tasks_text (rowid, doc)
    SELECT rowid,
           task_id || char(10) || workflow_id || char(10)
               || COALESCE(json_extract(json, '$.workflowType'), '') || char(10)
               || COALESCE(json_extract(json, '$.correlationId'), '') || char(10)
               || ref_name || char(10) || task_type || char(10) || task_def_name || char(10)
               || COALESCE(json_extract(json, '$.inputData'), '') || char(10)
               || COALESCE(json_extract(json, '$.outputData'), '') || char(10)
               || COALESCE(json_extract(json, '$.reasonForIncompletion'), '')
      FROM tasks
     WHERE rowid IN (SELECT task_rowid FROM tasks_text_pending);
    DELETE FROM tasks_text_pending;
END;

CREATE TRIGGER tasks_text_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO tasks_text_pending (task_rowid, stale) VALUES (NEW.rowid, 0);
END;

-- Every write of a task names its JSON (write.rs, the claim in queue.rs); the document is
-- queued again only when a part of it changed: at the completion that sets an output or a
-- reason, not at the claim. The JSON parts are compared as one extraction of each side.
CREATE TRIGGER tasks_text_update AFTER UPDATE OF json, ref_name, task_type, task_def_name
ON tasks
WHEN OLD.ref_name IS NOT NEW.ref_name OR OLD.task_type IS NOT NEW.task_type
     OR OLD.task_def_name IS NOT NEW.task_def_name
     OR json_extract(OLD.json, '$.inputData', '$.outputData', '$.reasonForIncompletion',
                     '$.workflowType', '$.correlationId')
        IS NOT json_extract(NEW.json, '$.inputData', '$.outputData',
                            '$.reasonForIncompletion', '$.workflowType', '$.correlationId')
BEGIN
    INSERT INTO tasks_text_pending (task_rowid, stale) VALUES (NEW.rowid, 1);
END;

CREATE TRIGGER tasks_text_delete AFTER DELETE ON tasks BEGIN
    DELETE FROM tasks_text WHERE rowid = OLD.rowid;
    DELETE FROM tasks_text_pending WHERE task_rowid = OLD.rowid;
END;
