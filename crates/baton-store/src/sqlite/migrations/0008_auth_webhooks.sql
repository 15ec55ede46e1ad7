-- API keys: the secret is stored only as an argon2 hash (PHC string). A revoked key stays
-- listed (revoked_at set) so that its id is never reused and `baton keys list` shows it.
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) WITHOUT ROWID;

-- Server-wide secrets made once and shared by every node on this database (the key that
-- signs API tokens).
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- Webhook deliveries seen, so a redelivered or replayed one starts nothing again.
CREATE TABLE webhook_deliveries (
    hook         TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    workflow_ids TEXT NOT NULL,
    PRIMARY KEY (hook, delivery_id)
) WITHOUT ROWID;
