-- A workflow's input, often its largest field (a dynamic fork's branch list, a build's file
-- list), moves out of the row's JSON into its own column: it is written when the workflow
-- starts (and when a rerun replaces it), not again on every commit of the workflow.
ALTER TABLE workflows ADD COLUMN input_json TEXT;
UPDATE workflows
   SET input_json = json_extract(json, '$.input'),
       json = json_remove(json, '$.input')
 WHERE json_type(json, '$.input') = 'object';
