//! WAL checkpoints off the writer's path.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that crosses the threshold: the
//! writer copies the WAL back into the database and fsyncs it while every caller of that batch
//! (and every job queued behind it) waits. Here the writer only notes the WAL's size (through
//! the WAL hook) and hands the work to a checkpointer thread with its own connection, which
//! runs `PASSIVE` checkpoints beside the writer. The WAL restarts from its beginning at the
//! first write after a checkpoint that caught up, which happens whenever the writer pauses.
//! Under a load that never pauses, the writer makes a `RESTART` checkpoint itself (waiting at
//! most [`FORCE_WAIT`] for readers) once the WAL passes [`WAL_HARD_PAGES`], so the WAL stays
//! bounded.

use crate::Result;
use rusqlite::hooks::Wal;
use rusqlite::Connection;
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// WAL pages after which the checkpointer is woken.
const WAL_SOFT_PAGES: i32 = 8000;
/// WAL pages after which the writer checkpoints (and restarts the WAL) itself.
const WAL_HARD_PAGES: i32 = 16384;
/// How long the writer's own checkpoint waits for readers.
const FORCE_WAIT: Duration = Duration::from_millis(50);
/// Pause between two checkpoints, so that a busy writer's frames are copied in bulk.
const PAUSE: Duration = Duration::from_millis(20);

thread_local! {
    /// Pages in the WAL after the last commit of the writer connection on this thread.
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

fn record_wal_pages(_: &Wal, pages: std::os::raw::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(pages));
    Ok(())
}

/// Replaces automatic checkpoints on the writer connection by the WAL-size hook. Must be
/// called on the thread that will commit through `conn`.
pub(crate) fn install_hook(conn: &Connection) -> Result<()> {
    // Setting wal_autocheckpoint replaces the WAL hook, so it goes first.
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0")?;
    conn.wal_hook(Some(record_wal_pages));
    Ok(())
}

/// The checkpointer thread, owned by the writer.
pub(crate) struct Checkpointer {
    wake: Option<mpsc::SyncSender<()>>,
    busy: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
    /// WAL pages at which the writer next checkpoints itself.
    force_at: i32,
}

impl Checkpointer {
    pub fn spawn(conn: Connection) -> std::io::Result<Checkpointer> {
        let (wake, rx) = mpsc::sync_channel::<()>(1);
        let busy = Arc::new(AtomicBool::new(false));
        let flag = busy.clone();
        let handle = std::thread::Builder::new()
            .name("baton-sqlite-checkpoint".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    if let Err(e) = checkpoint(&conn, "PASSIVE") {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                    std::thread::sleep(PAUSE);
                    flag.store(false, Ordering::Release);
                }
            })?;
        Ok(Checkpointer {
            wake: Some(wake),
            busy,
            handle: Some(handle),
            force_at: WAL_HARD_PAGES,
        })
    }

    /// Called by the writer between batches, with no transaction open.
    pub fn after_commit(&mut self, writer: &Connection) {
        let pages = WAL_PAGES.with(|p| p.get());
        if pages >= self.force_at {
            // Wait only briefly for readers and the checkpointer: a stalled writer is worse
            // than a WAL that stays long a little longer.
            let restarted = writer
                .busy_timeout(FORCE_WAIT)
                .map_err(crate::StoreError::from)
                .and_then(|()| checkpoint(writer, "RESTART"));
            let _ = writer.busy_timeout(super::BUSY_TIMEOUT);
            match restarted {
                Ok(true) => {
                    WAL_PAGES.with(|p| p.set(0));
                    self.force_at = WAL_HARD_PAGES;
                }
                Ok(false) => self.force_at = pages + WAL_HARD_PAGES / 4,
                Err(e) => {
                    tracing::warn!(error = %e, pages, "WAL checkpoint by the writer failed");
                    self.force_at = pages + WAL_HARD_PAGES / 4;
                }
            }
        } else if pages >= WAL_SOFT_PAGES && !self.busy.swap(true, Ordering::AcqRel) {
            if let Some(wake) = &self.wake {
                if wake.try_send(()).is_err() {
                    self.busy.store(false, Ordering::Release);
                }
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Runs a checkpoint; whether it completed (was not blocked by a reader or another
/// checkpoint).
fn checkpoint(conn: &Connection, mode: &str) -> Result<bool> {
    let (busy, log, done): (i64, i64, i64) =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    tracing::trace!(mode, busy, log, done, "WAL checkpoint");
    Ok(busy == 0)
}

/// Opens the checkpointer's connection.
pub(crate) fn open_connection(path: &Path, synchronous: super::Synchronous) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    // The checkpoint syncs as this connection's setting says.
    conn.execute_batch(&format!("PRAGMA synchronous = {}", synchronous.pragma()))?;
    Ok(conn)
}
