//! API keys, server secrets and webhook deliveries (migration 8).

use crate::auth::{ApiKey, WebhookDelivery};
use crate::{Millis, Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension};

const KEY_COLUMNS: &str = "key_id, name, role, secret_hash, created_at, revoked_at, task_types";

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ApiKey, Option<String>)> {
    let key = ApiKey {
        key_id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        secret_hash: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
        task_types: None,
    };
    Ok((key, r.get(6)?))
}

/// A row with its task types decoded.
fn decoded((mut key, types): (ApiKey, Option<String>)) -> Result<ApiKey> {
    key.task_types = crate::auth::task_types_from_column(types)?;
    Ok(key)
}

pub(crate) fn put_key(conn: &Connection, key: &ApiKey) -> Result<()> {
    let task_types = crate::auth::task_types_column(&key.task_types)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO api_keys
                 (key_id, name, role, secret_hash, created_at, revoked_at, task_types)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (key_id) DO NOTHING",
        )?
        .execute(params![
            key.key_id,
            key.name,
            key.role,
            key.secret_hash,
            key.created_at,
            key.revoked_at,
            task_types
        ])?;
    if inserted == 0 {
        return Err(StoreError::AlreadyExists(format!("API key {}", key.key_id)));
    }
    Ok(())
}

pub(crate) fn get_key(conn: &Connection, key_id: &str) -> Result<Option<ApiKey>> {
    conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = ?1"
    ))?
    .query_row([key_id], key_row)
    .optional()?
    .map(decoded)
    .transpose()
}

pub(crate) fn list_keys(conn: &Connection) -> Result<Vec<ApiKey>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id"
    ))?;
    let rows = stmt.query_map([], key_row)?;
    rows.map(|r| decoded(r?)).collect()
}

/// True if the key existed and was not revoked before.
pub(crate) fn revoke_key(conn: &Connection, key_id: &str, at: Millis) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL",
        )?
        .execute(params![key_id, at])?;
    Ok(n > 0)
}

/// The secret stored under `name`, storing `candidate` first if there is none.
pub(crate) fn secret(conn: &Connection, name: &str, candidate: &[u8]) -> Result<Vec<u8>> {
    conn.prepare_cached(
        "INSERT INTO server_secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
    )?
    .execute(params![name, candidate])?;
    Ok(conn
        .prepare_cached("SELECT value FROM server_secrets WHERE name = ?1")?
        .query_row([name], |r| r.get(0))?)
}

pub(crate) fn get_delivery(
    conn: &Connection,
    hook: &str,
    delivery_id: &str,
) -> Result<Option<WebhookDelivery>> {
    let row = conn
        .prepare_cached(
            "SELECT received_at, workflow_ids FROM webhook_deliveries
             WHERE hook = ?1 AND delivery_id = ?2",
        )?
        .query_row(params![hook, delivery_id], |r| {
            Ok((r.get::<_, Millis>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    let Some((received_at, ids)) = row else {
        return Ok(None);
    };
    let workflow_ids: Vec<String> = serde_json::from_str(&ids)
        .map_err(|e| StoreError::Corrupt(format!("webhook delivery ids: {e}")))?;
    Ok(Some(WebhookDelivery {
        hook: hook.to_string(),
        delivery_id: delivery_id.to_string(),
        received_at,
        workflow_ids,
    }))
}

/// Records a delivery; `None` if it is new, else the delivery recorded before (unchanged).
pub(crate) fn record_delivery(
    conn: &Connection,
    d: &WebhookDelivery,
) -> Result<Option<WebhookDelivery>> {
    if let Some(before) = get_delivery(conn, &d.hook, &d.delivery_id)? {
        return Ok(Some(before));
    }
    let ids = serde_json::to_string(&d.workflow_ids)
        .map_err(|e| StoreError::Database(format!("webhook delivery ids: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (hook, delivery_id, received_at, workflow_ids)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![d.hook, d.delivery_id, d.received_at, ids])?;
    Ok(None)
}
