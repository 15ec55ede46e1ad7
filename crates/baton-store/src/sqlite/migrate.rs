//! Versioned schema migrations, tracked by `PRAGMA user_version`.
//!
//! Each migration is a SQL file `migrations/NNNN_name.sql` compiled into the binary. A database
//! at version `v` gets every migration numbered above `v`, in order, each in its own
//! transaction together with the bump of `user_version`, so a crash leaves the schema at a
//! whole version. Migrations are never edited once released; a change is a new file.

use crate::{Result, StoreError};
use rusqlite::Connection;

/// `(version, name, sql)`, in order, versions 1, 2, 3, …
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (
        2,
        "schedules",
        include_str!("migrations/0002_schedules.sql"),
    ),
    (
        3,
        "event_handlers",
        include_str!("migrations/0003_event_handlers.sql"),
    ),
    (
        4,
        "task_limits",
        include_str!("migrations/0004_task_limits.sql"),
    ),
    (
        5,
        "history_rowid",
        include_str!("migrations/0005_history_rowid.sql"),
    ),
    (
        6,
        "follow_ups",
        include_str!("migrations/0006_follow_ups.sql"),
    ),
    (
        7,
        "claim_leases",
        include_str!("migrations/0007_claim_leases.sql"),
    ),
    (
        8,
        "auth_webhooks",
        include_str!("migrations/0008_auth_webhooks.sql"),
    ),
    (
        9,
        "workflow_input",
        include_str!("migrations/0009_workflow_input.sql"),
    ),
    (
        10,
        "key_task_types",
        include_str!("migrations/0010_key_task_types.sql"),
    ),
    (
        11,
        "finished_index",
        include_str!("migrations/0011_finished_index.sql"),
    ),
    (
        12,
        "search_indexes",
        include_str!("migrations/0012_search_indexes.sql"),
    ),
    (
        13,
        "free_text_queue_counts",
        include_str!("migrations/0013_free_text_queue_counts.sql"),
    ),
    (
        14,
        "pending_wakes",
        include_str!("migrations/0014_pending_wakes.sql"),
    ),
    (
        15,
        "workflow_classifier",
        include_str!("migrations/0015_workflow_classifier.sql"),
    ),
    (
        16,
        "task_free_text",
        include_str!("migrations/0016_task_free_text.sql"),
    ),
    (
        17,
        "task_text_from_the_writer",
        include_str!("migrations/0017_task_text_from_the_writer.sql"),
    ),
    (
        18,
        "task_time_columns",
        include_str!("migrations/0018_task_time_columns.sql"),
    ),
    (
        19,
        "workflow_inputs",
        include_str!("migrations/0019_workflow_inputs.sql"),
    ),
];

