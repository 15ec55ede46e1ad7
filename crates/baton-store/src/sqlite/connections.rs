//! Opening the SQLite store's connections: its options, the writer's connection (WAL,
//! durability, migrations, the checkpoint hook) and the pool of read-only readers.

use super::{checkpoint, migrate};
use crate::{Result, StoreError};
use parking_lot::Mutex;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How hard each commit is pushed to disk (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Survives a crash of the process, not necessarily of the machine.
    #[default]
    Normal,
    /// fsync per commit: also survives power loss.
    Full,
}

impl Synchronous {
    pub(super) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; created (with its parent directories) if missing.
    pub path: PathBuf,
    pub synchronous: Synchronous,
    /// Reader connections (at least 1).
    pub readers: usize,
    /// The clock of definition create and update times (a manual one in tests).
    pub clock: baton_model::clock::Clock,
    /// Bytes of a task's input, and of its output, that free-text task search matches
    /// (its search document, ADR 35); 0 leaves input and output out.
    pub task_text_bytes: usize,
}

impl SqliteOptions {
    /// Options for `path` with the defaults: [`Synchronous::Normal`], 4 readers, 16 KiB of
    /// task input and output in search documents.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            path: path.into(),
            synchronous: Synchronous::default(),
            readers: 4,
            clock: baton_model::clock::Clock::System,
            task_text_bytes: crate::DEFAULT_TASK_TEXT_BYTES,
        }
    }
}

/// How long a connection waits for a lock held by another connection (another process, a
/// checkpoint) before giving up.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;
/// The WAL is truncated back to this size (bytes) after it restarts.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;
pub(super) struct Readers {
    pub(super) path: PathBuf,
    pub(super) idle: Mutex<Vec<Connection>>,
    pub(super) permits: Arc<Semaphore>,
}

impl Readers {
    pub(super) fn take(&self) -> Result<Connection> {
        match self.idle.lock().pop() {
            Some(conn) => Ok(conn),
            // A connection is lost only if a read panicked; open a replacement.
            None => open_reader(&self.path),
        }
    }

    pub(super) fn give_back(&self, conn: Connection) {
        self.idle.lock().push(conn);
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Query planner stability: plans do not depend on bound values. Without it a statement
    // with `LIMIT ?` (or a bound LIKE pattern) is re-prepared at every execution.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // 16 MiB page cache per connection.
    // (mmap was measured slower here: readers re-map after every commit.)
    conn.execute_batch("PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;")?;
    // Case folding for task documents not yet in their trigram index (search.rs).
    conn.create_scalar_function(
        "baton_fold",
        1,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8
            | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let text: Option<String> = ctx.get(0)?;
            Ok(text.map(|t| super::search::fold(&t)))
        },
    )?;
    Ok(())
}

pub(super) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&conn)?;
    conn.execute_batch("PRAGMA query_only = ON")?;
    Ok(conn)
}

pub(super) fn open_writer(path: &Path, synchronous: Synchronous) -> Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Database(format!("cannot create directory {}: {e}", dir.display()))
        })?;
    }
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Database(format!(
            "could not switch {} to WAL mode (journal_mode is {mode})",
            path.display()
        )));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA foreign_keys = OFF;
         PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};",
        synchronous.pragma()
    ))?;
    migrate::migrate(&mut conn)?;
    checkpoint::install_hook(&conn)?;
    Ok(conn)
}
