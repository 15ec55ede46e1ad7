//! Entry points for the PostgreSQL store: a fresh database per test.

use super::suite;
use super::*;

macro_rules! postgres_suite {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(db) = pg::PgDb::create_migrated(stringify!($name)).await else {
                    return;
                };
                suite::$name(db.open().await).await;
            }
        )*
    };
}

every_suite_check!(postgres_suite);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reopen_sees_everything() {
    let Some(db) = pg::PgDb::create("reopen").await else {
        return;
    };
    // The suite opens synchronously; each handle is opened up front on this runtime.
    let first = db.open().await;
    let second = db.open().await;
    let handles = std::sync::Mutex::new(vec![second, first]);
    suite::reopen_sees_everything(|| handles.lock().unwrap().pop().expect("opened twice at most"))
        .await;
}

/// Undoes migration 16: the documents without their keys, under trigram indexes of their
/// own. Every rewind starts with it (a database from before 16 has no keys).
const UNDO_FREE_TEXT_KEYS: &str = "
    DROP INDEX IF EXISTS workflow_texts_search_key;
    DROP INDEX IF EXISTS task_texts_search_key;
    ALTER TABLE workflow_texts DROP COLUMN search_key;
    ALTER TABLE task_texts DROP COLUMN search_key;
    DROP FUNCTION baton_search_key(text);
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
            CREATE INDEX workflow_texts_search ON workflow_texts
                USING gin (search_text gin_trgm_ops);
            CREATE INDEX task_texts_search ON task_texts USING gin (search_text gin_trgm_ops);
        END IF;
    END $$;";

/// Undoes migration 14: the workflow documents back in a column of `workflows`, in
/// their case, as migration 7 wrote them (a rewind to a version before 14 starts with
/// it).
const UNDO_WORKFLOW_TEXTS: &str = "
    ALTER TABLE workflows ADD COLUMN search_text text;
    UPDATE workflows
       SET search_text = workflow_id || E'\\n' || COALESCE(correlation_id, '') || E'\\n'
               || name || E'\\n' || status || E'\\n' || COALESCE(input_json::text, '')
               || E'\\n' || COALESCE((json -> 'output')::text, '') || E'\\n'
               || COALESCE(json ->> 'reasonForIncompletion', '');
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
            CREATE INDEX workflows_search ON workflows USING gin (search_text gin_trgm_ops);
        END IF;
    END $$;
    DROP TRIGGER workflow_texts_delete ON workflows;
    DROP FUNCTION workflow_texts_delete();
    DROP TABLE workflow_texts;";

/// A migration on a database from before it: this build stores `commit`'s cases and
/// `check` finds them; `undo` takes the database back to before the migration (its rows
/// as an earlier build left them), and `check` must find them again once a store has
/// migrated it anew. The database, for checks of its own; None without a server.
async fn migrated_anew(
    test: &str,
    undo: &str,
    commit: impl AsyncFnOnce(&Arc<dyn Store>),
    check: impl AsyncFn(&Arc<dyn Store>),
) -> Option<pg::PgDb> {
    let db = pg::PgDb::create(test).await?;
    let store = db.open().await;
    commit(&store).await;
    check(&store).await;
    drop(store);
    rewind(&db, &format!("{UNDO_FREE_TEXT_KEYS}{undo}")).await;
    check(&db.open().await).await;
    Some(db)
}

/// Migration 10 on a database from before it: the classifier of every execution comes
/// from the definition it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn classifier_migration_fills_earlier_executions() {
    // Back to version 9: migrations 12 to 14 undone as well; 11 runs again.
    migrated_anew(
        "classifier_backfill",
        &format!(
            "{UNDO_WORKFLOW_TEXTS}
             DROP TRIGGER task_texts_delete ON tasks;
             DROP FUNCTION task_texts_delete();
             DROP TABLE task_texts;
             DROP INDEX workflows_classifier;
             ALTER TABLE workflows DROP COLUMN classifier;
             DELETE FROM baton_schema_migrations WHERE version >= 10;"
        ),
        classifier::commit_backfill_cases,
        classifier::check_backfill_cases,
    )
    .await;
}

/// Migration 12 on a database from before it: the search documents of the tasks
/// already stored are written, including one whose JSON holds an escaped NUL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_text_migration_fills_earlier_tasks() {
    migrated_anew(
        "task_text_backfill",
        &format!(
            "{UNDO_WORKFLOW_TEXTS}
             DROP TRIGGER task_texts_delete ON tasks;
             DROP FUNCTION task_texts_delete();
             DROP TABLE task_texts;
             DELETE FROM baton_schema_migrations WHERE version >= 12;"
        ),
        task_free_text::commit_backfill_cases,
        task_free_text::check_backfill_cases,
    )
    .await;
}

/// Migration 13 on a database from before it: the documents already stored get their
/// task's row id, by which free text orders its pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_text_order_migration_keeps_earlier_documents() {
    // The documents as migration 12 left them: no row id.
    migrated_anew(
        "task_text_order",
        &format!(
            "{UNDO_WORKFLOW_TEXTS}
             CREATE TABLE texts_12 AS SELECT task_id, search_text FROM task_texts;
             DROP TABLE task_texts;
             ALTER TABLE texts_12 RENAME TO task_texts;
             ALTER TABLE task_texts ADD PRIMARY KEY (task_id);
             DELETE FROM baton_schema_migrations WHERE version >= 13;"
        ),
        task_free_text::commit_backfill_cases,
        task_free_text::check_backfill_cases,
    )
    .await;
}

