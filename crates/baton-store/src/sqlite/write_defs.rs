//! Writes of task and workflow definitions, run by the writer thread (executions are in
//! `write.rs`).

use crate::codec::to_json;
use crate::{Millis, Result, StoreError};
use baton_model::{TaskDef, WorkflowDef};
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) fn put_task_defs(conn: &Connection, defs: Vec<TaskDef>, now: Millis) -> Result<()> {
    for mut def in defs {
        let existing: Option<i64> = conn
            .prepare_cached("SELECT create_time FROM task_defs WHERE name = ?1")?
            .query_row([&def.name], |r| r.get(0))
            .optional()?;
        if def.create_time == 0 {
            def.create_time = existing.unwrap_or(now);
        }
        if def.update_time == 0 && existing.is_some() {
            def.update_time = now;
        }
        conn.prepare_cached(
            "INSERT INTO task_defs (name, json, create_time, update_time)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET json = excluded.json,
                 create_time = excluded.create_time, update_time = excluded.update_time",
        )?
        .execute(params![
            def.name,
            to_json(&def)?,
            def.create_time,
            def.update_time
        ])?;
    }
    Ok(())
}

pub(crate) fn update_task_def(conn: &Connection, mut def: TaskDef, now: Millis) -> Result<()> {
    let existing: Option<i64> = conn
        .prepare_cached("SELECT create_time FROM task_defs WHERE name = ?1")?
        .query_row([&def.name], |r| r.get(0))
        .optional()?;
    let Some(create_time) = existing else {
        return Err(StoreError::NotFound(format!(
            "task definition {}",
            def.name
        )));
    };
    if def.create_time == 0 {
        def.create_time = create_time;
    }
    if def.update_time == 0 {
        def.update_time = now;
    }
    conn.prepare_cached(
        "UPDATE task_defs SET json = ?2, create_time = ?3, update_time = ?4 WHERE name = ?1",
    )?
    .execute(params![
        def.name,
        to_json(&def)?,
        def.create_time,
        def.update_time
    ])?;
    Ok(())
}

pub(crate) fn delete_task_def(conn: &Connection, name: &str) -> Result<()> {
    let n = conn
        .prepare_cached("DELETE FROM task_defs WHERE name = ?1")?
        .execute([name])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("task definition {name}")));
    }
    Ok(())
}

pub(crate) fn put_workflow_def(
    conn: &Connection,
    mut def: WorkflowDef,
    overwrite: bool,
    now: Millis,
) -> Result<()> {
    let existing: Option<i64> = conn
        .prepare_cached("SELECT create_time FROM workflow_defs WHERE name = ?1 AND version = ?2")?
        .query_row(params![def.name, def.version], |r| r.get(0))
        .optional()?;
    if existing.is_some() && !overwrite {
        return Err(StoreError::AlreadyExists(format!(
            "workflow definition {} version {}",
            def.name, def.version
        )));
    }
    if def.create_time == 0 {
        def.create_time = existing.unwrap_or(now);
    }
    if def.update_time == 0 && existing.is_some() {
        def.update_time = now;
    }
    conn.prepare_cached(
        "INSERT INTO workflow_defs (name, version, json, create_time, update_time)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (name, version) DO UPDATE SET json = excluded.json,
             create_time = excluded.create_time, update_time = excluded.update_time",
    )?
    .execute(params![
        def.name,
        def.version,
        to_json(&def)?,
        def.create_time,
        def.update_time
    ])?;
    Ok(())
}

pub(crate) fn delete_workflow_def(conn: &Connection, name: &str, version: i32) -> Result<()> {
    let n = conn
        .prepare_cached("DELETE FROM workflow_defs WHERE name = ?1 AND version = ?2")?
        .execute(params![name, version])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "workflow definition {name} version {version}"
        )));
    }
    Ok(())
}
