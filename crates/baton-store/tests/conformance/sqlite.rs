//! Entry points for the SQLite store: a fresh database file per test.

use super::suite;
use super::*;
use baton_store::{SqliteOptions, SqliteStore, Synchronous};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A database path that is deleted (with its WAL files) when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir()
            .join("baton-store-tests")
            .join(format!("{}-{n}-{name}.db", std::process::id()));
        TempDb(path)
    }

    fn open(&self) -> Arc<dyn Store> {
        let opts = SqliteOptions {
            synchronous: Synchronous::Normal,
            readers: 4,
            ..SqliteOptions::new(self.0.clone())
        };
        Arc::new(SqliteStore::open(opts).unwrap())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

macro_rules! sqlite_suite {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let db = TempDb::new(stringify!($name));
                suite::$name(db.open()).await;
            }
        )*
    };
}

every_suite_check!(sqlite_suite);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reopen_sees_everything() {
    let db = TempDb::new("reopen");
    suite::reopen_sees_everything(|| db.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_synchronous_mode_works() {
    let db = TempDb::new("full");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(SqliteOptions {
            synchronous: Synchronous::Full,
            readers: 1,
            ..SqliteOptions::new(db.0.clone())
        })
        .unwrap(),
    );
    suite::commit_roundtrip(store).await;
}

/// Migration 15 on a database from before it: the classifier of every execution comes
/// from the definition it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn classifier_migration_fills_earlier_executions() {
    let db = TempDb::new("classifier_backfill");
    let store = db.open();
    classifier::commit_backfill_cases(&store).await;
    classifier::check_backfill_cases(&store).await;
    drop(store);
    {
        let conn = rusqlite::Connection::open(&db.0).unwrap();
        // Back to version 14: migrations 16 and 17 (task documents) undone as well.
        conn.execute_batch(&format!(
            "{UNDO_WORKFLOW_INPUTS}
             {UNDO_TASK_TEXT}
             DROP INDEX workflows_classifier;
             ALTER TABLE workflows DROP COLUMN classifier;
             PRAGMA user_version = 14;"
        ))
        .unwrap();
    }
    classifier::check_backfill_cases(&db.open()).await;
}

/// Migration 16 on a database from before it: the search documents of the tasks
/// already stored are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_text_migration_fills_earlier_tasks() {
    let db = TempDb::new("task_text_backfill");
    let store = db.open();
    task_free_text::commit_backfill_cases(&store).await;
    task_free_text::check_backfill_cases(&store).await;
    drop(store);
    {
        let conn = rusqlite::Connection::open(&db.0).unwrap();
        conn.execute_batch(&format!(
            "{UNDO_WORKFLOW_INPUTS} {UNDO_TASK_TEXT} PRAGMA user_version = 15;"
        ))
        .unwrap();
    }
    task_free_text::check_backfill_cases(&db.open()).await;
}

/// Migration 19 on a database from before it: a search document written from the input's
/// old column is left as it was and still finds the input; the first change of status after
/// it rebuilds the document from the input's new table, which still holds the input.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn input_migration_keeps_what_free_text_finds() {
    use baton_store::WorkflowQuery;
    use suite::{def, insert, one, update, workflow};
    let db = TempDb::new("input_backfill");
    let d = Arc::new(def("inputs", 1));
    let store = db.open();
    let wf = workflow("wf-before-19", "inputs");
    store
        .commit(one(insert(wf.clone(), &d, vec![])))
        .await
        .unwrap();
    drop(store);
    {
        // Back to version 18, and an input given there: the old update trigger writes the
        // document from the column.
        let conn = rusqlite::Connection::open(&db.0).unwrap();
        conn.execute_batch(&format!(
            "{UNDO_WORKFLOW_INPUTS}
             UPDATE workflows SET input_json = '{{\"k\":\"needle-of-18\"}}'
              WHERE workflow_id = 'wf-before-19';
             PRAGMA user_version = 18;"
        ))
        .unwrap();
    }
    let found = |store: Arc<dyn Store>, text: &'static str| async move {
        let q = WorkflowQuery {
            free_text: Some(text.to_string()),
            limit: 10,
            ..Default::default()
        };
        let (_, page) = store.search_workflows(&q).await.unwrap();
        page.into_iter().map(|w| w.workflow_id).collect::<Vec<_>>()
    };
    let store = db.open();
    assert_eq!(found(store.clone(), "needle-of-18").await, ["wf-before-19"]);
    let stored = store.load_workflow("wf-before-19").await.unwrap().unwrap();
    assert_eq!(stored.workflow.input["k"], "needle-of-18");
    let mut done = wf;
    done.status = baton_model::WorkflowStatus::Completed;
    let mut write = update(done, &d, stored.version);
    write.keep_input = true;
    store.commit(one(write)).await.unwrap();
    assert_eq!(found(store.clone(), "needle-of-18").await, ["wf-before-19"]);
    assert_eq!(found(store.clone(), "COMPLETED").await, ["wf-before-19"]);
}

