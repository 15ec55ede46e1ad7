-- A worker key may be limited to some task types: a JSON array of names, NULL for every type.
ALTER TABLE api_keys ADD COLUMN task_types TEXT;
