-- What SQLite migrations 8 and 9 added: API keys (secrets only as argon2 hashes; a revoked
-- key stays listed), server-wide secrets shared by every node, webhook deliveries seen (so a
-- replay starts nothing), and a workflow's input in a column of its own, written when it
-- starts or a rerun replaces it rather than on every commit.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL,
    secret_hash text NOT NULL,
    created_at  bigint NOT NULL,
    revoked_at  bigint
);

CREATE TABLE server_secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE webhook_deliveries (
    hook         text NOT NULL,
    delivery_id  text NOT NULL,
    received_at  bigint NOT NULL,
    workflow_ids text NOT NULL,
    PRIMARY KEY (hook, delivery_id)
);

ALTER TABLE workflows ADD COLUMN input_json json;
