//! A connection keeps each prepared statement's generic plan for its lifetime. Plans made while
//! the tables were small must not read the whole table once it has grown (ADR 29): the
//! claim's queue deletion, the commit's row locks and updates stay on their indexes.

use std::time::{Duration, Instant};

#[path = "support/pg_fixtures.rs"]
mod fixtures;
#[path = "support/pg.rs"]
mod pg;
use fixtures::*;

const FILLER: i64 = 5_000;

/// Starts a workflow of four tasks and claims them: a commit and a claim.
async fn round(store: &dyn baton_store::Store, n: usize) {
    let id = format!("wf-{n}");
    let tasks = (0..4)
        .map(|i| task(&id, &format!("{id}-t{i}"), i, "job"))
        .collect();
    store.commit(insert(&id, tasks)).await.expect("commit");
    let claimed = store.poll(poll_req("job", 4, "w")).await.expect("poll");
    assert_eq!(claimed.tasks.len(), 4, "round {n} claims its four tasks");
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
    let store = db.open().await;
    // Well past the five executions after which a connection may keep a generic plan.
    for n in 0..30 {
        round(store.as_ref(), n).await;
    }

    let (sql, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(conn);
    // Rows no statement of this test asks for, only there to make the tables large.
    sql.batch_execute(&format!(
        "INSERT INTO tasks (task_id, workflow_id, seq, ref_name, task_type, task_def_name,
             status, json)
         SELECT 'filler-' || g, 'filler', g, 'f', 'other', 'other', 'SCHEDULED', '{{}}'
         FROM generate_series(1, {FILLER}) g;
         INSERT INTO queue (task_id, queue_name, workflow_id, priority, visible_at)
         SELECT 'filler-' || g, 'other', 'filler', 0, {NOW} FROM generate_series(1, {FILLER}) g;"
    ))
    .await
    .expect("fill the tables");
    let (tasks_before, _) = table_stats(&sql, "tasks").await;
    let (queue_before, _) = table_stats(&sql, "queue").await;

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
}
