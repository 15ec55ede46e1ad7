//! Versioned schema migrations, tracked in `baton_schema_migrations`.
//!
//! Each migration is a SQL file `migrations/NNNN_name.sql` compiled into the binary. A
//! database at version `v` gets every migration numbered above `v`, in order, each in its own
//! transaction together with its row in `baton_schema_migrations`, so a crash leaves the
//! schema at a whole version. Nodes starting together take turns under an advisory lock.
//! Migrations are never edited once released; a change is a new file.

use crate::{Result, StoreError};
use deadpool_postgres::Client;

/// `(version, name, sql)`, in order, versions 1, 2, 3, …
pub(crate) const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (
        2,
        "auth_webhooks_input",
        include_str!("migrations/0002_auth_webhooks_input.sql"),
    ),
    (
        3,
        "sweep_claims",
        include_str!("migrations/0003_sweep_claims.sql"),
    ),
    (
        4,
        "key_task_types",
        include_str!("migrations/0004_key_task_types.sql"),
    ),
    (
        5,
        "finished_index",
        include_str!("migrations/0005_finished_index.sql"),
    ),
    (
        6,
        "search_indexes",
        include_str!("migrations/0006_search_indexes.sql"),
    ),
    (
        7,
        "free_text_queue_counts",
        include_str!("migrations/0007_free_text_queue_counts.sql"),
    ),
    (
        8,
        "pending_wakes",
        include_str!("migrations/0008_pending_wakes.sql"),
    ),
    (
        9,
        "search_by_tasks_index",
        include_str!("migrations/0009_search_by_tasks_index.sql"),
    ),
    (
        10,
        "workflow_classifier",
        include_str!("migrations/0010_workflow_classifier.sql"),
    ),
    (
        11,
        "task_start_time_order",
        include_str!("migrations/0011_task_start_time_order.sql"),
    ),
    (
        12,
        "task_free_text",
        include_str!("migrations/0012_task_free_text.sql"),
    ),
    (
        13,
        "task_text_order",
        include_str!("migrations/0013_task_text_order.sql"),
    ),
    (
        14,
        "workflow_texts",
        include_str!("migrations/0014_workflow_texts.sql"),
    ),
    (
        15,
        "task_texts_lower_case",
        include_str!("migrations/0015_task_texts_lower_case.sql"),
    ),
    (
        16,
        "free_text_keys",
        include_str!("migrations/0016_free_text_keys.sql"),
    ),
];

/// The schema version this build writes.
pub(crate) fn latest_version() -> i32 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// A digest of [`MIGRATIONS`] (hex, 16 characters): two databases migrated by builds with the
/// same fingerprint have the same schema, so one can be copied to make the other.
pub(crate) fn fingerprint() -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (version, name, sql) in MIGRATIONS {
        hash.update(version.to_be_bytes());
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(sql.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An arbitrary key for `pg_advisory_xact_lock`, the same in every Baton.
const MIGRATION_LOCK: i64 = 0x0ba7_0a00_0001;

/// Brings the schema up to [`latest_version`]. Fails on a database from a newer Baton.
pub(crate) async fn migrate(c: &mut Client) -> Result<()> {
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS baton_schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .or_else(|e| {
        // Two nodes creating the table at once: the loser sees a unique violation.
        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    let latest = latest_version();
    for &(version, name, sql) in MIGRATIONS {
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let current: Option<i32> = tx
            .query_one("SELECT MAX(version) FROM baton_schema_migrations", &[])
            .await?
            .try_get(0)?;
        let current = current.unwrap_or(0);
        if current > latest {
            return Err(StoreError::Database(format!(
                "the database schema is at version {current}, newer than this Baton supports \
                 ({latest}); upgrade Baton or use another database"
            )));
        }
        if current >= version {
            continue;
        }
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Database(format!(
                "migration {version:04}_{name} failed: {}",
                super::db_message(&e)
            ))
        })?;
        tx.execute(
            "INSERT INTO baton_schema_migrations (version, name) VALUES ($1, $2)",
            &[&version, &name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied PostgreSQL migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_sixteen_hex_digits_and_stable() {
        let f = fingerprint();
        assert_eq!(f.len(), 16, "{f}");
        assert!(f.chars().all(|c| c.is_ascii_hexdigit()), "{f}");
        assert_eq!(f, fingerprint());
    }

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.0, i as i32 + 1, "migration {} out of order", m.1);
        }
    }
}
