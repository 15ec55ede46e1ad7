-- A workflow's input moves out of the `workflows` row into a table of its own. Migration 9
-- gave it a column so that commits stopped rewriting it inside the JSON, but SQLite's UPDATE
-- rewrites a whole record, unchanged columns and their overflow pages included: every
-- commit of a workflow with a large input (a dynamic fork's branch list, a build's file
-- list) read and wrote all of it again. Here it is written when the workflow starts and
-- when a rerun replaces it, never by the workflow's other commits.
CREATE TABLE workflow_inputs (
    workflow_id TEXT PRIMARY KEY NOT NULL,
    input_json  TEXT
);

INSERT INTO workflow_inputs (workflow_id, input_json)
SELECT workflow_id, input_json FROM workflows;

-- The search document (migration 13) now takes the input from its table.
DROP TRIGGER workflows_text_insert;
DROP TRIGGER workflows_text_update;

ALTER TABLE workflows DROP COLUMN input_json;

-- The writer inserts a workflow's input row before the workflow's.
CREATE TRIGGER workflows_text_insert AFTER INSERT ON workflows BEGIN
    INSERT INTO workflows_text (rowid, doc)
    VALUES (NEW.rowid,
            NEW.workflow_id || char(10) || COALESCE(NEW.correlation_id, '') || char(10)
                || NEW.name || char(10) || NEW.status || char(10)
                || COALESCE((SELECT input_json FROM workflow_inputs
                              WHERE workflow_id = NEW.workflow_id), '') || char(10)
                || COALESCE(json_extract(NEW.json, '$.output'), '') || char(10)
                || COALESCE(json_extract(NEW.json, '$.reasonForIncompletion'), ''));
END;

CREATE TRIGGER workflows_text_update AFTER UPDATE OF status, correlation_id ON workflows BEGIN
    UPDATE workflows_text
       SET doc = NEW.workflow_id || char(10) || COALESCE(NEW.correlation_id, '') || char(10)
                 || NEW.name || char(10) || NEW.status || char(10)
                 || COALESCE((SELECT input_json FROM workflow_inputs
                               WHERE workflow_id = NEW.workflow_id), '') || char(10)
                 || COALESCE(json_extract(NEW.json, '$.output'), '') || char(10)
                 || COALESCE(json_extract(NEW.json, '$.reasonForIncompletion'), '')
     WHERE rowid = NEW.rowid;
END;

-- A rerun with new input: the writer replaces the input before it updates the workflow row.
CREATE TRIGGER workflow_inputs_text AFTER UPDATE OF input_json ON workflow_inputs BEGIN
    UPDATE workflows_text
       SET doc = (SELECT w.workflow_id || char(10) || COALESCE(w.correlation_id, '') || char(10)
                         || w.name || char(10) || w.status || char(10)
                         || COALESCE(NEW.input_json, '') || char(10)
                         || COALESCE(json_extract(w.json, '$.output'), '') || char(10)
                         || COALESCE(json_extract(w.json, '$.reasonForIncompletion'), '')
                    FROM workflows w WHERE w.workflow_id = NEW.workflow_id)
     WHERE rowid = (SELECT rowid FROM workflows WHERE workflow_id = NEW.workflow_id);
END;

CREATE TRIGGER workflow_inputs_delete AFTER DELETE ON workflows BEGIN
    DELETE FROM workflow_inputs WHERE workflow_id = OLD.workflow_id;
END;
