//! Definition writes (task and workflow definitions), each one transaction.

use crate::codec::to_json;
use crate::{Millis, Result, StoreError};
use baton_model::{TaskDef, WorkflowDef};
use deadpool_postgres::{Client, GenericClient};

pub(super) async fn put_task_defs(c: &mut Client, defs: Vec<TaskDef>, now: Millis) -> Result<()> {
    let tx = c.transaction().await?;
    for mut def in defs {
        let existing = tx
            .query_opt(
                &tx.prepare_cached("SELECT create_time FROM task_defs WHERE name = $1 FOR UPDATE")
                    .await?,
                &[&def.name],
            )
            .await?
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()?;
        if def.create_time == 0 {
            def.create_time = existing.unwrap_or(now);
        }
        if def.update_time == 0 && existing.is_some() {
            def.update_time = now;
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO task_defs (name, json, create_time, update_time)
                 VALUES ($1, $2::text::json, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET json = excluded.json,
                     create_time = excluded.create_time, update_time = excluded.update_time",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &def.name,
                &to_json(&def)?,
                &def.create_time,
                &def.update_time,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn update_task_def(c: &mut Client, mut def: TaskDef, now: Millis) -> Result<()> {
    let tx = c.transaction().await?;
    let existing = tx
        .query_opt(
            &tx.prepare_cached("SELECT create_time FROM task_defs WHERE name = $1 FOR UPDATE")
                .await?,
            &[&def.name],
        )
        .await?;
    let Some(row) = existing else {
        return Err(StoreError::NotFound(format!(
            "task definition {}",
            def.name
        )));
    };
    if def.create_time == 0 {
        def.create_time = row.try_get(0)?;
    }
    if def.update_time == 0 {
        def.update_time = now;
    }
    let stmt = tx
        .prepare_cached(
            "UPDATE task_defs SET json = $2::text::json, create_time = $3, update_time = $4
             WHERE name = $1",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &def.name,
            &to_json(&def)?,
            &def.create_time,
            &def.update_time,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn delete_task_def(c: &impl GenericClient, name: &str) -> Result<()> {
    let stmt = c
        .prepare_cached("DELETE FROM task_defs WHERE name = $1")
        .await?;
    if c.execute(&stmt, &[&name]).await? == 0 {
        return Err(StoreError::NotFound(format!("task definition {name}")));
    }
    Ok(())
}

pub(super) async fn put_workflow_def(
    c: &mut Client,
    mut def: WorkflowDef,
    overwrite: bool,
    now: Millis,
) -> Result<()> {
    let tx = c.transaction().await?;
    let existing = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT create_time FROM workflow_defs WHERE name = $1 AND version = $2
                 FOR UPDATE",
            )
            .await?,
            &[&def.name, &def.version],
        )
        .await?
        .map(|r| r.try_get::<_, i64>(0))
        .transpose()?;
    let exists = || {
        StoreError::AlreadyExists(format!(
            "workflow definition {} version {}",
            def.name, def.version
        ))
    };
    if existing.is_some() && !overwrite {
        return Err(exists());
    }
    if def.create_time == 0 {
        def.create_time = existing.unwrap_or(now);
    }
    if def.update_time == 0 && existing.is_some() {
        def.update_time = now;
    }
    // Without overwrite, a concurrent insert of the same version wins and this one fails.
    let sql = if overwrite {
        "INSERT INTO workflow_defs (name, version, json, create_time, update_time)
         VALUES ($1, $2, $3::text::json, $4, $5)
         ON CONFLICT (name, version) DO UPDATE SET json = excluded.json,
             create_time = excluded.create_time, update_time = excluded.update_time"
    } else {
        "INSERT INTO workflow_defs (name, version, json, create_time, update_time)
         VALUES ($1, $2, $3::text::json, $4, $5) ON CONFLICT (name, version) DO NOTHING"
    };
    let n = tx
        .execute(
            &tx.prepare_cached(sql).await?,
            &[
                &def.name,
                &def.version,
                &to_json(&def)?,
                &def.create_time,
                &def.update_time,
            ],
        )
        .await?;
    if n == 0 {
        return Err(exists());
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn delete_workflow_def(
    c: &impl GenericClient,
    name: &str,
    version: i32,
) -> Result<()> {
    let stmt = c
        .prepare_cached("DELETE FROM workflow_defs WHERE name = $1 AND version = $2")
        .await?;
    if c.execute(&stmt, &[&name, &version]).await? == 0 {
        return Err(StoreError::NotFound(format!(
            "workflow definition {name} version {version}"
        )));
    }
    Ok(())
}
