-- Free text from a small search document in an FTS5 trigram index, and per-queue counts
-- kept by triggers, so queue sizes read one row per queue (issue 14, ADR 22).

-- The search document of a workflow: the fields a user searches by free text (id,
-- correlation id, type, status, input, output, reason), one per line. Its rowid is the
-- workflow row's rowid. The trigram tokenizer indexes every three characters, so a phrase
-- query finds any substring of three or more characters; the search rechecks with LIKE.
CREATE VIRTUAL TABLE workflows_text USING fts5(doc, tokenize = 'trigram');

INSERT INTO workflows_text (rowid, doc)
SELECT rowid,
       workflow_id || char(10) || COALESCE(correlation_id, '') || char(10) || name
           || char(10) || status || char(10) || COALESCE(input_json, '') || char(10)
           || COALESCE(json_extract(json, '$.output'), '') || char(10)
           || COALESCE(json_extract(json, '$.reasonForIncompletion'), '')
  FROM workflows;

CREATE TRIGGER workflows_text_insert AFTER INSERT ON workflows BEGIN
    INSERT INTO workflows_text (rowid, doc)
    VALUES (NEW.rowid,
            NEW.workflow_id || char(10) || COALESCE(NEW.correlation_id, '') || char(10)
                || NEW.name || char(10) || NEW.status || char(10)
                || COALESCE(NEW.input_json, '') || char(10)
                || COALESCE(json_extract(NEW.json, '$.output'), '') || char(10)
                || COALESCE(json_extract(NEW.json, '$.reasonForIncompletion'), ''));
END;

-- The writer names status, correlation_id and input_json in an UPDATE only when they
-- change (write.rs), so most commits of a running workflow leave the document alone. Output
-- and reason are set when the status changes (completion, failure, termination).
CREATE TRIGGER workflows_text_update AFTER UPDATE OF status, correlation_id, input_json
ON workflows BEGIN
    UPDATE workflows_text
       SET doc = NEW.workflow_id || char(10) || COALESCE(NEW.correlation_id, '') || char(10)
                 || NEW.name || char(10) || NEW.status || char(10)
                 || COALESCE(NEW.input_json, '') || char(10)
                 || COALESCE(json_extract(NEW.json, '$.output'), '') || char(10)
                 || COALESCE(json_extract(NEW.json, '$.reasonForIncompletion'), '')
     WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER workflows_text_delete AFTER DELETE ON workflows BEGIN
    DELETE FROM workflows_text WHERE rowid = OLD.rowid;
END;

-- Entries per queue, maintained in the transaction that changes the queue.
CREATE TABLE queue_counts (
    queue_name TEXT PRIMARY KEY NOT NULL,
    n          INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO queue_counts (queue_name, n)
SELECT queue_name, COUNT(*) FROM queue GROUP BY queue_name;

-- `INSERT OR REPLACE` deletes the row it replaces without firing delete triggers (recursive
-- triggers are off), so the entry it replaces is uncounted before the insert.
CREATE TRIGGER queue_count_replace BEFORE INSERT ON queue BEGIN
    UPDATE queue_counts SET n = n - 1
     WHERE queue_name = (SELECT queue_name FROM queue WHERE task_id = NEW.task_id);
END;

CREATE TRIGGER queue_count_insert AFTER INSERT ON queue BEGIN
    INSERT INTO queue_counts (queue_name, n) VALUES (NEW.queue_name, 1)
        ON CONFLICT (queue_name) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER queue_count_delete AFTER DELETE ON queue BEGIN
    UPDATE queue_counts SET n = n - 1 WHERE queue_name = OLD.queue_name;
END;

CREATE TRIGGER queue_count_move AFTER UPDATE OF queue_name ON queue
WHEN OLD.queue_name IS NOT NEW.queue_name BEGIN
    UPDATE queue_counts SET n = n - 1 WHERE queue_name = OLD.queue_name;
    INSERT INTO queue_counts (queue_name, n) VALUES (NEW.queue_name, 1)
        ON CONFLICT (queue_name) DO UPDATE SET n = n + 1;
END;

-- Executions per workflow type and status, so the total of a search by type and/or status
-- (what the UI's list asks for on every page) is a sum of a few rows instead of a walk over
-- an index range. A workflow's name and status change a few times in its life.
CREATE TABLE workflow_counts (
    name   TEXT NOT NULL,
    status TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (name, status)
) WITHOUT ROWID;

INSERT INTO workflow_counts (name, status, n)
SELECT name, status, COUNT(*) FROM workflows GROUP BY name, status;

CREATE TRIGGER workflow_count_insert AFTER INSERT ON workflows BEGIN
    INSERT INTO workflow_counts (name, status, n) VALUES (NEW.name, NEW.status, 1)
        ON CONFLICT (name, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER workflow_count_delete AFTER DELETE ON workflows BEGIN
    UPDATE workflow_counts SET n = n - 1 WHERE name = OLD.name AND status = OLD.status;
END;

CREATE TRIGGER workflow_count_update AFTER UPDATE OF name, status ON workflows
WHEN OLD.name IS NOT NEW.name OR OLD.status IS NOT NEW.status BEGIN
    UPDATE workflow_counts SET n = n - 1 WHERE name = OLD.name AND status = OLD.status;
    INSERT INTO workflow_counts (name, status, n) VALUES (NEW.name, NEW.status, 1)
        ON CONFLICT (name, status) DO UPDATE SET n = n + 1;
END;