/// The schema version this build writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Brings the schema up to [`latest_version`]. Fails on a database from a newer Baton.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let latest = latest_version();
    if current > latest {
        return Err(StoreError::Database(format!(
            "the database schema is at version {current}, newer than this Baton supports \
             ({latest}); upgrade Baton or use another database file"
        )));
    }
    if current == latest {
        return Ok(());
    }
    // Every pending migration in one transaction: the schema moves to the latest version or
    // stays where it was, and a fresh database pays for one commit instead of one per
    // migration (most of a fresh start's time when each was its own).
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the write lock.
    let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > now) {
        tx.execute_batch(sql).map_err(|e| {
            StoreError::Database(format!("migration {version:04}_{name} failed: {e}"))
        })?;
        // PRAGMA takes no bound parameters; `version` is a compile-time constant.
        tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
        applied.push((version, name));
    }
    tx.commit()?;
    for (version, name) in applied {
        tracing::info!(version, name, "applied SQLite migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.0, i as i64 + 1, "migration {} out of order", m.1);
        }
    }

    #[test]
    fn migrates_fresh_and_rejects_newer() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest_version());
        // Idempotent.
        migrate(&mut conn).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", latest_version() + 1))
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    /// Applies the migrations up to `version` only, as an older Baton would have.
    fn migrate_to(conn: &mut Connection, version: i64) {
        for &(v, _, sql) in MIGRATIONS.iter().filter(|m| m.0 <= version) {
            conn.execute_batch(sql).unwrap();
            conn.execute_batch(&format!("PRAGMA user_version = {v}"))
                .unwrap();
        }
    }

    #[test]
    fn rows_written_before_the_claim_and_input_columns_are_carried_over() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 6);
        conn.execute_batch(
            r#"INSERT INTO workflows (workflow_id, name, def_version, status, start_time,
                   update_time, end_time, priority, def_hash, version, json)
               VALUES ('w', 'flow', 1, 'RUNNING', 1, 1, 0, 0, 'h', 3,
                   '{"workflowId":"w","input":{"files":["a","b"]},"status":"RUNNING"}');
               INSERT INTO tasks (task_id, workflow_id, seq, ref_name, task_type, task_def_name,
                   status, json)
               VALUES ('t', 'w', 1, 'r', 'x', 'x', 'IN_PROGRESS',
                   '{"taskId":"t","pollCount":4,"startTime":1234,"endTime":1300}');"#,
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let (json, input): (String, Option<String>) = conn
            .query_row(
                "SELECT json, input_json FROM workflows JOIN workflow_inputs USING (workflow_id)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(!json.contains("files"), "{json}");
        assert_eq!(input.as_deref(), Some(r#"{"files":["a","b"]}"#));
        let (polls, lease): (i64, Option<i64>) = conn
            .query_row("SELECT poll_count, lease_until FROM tasks", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((polls, lease), (4, None));
        // Migration 12: the start time of a row written before is read from its document.
        let started: i64 = conn
            .query_row(
                "SELECT start_time FROM tasks INDEXED BY tasks_start_time WHERE start_time > 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(started, 1234);
        // Migration 18: both times are plain columns, filled from the document.
        let ended: i64 = conn
            .query_row("SELECT end_time FROM tasks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ended, 1300);
        let generated: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_xinfo('tasks') WHERE hidden <> 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(generated, 0);
    }

    /// Migration 17 indexes the documents migration 16's triggers left queued, the new one
    /// and the rewritten one alike, and leaves an empty queue of the new shape.
    #[test]
    fn documents_queued_by_migration_16_are_indexed_by_migration_17() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 16);
        conn.execute_batch(
            r#"INSERT INTO tasks (task_id, workflow_id, seq, ref_name, task_type, task_def_name,
                   status, json)
               VALUES ('t1', 'w', 1, 'r', 'x', 'x', 'SCHEDULED',
                       '{"inputData":{"k":"Queued-Input"}}'),
                      ('t2', 'w', 2, 'r', 'x', 'x', 'SCHEDULED', '{}');
               INSERT INTO tasks_text (rowid, doc)
                   SELECT rowid, 'old' FROM tasks WHERE task_id = 't2';
               UPDATE tasks SET json = '{"outputData":{"k":"Rewritten-Output"}}'
                WHERE task_id = 't2';"#,
        )
        .unwrap();
        let queued: i64 = conn
            .query_row("SELECT COUNT(*) FROM tasks_text_pending", [], |r| r.get(0))
            .unwrap();
        assert_eq!(queued, 3);
        migrate(&mut conn).unwrap();
        let matches = |text: &str| -> Vec<String> {
            let mut stmt = conn
                .prepare(
                    "SELECT task_id FROM tasks WHERE rowid IN
                         (SELECT rowid FROM tasks_text WHERE tasks_text MATCH ?1)
                     ORDER BY task_id",
                )
                .unwrap();
            let rows = stmt
                .query_map([format!("\"{text}\"")], |r| r.get(0))
                .unwrap();
            rows.map(|r| r.unwrap()).collect()
        };
        assert_eq!(matches("queued-input"), ["t1"]);
        assert_eq!(matches("rewritten-output"), ["t2"]);
        assert!(matches("old").is_empty());
        let (queued, hashes): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM tasks_text_pending),
                        (SELECT COUNT(text_hash) FROM tasks)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((queued, hashes), (0, 0));
    }
}
