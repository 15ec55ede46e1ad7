-- Free text from a small search document instead of the whole workflow and task JSON, and
-- per-queue counts kept by triggers, so queue sizes read a few rows per queue (issue 14,
-- ADR 22). What SQLite migration 13 does, in PostgreSQL's terms.

-- The trigram indexes over whole documents were rewritten on every task update and every
-- workflow commit (and made every such update non-HOT); they go.
DROP INDEX IF EXISTS workflows_text;
DROP INDEX IF EXISTS tasks_text;

-- The search document of a workflow: id, correlation id, type, status, input, output and
-- reason, one per line (write.rs writes it; a commit rewrites it only when the status or
-- the input changes). Rows whose document holds an escaped NUL character (which json's
-- text operators refuse) get their whole JSON instead of output and reason.
ALTER TABLE workflows ADD COLUMN search_text text;
UPDATE workflows
   SET search_text = workflow_id || E'\n' || COALESCE(correlation_id, '') || E'\n' || name
           || E'\n' || status || E'\n' || COALESCE(input_json::text, '') || E'\n'
           || CASE WHEN strpos(json::text, '\u0000') = 0
                   THEN COALESCE((json -> 'output')::text, '') || E'\n'
                        || COALESCE(json ->> 'reasonForIncompletion', '')
                   ELSE json::text END;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX workflows_search ON workflows
                     USING gin (search_text gin_trgm_ops)';
    END IF;
END
$$;

-- Entries per queue. Concurrent transactions on one queue would queue up behind one
-- counter row until they commit, so each queue has up to 16 rows (slots), a transaction
-- adding to the slot of its server process; a queue's size is the sum of its slots.
CREATE TABLE queue_counts (
    queue_name text NOT NULL,
    slot       integer NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (queue_name, slot)
);

INSERT INTO queue_counts (queue_name, slot, n)
SELECT queue_name, 0, COUNT(*) FROM queue GROUP BY queue_name;

CREATE FUNCTION queue_count_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s integer := pg_backend_pid() % 16;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO queue_counts AS c (queue_name, slot, n) VALUES (OLD.queue_name, s, -1)
            ON CONFLICT (queue_name, slot) DO UPDATE SET n = c.n - 1;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO queue_counts AS c (queue_name, slot, n) VALUES (NEW.queue_name, s, 1)
            ON CONFLICT (queue_name, slot) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END
$$;

-- An update counts only when it moves an entry to another queue.
CREATE TRIGGER queue_count_insert_delete AFTER INSERT OR DELETE ON queue
    FOR EACH ROW EXECUTE FUNCTION queue_count_trigger();
CREATE TRIGGER queue_count_move AFTER UPDATE OF queue_name ON queue
    FOR EACH ROW WHEN (OLD.queue_name IS DISTINCT FROM NEW.queue_name)
    EXECUTE FUNCTION queue_count_trigger();

-- Executions per workflow type and status (in slots, as queue counts), so the total of a
-- search by type and/or status is a sum of a few rows instead of a walk over an index
-- range. A workflow's name and status change a few times in its life.
CREATE TABLE workflow_counts (
    name   text NOT NULL,
    status text NOT NULL,
    slot   integer NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (name, status, slot)
);

INSERT INTO workflow_counts (name, status, slot, n)
SELECT name, status, 0, COUNT(*) FROM workflows GROUP BY name, status;

CREATE FUNCTION workflow_count_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s integer := pg_backend_pid() % 16;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO workflow_counts AS c (name, status, slot, n)
        VALUES (OLD.name, OLD.status, s, -1)
            ON CONFLICT (name, status, slot) DO UPDATE SET n = c.n - 1;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO workflow_counts AS c (name, status, slot, n)
        VALUES (NEW.name, NEW.status, s, 1)
            ON CONFLICT (name, status, slot) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER workflow_count_insert_delete AFTER INSERT OR DELETE ON workflows
    FOR EACH ROW EXECUTE FUNCTION workflow_count_trigger();
CREATE TRIGGER workflow_count_move AFTER UPDATE OF name, status ON workflows
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION workflow_count_trigger();
