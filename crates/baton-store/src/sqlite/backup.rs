//! Online backup of a SQLite database (`baton backup`): `VACUUM INTO` on a connection of its
//! own reads one snapshot of the database (a read transaction, so a running server keeps
//! committing meanwhile: WAL mode lets readers and the writer proceed together) and writes
//! it compacted into a new file. Everything committed before the backup's read began is in
//! it; nothing committed after.

use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the backup waits for a lock (a checkpoint or schema change in progress).
const BACKUP_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub bytes: u64,
    pub workflows: i64,
}

/// Writes a consistent copy of the database at `source` to `target`, which must not exist.
/// The copy is written beside `target` under a temporary name and renamed when complete and
/// checked, so `target` never holds half a backup.
pub fn backup(source: &Path, target: &Path) -> Result<BackupSummary> {
    if !source.exists() {
        return Err(StoreError::NotFound(format!(
            "SQLite database {}",
            source.display()
        )));
    }
    if target.exists() {
        return Err(StoreError::AlreadyExists(format!(
            "backup file {}",
            target.display()
        )));
    }
    let partial = partial_name(target);
    let _ = std::fs::remove_file(&partial);
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BACKUP_BUSY_TIMEOUT)?;
    let written = conn.execute("VACUUM INTO ?1", [partial.to_string_lossy().as_ref()]);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    drop(conn);
    let summary = match check(&partial) {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, target)
        .map_err(|e| StoreError::Database(format!("renaming the backup: {e}")))?;
    Ok(summary)
}

/// Opens a backup, checks its integrity and counts its executions.
pub fn check(path: &Path) -> Result<BackupSummary> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Err(StoreError::Corrupt(format!(
            "backup {} failed its integrity check: {verdict}",
            path.display()
        )));
    }
    let workflows: i64 = conn.query_row("SELECT count(*) FROM workflows", [], |r| r.get(0))?;
    let bytes = std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| StoreError::Database(format!("reading {}: {e}", path.display())))?;
    Ok(BackupSummary { bytes, workflows })
}

fn partial_name(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}
