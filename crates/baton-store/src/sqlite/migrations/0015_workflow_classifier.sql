-- The classifier of the definition an execution runs (Conductor's `classifier` search
-- field: `workflow`, `agent`, or a tag of the definition's own), written when the execution
-- starts (write.rs, from `WorkflowDef::classifier`). A constant default adds the column
-- without rewriting the table.
ALTER TABLE workflows ADD COLUMN classifier TEXT NOT NULL DEFAULT 'workflow';

-- Rows started before: derived from the definition snapshot each one runs, as
-- `WorkflowDef::classifier` derives it (a non-blank `metadata.classifier` string, else
-- `agent` when `metadata.agent_sdk` or `metadata.agentDef` is set and not null, else
-- `workflow`). Blank here means ASCII whitespace only. Only rows of non-`workflow`
-- definitions are rewritten.
WITH derived AS (
    SELECT hash,
           CASE
               WHEN json_type(json, '$.metadata.classifier') = 'text'
                    AND trim(json_extract(json, '$.metadata.classifier'),
                             ' ' || char(9, 10, 11, 12, 13)) <> ''
                   THEN json_extract(json, '$.metadata.classifier')
               WHEN json_type(json, '$.metadata.agent_sdk') NOT IN ('null')
                    OR json_type(json, '$.metadata.agentDef') NOT IN ('null')
                   THEN 'agent'
               ELSE 'workflow'
           END AS classifier
      FROM def_snapshots
)
UPDATE workflows
   SET classifier = derived.classifier
  FROM derived
 WHERE derived.hash = workflows.def_hash
   AND derived.classifier <> 'workflow';

-- Searches by a classifier other than `workflow` (Conductor's agent pages), newest first.
-- Plain workflows, most executions, are left out: starting one costs no entry here. The
-- searches repeat the WHERE below word for word, which is how SQLite knows it may use it.
CREATE INDEX workflows_classifier ON workflows (classifier, start_time, workflow_id)
    WHERE classifier <> 'workflow';
