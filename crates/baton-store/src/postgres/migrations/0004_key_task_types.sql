-- What SQLite migration 10 added: a worker key may be limited to some task types (a JSON
-- array of names as text; NULL for every type).
ALTER TABLE api_keys ADD COLUMN task_types text;
