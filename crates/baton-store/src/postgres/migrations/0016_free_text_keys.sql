-- Free text on PostgreSQL keeps punctuation inside its words (ADR 37). pg_trgm splits a text
-- into words at every character that is not a letter or a digit, so `order-12345` was looked
-- up as the trigrams of `order` and of `12345` apart: every document holding both words
-- anywhere was a candidate (2,783 candidates for the 1,000 matches of `corr-42` at 100,000
-- executions). Each search document now has a key beside it: the document with every ASCII
-- character that is not a letter or a digit (punctuation, space, newline, other control
-- characters) replaced by the letter `q`, one character for one, so the key of a text found
-- in a document is found in the document's key. The trigram indexes move from the documents
-- to the keys, whose words run across punctuation: `order-12345` is looked up as the
-- trigrams of `orderq12345`.
--
-- Why `q`: pg_trgm takes a character into a word when it is alphanumeric to the database's
-- locale, and an ASCII letter is that under every encoding and locale. The documents are in
-- lower case, and `q` is among the rarest lower-case letters in the documents' text (ids in
-- hexadecimal never hold it, nor ISO times, unlike `z`, `x` or `j` of `json`).
--
-- The key matches more than the document: `orderq12345` and `order_12345` have the key of
-- `order-12345`. Such candidates are harmless: a search matches the document itself as well
-- (LIKE on `search_text`, as before), which drops them. The key only narrows the candidates.
--
-- An index expression (translate() over the document in the index) gives the same index but
-- evaluates the function again on every candidate's document at the recheck (25-35 ms
-- against 2 ms for the index read of `corr-42` at 100,000 executions); so the key is a
-- column, written by the commit beside the document. The commit makes keys in Rust
-- (postgres/search_key.rs): translate() costs about a microsecond a character, as it looks
-- each one up in its list. `baton_search_key` below maps the same characters, for the
-- documents this migration keys and for the stored input of a workflow whose document an
-- update rewrites without a new input. A key is stored folded with lower(), as the
-- document is: lower() changes no ASCII character other than a capital and makes none, so
-- folding before or after the mapping gives the same key.
CREATE FUNCTION baton_search_key(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT translate(t,
        E'\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f !"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~\x7f',
        repeat('q', 65))
$$;

-- The tables are built anew in their order (as migration 13 did), rather than updated in
-- place: an update of every row would leave a dead version of each.
CREATE TABLE workflow_texts_keyed (
    workflow_id text NOT NULL,
    start_time  bigint NOT NULL,
    status      text NOT NULL,
    search_text text NOT NULL,
    search_key  text NOT NULL
);
INSERT INTO workflow_texts_keyed (workflow_id, start_time, status, search_text, search_key)
SELECT workflow_id, start_time, status, search_text, baton_search_key(search_text)
  FROM workflow_texts
 ORDER BY start_time, workflow_id;
DROP TABLE workflow_texts;
ALTER TABLE workflow_texts_keyed RENAME TO workflow_texts;
ALTER TABLE workflow_texts ADD CONSTRAINT workflow_texts_pkey PRIMARY KEY (workflow_id);

CREATE TABLE task_texts_keyed (
    task_id     text NOT NULL,
    row_id      bigint NOT NULL,
    search_text text NOT NULL,
    search_key  text NOT NULL
);
INSERT INTO task_texts_keyed (task_id, row_id, search_text, search_key)
SELECT task_id, row_id, search_text, baton_search_key(search_text)
  FROM task_texts
 ORDER BY row_id;
DROP TABLE task_texts;
ALTER TABLE task_texts_keyed RENAME TO task_texts;
ALTER TABLE task_texts ADD CONSTRAINT task_texts_pkey PRIMARY KEY (task_id);

-- The trigram indexes on the documents went with the old tables; the new ones are on the
-- keys.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX workflow_texts_search_key ON workflow_texts
                     USING gin (search_key gin_trgm_ops)';
        EXECUTE 'CREATE INDEX task_texts_search_key ON task_texts
                     USING gin (search_key gin_trgm_ops)';
    END IF;
END
$$;

-- Statistics for the new tables now rather than at the next autovacuum.
ANALYZE workflow_texts;
ANALYZE task_texts;
