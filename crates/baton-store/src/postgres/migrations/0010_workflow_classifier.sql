-- What SQLite migration 15 added: the classifier of the definition an execution runs
-- (Conductor's `classifier` search field), written when it starts (commit_rows.rs, from
-- `WorkflowDef::classifier`). A constant default adds the column without rewriting the
-- table.
ALTER TABLE workflows ADD COLUMN classifier text NOT NULL DEFAULT 'workflow';

-- Rows started before: derived from the definition snapshot each one runs, as
-- `WorkflowDef::classifier` derives it (a non-blank `metadata.classifier` string, else
-- `agent` when `metadata.agent_sdk` or `metadata.agentDef` is set and not null, else
-- `workflow`). Blank here means ASCII whitespace only. A snapshot holding an escaped NUL
-- character, which PostgreSQL's json operators refuse, leaves its rows at `workflow`. Only
-- rows of non-`workflow` definitions are rewritten.
WITH derived AS (
    SELECT hash,
           CASE
               WHEN json_typeof(json -> 'metadata' -> 'classifier') = 'string'
                    AND btrim(json -> 'metadata' ->> 'classifier', E' \t\n\x0b\f\r') <> ''
                   THEN json -> 'metadata' ->> 'classifier'
               WHEN json_typeof(json -> 'metadata' -> 'agent_sdk') <> 'null'
                    OR json_typeof(json -> 'metadata' -> 'agentDef') <> 'null'
                   THEN 'agent'
               ELSE 'workflow'
           END AS classifier
      FROM def_snapshots
     WHERE strpos(json::text, '\u0000') = 0
)
UPDATE workflows w
   SET classifier = d.classifier
  FROM derived d
 WHERE d.hash = w.def_hash
   AND d.classifier <> 'workflow';

-- Searches by a classifier other than `workflow` (Conductor's agent pages), newest first.
-- Plain workflows, most executions, are left out: starting one costs no entry here.
CREATE INDEX workflows_classifier ON workflows (classifier, start_time, workflow_id)
    WHERE classifier <> 'workflow';
