-- The row id of each task beside its search document (ADR 32): a task search by free text
-- counts its matches and orders its page (newest attempt first) from `task_texts` alone,
-- and visits `tasks` only for the rows of the page. Before, each match's `tasks` row was
-- visited for its sort key, a primary-key lookup per match (1,000 for `corr-42` in the
-- benchmark). A task's row id never changes (the commit's upsert keeps it), so a document
-- that is rewritten keeps it too; the status and times change with claims, which do not
-- touch the documents, and stay in `tasks`.
--
-- The table is built anew, ordered by row id, rather than updated in place: an update of
-- every row would add a row version and its trigram entries per document.
CREATE TABLE task_texts_by_row (
    task_id     text NOT NULL,
    row_id      bigint NOT NULL,
    search_text text NOT NULL
);

INSERT INTO task_texts_by_row (task_id, row_id, search_text)
SELECT d.task_id, t.row_id, d.search_text
  FROM task_texts d
  JOIN tasks t ON t.task_id = d.task_id
 ORDER BY t.row_id;

DROP TABLE task_texts;
ALTER TABLE task_texts_by_row RENAME TO task_texts;
ALTER TABLE task_texts ADD CONSTRAINT task_texts_pkey PRIMARY KEY (task_id);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX task_texts_search ON task_texts
                     USING gin (search_text gin_trgm_ops)';
    END IF;
END
$$;

-- Statistics for the new table now rather than at the next autovacuum.
ANALYZE task_texts;
