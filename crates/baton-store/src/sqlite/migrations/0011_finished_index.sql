-- Retention finds ended executions by end time, oldest first, a batch at a time; only ended
-- rows are indexed, so running workflows cost the index nothing.
CREATE INDEX workflows_finished ON workflows (end_time, workflow_id)
    WHERE status IN ('COMPLETED', 'FAILED', 'TIMED_OUT', 'TERMINATED');
