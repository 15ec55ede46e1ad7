-- A node's sweeper claims the due workflows it is about to decide, so that the other nodes'
-- sweepers skip them: `sweep_until` is when the claim lapses (a node that dies mid-decision
-- leaves it to the others after that), cleared by the decision's commit.
ALTER TABLE workflows ADD COLUMN sweep_until bigint;
CREATE INDEX workflows_sweep_claims ON workflows (sweep_until) WHERE sweep_until IS NOT NULL;
