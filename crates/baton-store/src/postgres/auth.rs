//! API keys, server secrets and webhook deliveries (the security features' records), and the
//! figures metrics read at scrape time: the same contract as `sqlite/auth.rs`.

use crate::auth::{ApiKey, WebhookDelivery};
use crate::{ActiveWorkflows, Millis, QueueStat, Result, StoreError};
use deadpool_postgres::GenericClient;

const KEY_COLUMNS: &str = "key_id, name, role, secret_hash, created_at, revoked_at, task_types";

fn key_row(r: &tokio_postgres::Row) -> Result<ApiKey> {
    Ok(ApiKey {
        key_id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: r.try_get(2)?,
        secret_hash: r.try_get(3)?,
        created_at: r.try_get(4)?,
        revoked_at: r.try_get(5)?,
        task_types: crate::auth::task_types_from_column(r.try_get(6)?)?,
    })
}

pub(super) async fn put_key(c: &impl GenericClient, key: &ApiKey) -> Result<()> {
    let task_types = crate::auth::task_types_column(&key.task_types)?;
    let stmt = c
        .prepare_cached(
            "INSERT INTO api_keys
                 (key_id, name, role, secret_hash, created_at, revoked_at, task_types)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key_id) DO NOTHING",
        )
        .await?;
    let n = c
        .execute(
            &stmt,
            &[
                &key.key_id,
                &key.name,
                &key.role,
                &key.secret_hash,
                &key.created_at,
                &key.revoked_at,
                &task_types,
            ],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::AlreadyExists(format!("API key {}", key.key_id)));
    }
    Ok(())
}

pub(super) async fn get_key(c: &impl GenericClient, key_id: &str) -> Result<Option<ApiKey>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = $1"
        ))
        .await?;
    c.query_opt(&stmt, &[&key_id])
        .await?
        .as_ref()
        .map(key_row)
        .transpose()
}

pub(super) async fn list_keys(c: &impl GenericClient) -> Result<Vec<ApiKey>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id"
        ))
        .await?;
    c.query(&stmt, &[]).await?.iter().map(key_row).collect()
}

pub(super) async fn revoke_key(c: &impl GenericClient, key_id: &str, at: Millis) -> Result<bool> {
    let stmt = c
        .prepare_cached(
            "UPDATE api_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL",
        )
        .await?;
    Ok(c.execute(&stmt, &[&key_id, &at]).await? > 0)
}

pub(super) async fn secret(
    c: &impl GenericClient,
    name: &str,
    candidate: &[u8],
) -> Result<Vec<u8>> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING",
        )
        .await?;
    c.execute(&stmt, &[&name, &candidate]).await?;
    let stmt = c
        .prepare_cached("SELECT value FROM server_secrets WHERE name = $1")
        .await?;
    Ok(c.query_one(&stmt, &[&name]).await?.try_get(0)?)
}

pub(super) async fn get_delivery(
    c: &impl GenericClient,
    hook: &str,
    delivery_id: &str,
) -> Result<Option<WebhookDelivery>> {
    let stmt = c
        .prepare_cached(
            "SELECT received_at, workflow_ids FROM webhook_deliveries
             WHERE hook = $1 AND delivery_id = $2",
        )
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&hook, &delivery_id]).await? else {
        return Ok(None);
    };
    let ids: String = row.try_get(1)?;
    let workflow_ids: Vec<String> = serde_json::from_str(&ids)
        .map_err(|e| StoreError::Corrupt(format!("webhook delivery ids: {e}")))?;
    Ok(Some(WebhookDelivery {
        hook: hook.to_string(),
        delivery_id: delivery_id.to_string(),
        received_at: row.try_get(0)?,
        workflow_ids,
    }))
}

/// Records a delivery unless one with its hook and id exists; then answers that one.
pub(super) async fn record_delivery(
    c: &impl GenericClient,
    d: &WebhookDelivery,
) -> Result<Option<WebhookDelivery>> {
    let ids = serde_json::to_string(&d.workflow_ids)
        .map_err(|e| StoreError::Database(format!("webhook delivery ids: {e}")))?;
    let stmt = c
        .prepare_cached(
            "INSERT INTO webhook_deliveries (hook, delivery_id, received_at, workflow_ids)
             VALUES ($1, $2, $3, $4) ON CONFLICT (hook, delivery_id) DO NOTHING",
        )
        .await?;
    let n = c
        .execute(&stmt, &[&d.hook, &d.delivery_id, &d.received_at, &ids])
        .await?;
    if n == 1 {
        return Ok(None);
    }
    get_delivery(c, &d.hook, &d.delivery_id).await
}

pub(super) async fn queue_stats(c: &impl GenericClient, now: Millis) -> Result<Vec<QueueStat>> {
    let stmt = c
        .prepare_cached(
            "SELECT queue_name, COUNT(*), MIN(CASE WHEN visible_at <= $1 THEN visible_at END)
             FROM queue GROUP BY queue_name ORDER BY queue_name",
        )
        .await?;
    c.query(&stmt, &[&now])
        .await?
        .iter()
        .map(|r| {
            Ok(QueueStat {
                queue: r.try_get(0)?,
                depth: r.try_get(1)?,
                oldest_visible_at: r.try_get(2)?,
            })
        })
        .collect()
}

pub(super) async fn active_workflow_stats(c: &impl GenericClient) -> Result<Vec<ActiveWorkflows>> {
    let stmt = c
        .prepare_cached(
            "SELECT name, COUNT(*), MIN(start_time) FROM workflows
             WHERE status IN ('RUNNING', 'PAUSED') GROUP BY name ORDER BY name",
        )
        .await?;
    c.query(&stmt, &[])
        .await?
        .iter()
        .map(|r| {
            Ok(ActiveWorkflows {
                name: r.try_get(0)?,
                count: r.try_get(1)?,
                oldest_start_time: r.try_get(2)?,
            })
        })
        .collect()
}

pub(super) async fn delete_history(c: &impl GenericClient, workflow_id: &str) -> Result<()> {
    let stmt = c
        .prepare_cached("DELETE FROM history WHERE workflow_id = $1")
        .await?;
    c.execute(&stmt, &[&workflow_id]).await?;
    Ok(())
}
