//! Where a test server keeps its data: a directory (the SQLite file) and, on PostgreSQL, a
//! database of its own. Both outlive a stopped server, so a restart reopens them, and both
//! go when the last owner (a server, or the test holding a stopped server's store) drops it.

use super::pg;
use std::path::Path;

pub struct StoreDir {
    /// Declared first so it drops first: the database before the directory.
    database: Option<pg::PgDb>,
    dir: tempfile::TempDir,
}

impl From<tempfile::TempDir> for StoreDir {
    /// A directory; a server opened on it makes a PostgreSQL database of its own when
    /// `BATON_TEST_BACKEND=postgres`.
    fn from(dir: tempfile::TempDir) -> StoreDir {
        StoreDir {
            database: None,
            dir,
        }
    }
}

impl StoreDir {
    /// A fresh directory with a fresh PostgreSQL database, whatever `BATON_TEST_BACKEND`
    /// says; `None` (after saying so) when no PostgreSQL answers.
    pub async fn on_postgres(test: &str) -> Option<StoreDir> {
        let database = pg::PgDb::create_migrated(test).await?;
        Some(StoreDir {
            database: Some(database),
            dir: tempfile::tempdir().expect("tempdir"),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The name of the PostgreSQL database, if the store has one.
    pub fn database(&self) -> Option<&str> {
        self.database.as_ref().map(|db| db.name.as_str())
    }

    /// The URL of the store's PostgreSQL database, made on first use.
    pub(super) async fn postgres_url(&mut self) -> String {
        if self.database.is_none() {
            let db = pg::PgDb::create_migrated("http")
                .await
                .expect("BATON_TEST_BACKEND=postgres needs a reachable PostgreSQL");
            self.database = Some(db);
        }
        self.database.as_ref().expect("made above").url.clone()
    }

    pub(super) fn is_postgres(&self) -> bool {
        self.database.is_some()
    }
}
