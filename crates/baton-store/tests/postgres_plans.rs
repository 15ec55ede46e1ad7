//! A connection keeps each prepared statement's generic plan for its lifetime. Plans made while
//! the tables were small must not read the whole table once it has grown (ADR 29): the
//! claim's queue deletion, the commit's row locks and updates stay on their indexes, and no
//! join reads a whole key index. (The test forces generic plans from the first run; it does
//! not reproduce every plan a long-lived connection may settle on.)

use std::time::{Duration, Instant};

#[path = "support/pg_fixtures.rs"]
mod fixtures;
#[path = "support/pg.rs"]
mod pg;
use fixtures::*;

const FILLER: i64 = 5_000;

/// Starts a workflow of four tasks, claims them and completes them: a start, a claim and
/// an update (workflow row, its document, task rows and theirs).
async fn round(store: &dyn baton_store::Store, n: usize) {
    let id = format!("wf-{n}");
    let tasks = (0..4)
        .map(|i| task(&id, &format!("{id}-t{i}"), i, "job"))
        .collect();
    let mut start = insert(&id, tasks);
    store.commit(start.clone()).await.expect("commit");
    let claimed = store.poll(poll_req("job", 4, "w")).await.expect("poll");
    assert_eq!(claimed.tasks.len(), 4, "round {n} claims its four tasks");
    let mut done = start.workflows.remove(0);
    done.expected_version = Some(1);
    done.queue_push.clear();
    done.workflow.status = baton_model::WorkflowStatus::Completed;
    done.keep_input = true;
    done.tasks = writes(
        claimed
            .tasks
            .into_iter()
            .map(|mut t| {
                t.status = baton_model::TaskStatus::Completed;
                t.output_data.insert("n".into(), serde_json::json!(n));
                t
            })
            .collect(),
    );
    let update = baton_store::Commit {
        workflows: vec![done],
        ..Default::default()
    };
    store.commit(update).await.expect("update");
}

/// Index entries read through `index` so far, as the statistics system has them.
async fn index_reads(c: &tokio_postgres::Client, index: &str) -> i64 {
    c.query_one(
        "SELECT COALESCE(idx_tup_read, 0) FROM pg_stat_user_indexes WHERE indexrelname = $1",
        &[&index],
    )
    .await
    .expect("index statistics")
    .get(0)
}

/// Index scans through `index` so far, as the statistics system has them.
async fn index_scans(c: &tokio_postgres::Client, index: &str) -> i64 {
    c.query_one(
        "SELECT COALESCE(idx_scan, 0) FROM pg_stat_user_indexes WHERE indexrelname = $1",
        &[&index],
    )
    .await
    .expect("index statistics")
    .get(0)
}

