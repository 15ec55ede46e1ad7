//! A connection keeps each prepared statement's generic plan for its lifetime. Plans made while
//! the tables were small must not read the whole table once it has grown (ADR 29): the
//! claim's queue deletion, the commit's row locks and updates stay on their indexes.

use baton_model::{QueueEntry, Task, TaskStatus, Workflow, WorkflowDef, WorkflowStatus};
use baton_store::{Commit, PollRequest, Store, WorkflowWrite};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/pg.rs"]
mod pg;

const NOW: i64 = 1_700_000_000_000;
const FILLER: i64 = 20_000;

fn start(id: &str, tasks: usize) -> Commit {
    let def: Arc<WorkflowDef> = Arc::new(
        serde_json::from_value(serde_json::json!({"name": "plans", "version": 1}))
            .expect("definition"),
    );
    let tasks: Vec<Task> = (0..tasks)
        .map(|i| Task {
            task_id: format!("{id}-t{i}"),
            workflow_instance_id: id.to_string(),
            task_type: "job".to_string(),
            task_def_name: "job".to_string(),
            reference_task_name: format!("t{i}"),
            seq: i32::try_from(i).unwrap_or(0),
            status: TaskStatus::Scheduled,
            scheduled_time: NOW,
            response_timeout_seconds: 30,
            ..Default::default()
        })
        .collect();
    let queue_push = tasks
        .iter()
        .map(|t| QueueEntry {
            queue: t.queue_name(),
            task_id: t.task_id.clone(),
            workflow_id: id.to_string(),
            priority: 0,
            visible_at: NOW,
        })
        .collect();
    Commit {
        workflows: vec![WorkflowWrite {
            workflow: Workflow {
                workflow_id: id.to_string(),
                workflow_name: "plans".to_string(),
                workflow_version: 1,
                status: WorkflowStatus::Running,
                start_time: NOW,
                ..Default::default()
            },
            def,
            expected_version: None,
            tasks,
            removed_tasks: vec![],
            queue_push,
            queue_remove: vec![],
            history: vec![],
            next_wake_at: None,
            keep_input: false,
        }],
        ..Default::default()
    }
}

/// Starts a workflow of four tasks and claims them: a commit and a claim.
async fn round(store: &dyn Store, n: usize) {
    store
        .commit(start(&format!("wf-{n}"), 4))
        .await
        .expect("commit");
    let claimed = store
        .poll(PollRequest {
            queue: "job".to_string(),
            count: 4,
            worker_id: Some("w".to_string()),
            domain: None,
            now: NOW,
            limits: Default::default(),
            registered: true,
            claim: baton_engine::claim::claim,
        })
        .await
        .expect("poll");
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
    // Each backend reports its counts within about a second of going idle: wait until the
    // queue's statistics show all 240 claimed entries deleted, then read what was scanned.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
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