/// Migration 15 on a database from before it: documents written in their own case are
/// folded, so free text, which now folds only its own case, still finds them. (The rewind
/// writes them in upper case: a migration that left them would fail the checks.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_texts_migration_folds_earlier_documents() {
    migrated_anew(
        "task_texts_lower",
        "UPDATE task_texts SET search_text = upper(search_text);
         DELETE FROM baton_schema_migrations WHERE version >= 15;",
        task_free_text::commit_backfill_cases,
        task_free_text::check_backfill_cases,
    )
    .await;
}

/// Migration 14 on a database from before it: every workflow's document moves to
/// `workflow_texts` with its start time and status, by which free text pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workflow_texts_migration_keeps_earlier_documents() {
    let Some(db) = migrated_anew(
        "workflow_texts",
        &format!(
            "{UNDO_WORKFLOW_TEXTS}
             DELETE FROM baton_schema_migrations WHERE version >= 14;"
        ),
        free_text_pages::commit_backfill_cases,
        free_text_pages::check_backfill_cases,
    )
    .await
    else {
        return;
    };
    let client = db.client().await;
    // A row per workflow, with the start time and status of its workflow.
    let differ: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM workflows w
             FULL JOIN workflow_texts d ON d.workflow_id = w.workflow_id
             WHERE d.workflow_id IS NULL OR w.workflow_id IS NULL
                OR d.start_time <> w.start_time OR d.status <> w.status",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        differ, 0,
        "workflow_texts rows that differ from their workflows"
    );
    let rows: i64 = client
        .query_one("SELECT COUNT(*) FROM workflow_texts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 59, "the 60 workflows less the one removed");
}

/// Migration 16 on a database from before it: every document gets its key (each ASCII
/// character other than a letter or a digit as `q`, as the commit writes it), the trigram
/// indexes move to the keys, and free text with punctuation finds what it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn free_text_keys_migration_keys_earlier_documents() {
    let Some(db) = migrated_anew(
        "free_text_keys",
        "DELETE FROM baton_schema_migrations WHERE version >= 16;",
        punctuation::commit_punctuation_cases,
        punctuation::check_punctuation_cases,
    )
    .await
    else {
        return;
    };
    let client = db.client().await;
    assert_keys_of_documents(&client, 10).await;
    let trigrams: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let indexes: Vec<String> = client
        .query(
            "SELECT indexname FROM pg_indexes
             WHERE tablename IN ('workflow_texts', 'task_texts') AND indexdef LIKE '%gin%'
             ORDER BY indexname",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: &[&str] = if trigrams {
        &["task_texts_search_key", "workflow_texts_search_key"]
    } else {
        &[]
    };
    assert_eq!(indexes, expected, "trigram indexes on the keys alone");
}

/// Each stored search key is its document with every ASCII character other than a letter
/// or a digit as `q` (the documents of five executions and their tasks stored, `documents`
/// in all), and `baton_search_key` maps each ASCII character so.
async fn assert_keys_of_documents(client: &tokio_postgres::Client, documents: usize) {
    let key = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_alphanumeric() {
                    'q'
                } else {
                    c
                }
            })
            .collect()
    };
    // Every ASCII character but NUL (which text cannot hold), then the stored documents.
    let chars = client
        .query(
            "SELECT chr(c), baton_search_key(chr(c)) FROM generate_series(1, 127) c",
            &[],
        )
        .await
        .unwrap();
    let stored = client
        .query(
            "SELECT search_text, search_key FROM workflow_texts
             UNION ALL SELECT search_text, search_key FROM task_texts",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), documents, "documents stored");
    for row in chars.iter().chain(&stored) {
        let (text, stored): (String, String) = (row.get(0), row.get(1));
        assert_eq!(stored, key(&text), "the key of {text:?}");
    }
}

/// The keys the commit writes (made in Rust, and in SQL for a kept input) are the keys of
/// their documents: at a start, and at an update that rewrites the document of an execution
/// whose input it keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commit_writes_the_keys_of_its_documents() {
    let Some(db) = pg::PgDb::create("commit_keys").await else {
        return;
    };
    let store = db.open().await;
    punctuation::commit_punctuation_cases(&store).await;
    let client = db.client().await;
    assert_keys_of_documents(&client, 10).await;
    let state = store.load_workflow("wp-1").await.unwrap().unwrap();
    let (mut wf, version) = (state.workflow, state.version);
    wf.status = baton_model::WorkflowStatus::Failed;
    wf.reason_for_incompletion = Some("Disk-Full: /var (done!)".into());
    let d = Arc::new(suite::def("punct", 1));
    let mut done = suite::update(wf, &d, version);
    done.keep_input = true;
    store.commit(suite::one(done)).await.unwrap();
    assert_keys_of_documents(&client, 10).await;
    punctuation::check_punctuation_cases(&store).await;
    let q = baton_store::WorkflowQuery {
        free_text: Some("disk-full: /var (done!)".into()),
        limit: 10,
        ..Default::default()
    };
    let (n, page) = store.search_workflows(&q).await.unwrap();
    assert_eq!((n, page[0].workflow_id.as_str()), (1, "wp-1"));
}

/// Undoes migrations on `db` with `sql`, as a database from before them would be.
async fn rewind(db: &pg::PgDb, sql: &str) {
    let client = db.client().await;
    client.batch_execute(sql).await.unwrap();
}