/// Free text on executions and on tasks, on the plans of the smallest tables, goes through
/// the trigram indexes on the documents' keys (migration 16), where the server has pg_trgm:
/// searches run until the statistics show a scan of each.
async fn free_text_reads_the_key_indexes(
    store: &dyn baton_store::Store,
    c: &tokio_postgres::Client,
) {
    let trigrams: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')",
            &[],
        )
        .await
        .expect("extensions")
        .get(0);
    if !trigrams {
        eprintln!("no pg_trgm: the key indexes are not there to check");
        return;
    }
    let indexes = ["workflow_texts_search_key", "task_texts_search_key"];
    let mut before = Vec::new();
    for index in indexes {
        before.push(index_scans(c, index).await);
    }
    let workflows = baton_store::WorkflowQuery {
        free_text: Some("wf-42".into()),
        limit: 10,
        ..Default::default()
    };
    let tasks = baton_store::TaskQuery {
        free_text: Some("-t2_ref".into()),
        limit: 10,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (n, page) = store.search_workflows(&workflows).await.expect("search");
        assert_eq!((n, page.len()), (1, 1), "wf-42 by free text");
        let (n, _) = store.search_tasks(&tasks).await.expect("search tasks");
        assert_eq!(n, 60, "a task of every round by free text");
        let mut scanned = true;
        for (index, before) in indexes.into_iter().zip(&before) {
            scanned &= index_scans(c, index).await > *before;
        }
        if scanned {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "statistics never showed free text reading {indexes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (sequentially read rows, rows deleted) of `table`, as the statistics system has them.
async fn table_stats(c: &tokio_postgres::Client, table: &str) -> (i64, i64) {
    let row = c
        .query_one(
            "SELECT COALESCE(seq_tup_read, 0), n_tup_del FROM pg_stat_user_tables
             WHERE relname = $1",
            &[&table],
        )
        .await
        .expect("table statistics");
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_planned_on_small_tables_stay_on_their_indexes() {
    let Some(db) = pg::PgDb::create("plans_stay_indexed").await else {
        return;
    };
    // Every statement on a generic plan from its first run, as a connection may choose after
    // five: the plans this test checks are then the ones made on the smallest tables.
    let admin = db.client().await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET plan_cache_mode = force_generic_plan",
            db.name
        ))
        .await
        .expect("generic plans for the test database");
    drop(admin);
    let store = db.open().await;
    // Well past the five executions after which a connection may keep a generic plan.
    for n in 0..30 {
        round(store.as_ref(), n).await;
    }

    let sql = db.client().await;
    // Rows no statement of this test asks for, only there to make the tables large. Made
    // from a series, never read from the tables: this connection may report its own reads
    // after the counts below are taken.
    sql.batch_execute(&format!(
        "INSERT INTO tasks (task_id, workflow_id, seq, ref_name, task_type, task_def_name,
             status, json)
         SELECT 'filler-' || g, 'filler', g, 'f', 'other', 'other', 'SCHEDULED', '{{}}'
         FROM generate_series(1, {FILLER}) g;
         INSERT INTO queue (task_id, queue_name, workflow_id, priority, visible_at)
         SELECT 'filler-' || g, 'other', 'filler', 0, {NOW} FROM generate_series(1, {FILLER}) g;
         INSERT INTO workflows (workflow_id, name, def_version, status, start_time,
             update_time, end_time, priority, def_hash, version, json)
         SELECT 'filler-' || g, 'other', 1, 'RUNNING', {NOW}, {NOW}, 0, 0, 'h', 1, '{{}}'
         FROM generate_series(1, {FILLER}) g;
         INSERT INTO workflow_texts (workflow_id, start_time, status, search_text, search_key)
         SELECT 'filler-' || g, {NOW}, 'RUNNING', 'filler-' || g, 'fillerq' || g
         FROM generate_series(1, {FILLER}) g;
         INSERT INTO task_texts (task_id, row_id, search_text, search_key)
         SELECT 'filler-' || g, -g, 'filler-' || g, 'fillerq' || g
         FROM generate_series(1, {FILLER}) g;
         ANALYZE;"
    ))
    .await
    .expect("fill the tables");
    let texts_before = [
        table_stats(&sql, "workflow_texts").await.0,
        table_stats(&sql, "task_texts").await.0,
    ];
    let (tasks_before, _) = table_stats(&sql, "tasks").await;
    let (queue_before, _) = table_stats(&sql, "queue").await;
    let (workflows_before, _) = table_stats(&sql, "workflows").await;
    let keys = [
        "tasks_pkey",
        "workflows_pkey",
        "task_texts_pkey",
        "workflow_texts_pkey",
    ];
    let mut keys_before = Vec::new();
    for index in keys {
        keys_before.push(index_reads(&sql, index).await);
    }

    for n in 30..60 {
        round(store.as_ref(), n).await;
    }
    // A backend reports its counts when a transaction ends a second or more after its last
    // report (else after ten idle seconds): keep the store's connections busy with empty
    // polls until the queue's statistics show all 240 claimed entries deleted, then read
    // what was scanned.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        store.poll(poll_req("job", 1, "w")).await.expect("poll");
        let (_, deleted) = table_stats(&sql, "queue").await;
        if deleted >= 240 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "statistics never showed the claims ({deleted} of 240 deletions)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    free_text_reads_the_key_indexes(store.as_ref(), &sql).await;
    let texts_after = [
        table_stats(&sql, "workflow_texts").await.0,
        table_stats(&sql, "task_texts").await.0,
    ];
    for (before, after) in texts_before.into_iter().zip(texts_after) {
        assert!(
            after - before < FILLER,
            "free text read its documents sequentially ({} rows)",
            after - before
        );
    }
    let (tasks_after, _) = table_stats(&sql, "tasks").await;
    let (queue_after, _) = table_stats(&sql, "queue").await;
    assert!(
        tasks_after - tasks_before < FILLER,
        "statements read the grown tasks table sequentially ({} rows)",
        tasks_after - tasks_before
    );
    assert!(
        queue_after - queue_before < FILLER,
        "statements read the grown queue sequentially ({} rows)",
        queue_after - queue_before
    );
    let (workflows_after, _) = table_stats(&sql, "workflows").await;
    assert!(
        workflows_after - workflows_before < FILLER,
        "statements read the grown workflows table sequentially ({} rows)",
        workflows_after - workflows_before
    );
    // A join by hash over a whole key index reads every entry; 30 rounds of bounded
    // statements read a few hundred.
    for (index, before) in keys.into_iter().zip(keys_before) {
        let read = index_reads(&sql, index).await - before;
        assert!(
            read < FILLER,
            "statements read the whole {index} ({read} entries in 30 rounds)"
        );
    }
}

/// The claim's and the commit's transactions run on generic plans (ADR 29, second
/// amendment), seen from inside them: a statement trigger on `tasks` (starts insert task
/// rows, claims and completions update them) records the setting in effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_and_commits_plan_generically() {
    let Some(db) = pg::PgDb::create("plans_generic_scope").await else {
        return;
    };
    let store = db.open().await;
    let admin = db.client().await;
    // The database's default, which the transactions override.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET plan_cache_mode = force_custom_plan",
            db.name
        ))
        .await
        .expect("custom plans by default");
    admin
        .batch_execute(
            "CREATE TABLE seen_plan_modes (op text, mode text);
             CREATE FUNCTION record_plan_mode() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO seen_plan_modes VALUES (TG_OP, current_setting('plan_cache_mode'));
                 RETURN NULL;
             END $$;
             CREATE TRIGGER record_plan_mode AFTER INSERT OR UPDATE ON tasks
                 FOR EACH STATEMENT EXECUTE FUNCTION record_plan_mode();",
        )
        .await
        .expect("a trigger that records the plan mode");
    round(store.as_ref(), 0).await;
    let modes: Vec<(String, String)> = admin
        .query("SELECT op, mode FROM seen_plan_modes", &[])
        .await
        .expect("recorded modes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // The start inserts, the claim and the completion update.
    assert!(
        modes.iter().any(|(op, _)| op == "INSERT") && modes.iter().any(|(op, _)| op == "UPDATE"),
        "{modes:?}"
    );
    assert!(
        modes.iter().all(|(_, mode)| mode == "force_generic_plan"),
        "{modes:?}"
    );
}
