-- Workflow search documents in a table of their own, beside each workflow's start time and
-- status (ADR 32's second amendment), as task documents have been since migration 13: a
-- workflow search by free text alone (or with a status) counts and orders its matches from
-- `workflow_texts` alone and visits `workflows` only for the rows of its page. Before, the
-- trigram index's candidates were rechecked on their `workflows` rows, the widest table
-- (1,367 heap pages for the 2,861 candidates of `corr-42` at 100,000 executions).
--
-- The documents are kept in lower case and matched with LIKE against the text in lower
-- case: what ILIKE does on a UTF-8 database (it folds both sides with `lower` before
-- matching), without folding each candidate document at every search (ILIKE costs about
-- three times LIKE per document).
--
-- The start time and the status can stay beside the document: the status is in the
-- document, so a commit that changes it rewrites the document anyway, and the start time
-- changes only when a workflow is restarted (commit_sql.rs writes both). Times that every
-- commit changes (update, end) stay in `workflows`.
--
-- Built ordered by start time, as free text pages it, with its indexes after the rows.
CREATE TABLE workflow_texts (
    workflow_id text NOT NULL,
    start_time  bigint NOT NULL,
    status      text NOT NULL,
    search_text text NOT NULL
);

-- Every workflow gets a row (the commit updates them in place); a document migration 7 did
-- not write (none should lack one) matches no text, as before.
INSERT INTO workflow_texts (workflow_id, start_time, status, search_text)
SELECT workflow_id, start_time, status, lower(COALESCE(search_text, ''))
  FROM workflows
 ORDER BY start_time, workflow_id;

ALTER TABLE workflow_texts ADD CONSTRAINT workflow_texts_pkey PRIMARY KEY (workflow_id);

-- The column and its trigram index leave `workflows` (no longer written).
DROP INDEX IF EXISTS workflows_search;
ALTER TABLE workflows DROP COLUMN search_text;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX workflow_texts_search ON workflow_texts
                     USING gin (search_text gin_trgm_ops)';
    END IF;
END
$$;

-- A workflow's document goes with it: one statement per delete, as for task documents.
CREATE FUNCTION workflow_texts_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM workflow_texts t USING gone WHERE t.workflow_id = gone.workflow_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER workflow_texts_delete AFTER DELETE ON workflows
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_texts_delete();

-- Statistics for the new table now rather than at the next autovacuum.
ANALYZE workflow_texts;
