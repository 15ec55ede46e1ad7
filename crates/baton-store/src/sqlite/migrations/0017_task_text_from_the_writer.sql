-- Task search documents built by the writer (ADR 35). Migration 16's triggers compared the
-- document's parts of the old and new JSON at every task update (two parses per write) and
-- built documents from the whole input and output: +20% server CPU per task on short
-- workflows, +50% on a long loop whose output grows with each iteration. The writer now
-- builds the document (input and output bounded, `task_text.rs`), keeps a digest of it in
-- `tasks.text_hash`, and queues it only when the digest changed.

-- Index what migration 16 left queued, with its own expression, so the queue can change shape.
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

DROP TRIGGER tasks_text_flush;
DROP TRIGGER tasks_text_insert;
DROP TRIGGER tasks_text_update;
DROP TRIGGER tasks_text_delete;
DROP TABLE tasks_text_pending;

-- NULL for rows written before: their next write queues their document again.
ALTER TABLE tasks ADD COLUMN text_hash INTEGER;

-- One entry per task whose document is not in `tasks_text` yet (`stale` = 0) or is out of
-- date there (1), with the document to index. Indexed 256 at a time, in one FTS5 segment, by
-- the write that queues the 256th; a search matches the queued documents itself (search.rs).
-- The ids restart at 1 once the queue is emptied.
CREATE TABLE tasks_text_pending (
    id INTEGER PRIMARY KEY,
    task_rowid INTEGER NOT NULL UNIQUE,
    stale INTEGER NOT NULL,
    doc TEXT NOT NULL
);

CREATE TRIGGER tasks_text_flush AFTER INSERT ON tasks_text_pending
WHEN NEW.id >= 256
BEGIN
    DELETE FROM tasks_text
     WHERE rowid IN (SELECT task_rowid FROM tasks_text_pending WHERE stale);
    INSERT INTO tasks_text (rowid, doc) SELECT task_rowid, doc FROM tasks_text_pending;
    DELETE FROM tasks_text_pending;
END;

CREATE TRIGGER tasks_text_delete AFTER DELETE ON tasks BEGIN
    DELETE FROM tasks_text WHERE rowid = OLD.rowid;
    DELETE FROM tasks_text_pending WHERE task_rowid = OLD.rowid;
END;