/// Migration 19 undone: the input back in its column of `workflows`, the search document's
/// triggers as migration 13 made them.
const UNDO_WORKFLOW_INPUTS: &str = "DROP TRIGGER workflow_inputs_text;
    DROP TRIGGER workflow_inputs_delete;
    DROP TRIGGER workflows_text_insert;
    DROP TRIGGER workflows_text_update;
    ALTER TABLE workflows ADD COLUMN input_json TEXT;
    UPDATE workflows SET input_json =
        (SELECT input_json FROM workflow_inputs i WHERE i.workflow_id = workflows.workflow_id);
    DROP TABLE workflow_inputs;
    CREATE TRIGGER workflows_text_insert AFTER INSERT ON workflows BEGIN
        INSERT INTO workflows_text (rowid, doc)
        VALUES (NEW.rowid,
                NEW.workflow_id || char(10) || COALESCE(NEW.correlation_id, '') || char(10)
                    || NEW.name || char(10) || NEW.status || char(10)
                    || COALESCE(NEW.input_json, '') || char(10)
                    || COALESCE(json_extract(NEW.json, '$.output'), '') || char(10)
                    || COALESCE(json_extract(NEW.json, '$.reasonForIncompletion'), ''));
    END;
    CREATE TRIGGER workflows_text_update AFTER UPDATE OF status, correlation_id, input_json
    ON workflows BEGIN
        UPDATE workflows_text
           SET doc = NEW.workflow_id || char(10) || COALESCE(NEW.correlation_id, '') || char(10)
                     || NEW.name || char(10) || NEW.status || char(10)
                     || COALESCE(NEW.input_json, '') || char(10)
                     || COALESCE(json_extract(NEW.json, '$.output'), '') || char(10)
                     || COALESCE(json_extract(NEW.json, '$.reasonForIncompletion'), '')
         WHERE rowid = NEW.rowid;
    END;";

/// What migrations 16 and 17 add: task search documents, their queue, `text_hash`.
const UNDO_TASK_TEXT: &str = "DROP TRIGGER tasks_text_flush;
    DROP TRIGGER tasks_text_delete;
    DROP TABLE tasks_text_pending;
    DROP TABLE tasks_text;
    ALTER TABLE tasks DROP COLUMN text_hash;";

/// Input and output past `task_text_bytes` are not in a task's search document; 0 leaves
/// them out, the ids and names stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_text_bytes_bounds_what_task_search_matches() {
    for (bound, name) in [(0, "text_bound_0"), (64, "text_bound_64")] {
        let db = TempDb::new(name);
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(SqliteOptions {
                task_text_bytes: bound,
                ..SqliteOptions::new(db.0.clone())
            })
            .unwrap(),
        );
        task_free_text::check_text_bound(&store, bound).await;
    }
}

#[test]
fn rejects_a_database_from_a_newer_baton() {
    let db = TempDb::new("newer");
    drop(SqliteStore::open_path(&db.0).unwrap());
    {
        let conn = rusqlite::Connection::open(&db.0).unwrap();
        conn.execute_batch("PRAGMA user_version = 999").unwrap();
    }
    let err = SqliteStore::open_path(&db.0).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn creates_missing_directories() {
    let db = TempDb::new("dirs");
    let nested = db.0.with_extension("d").join("a").join("b.db");
    let store = SqliteStore::open_path(&nested).unwrap();
    assert_eq!(store.path(), nested);
    drop(store);
    assert!(nested.exists());
    let _ = std::fs::remove_dir_all(db.0.with_extension("d"));
}
