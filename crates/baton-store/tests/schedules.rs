//! The schedule rows of both stores: put/get/list/delete, the due query, and the
//! compare-and-set claim that lets exactly one node fire each due time.

use baton_model::StartWorkflowRequest;
use baton_store::{CatchupPolicy, SqliteStore, Store, StoreError, WorkflowSchedule};
use std::path::PathBuf;
use std::sync::Arc;

#[path = "support/pg.rs"]
mod pg;

/// A fresh directory for one test's database, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir()
            .join("baton-store-tests")
            .join(format!("{}-schedules-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn schedule(name: &str, next: Option<i64>) -> WorkflowSchedule {
    WorkflowSchedule {
        name: name.to_string(),
        cron_expression: "*/1 * * * * *".to_string(),
        start_workflow_request: StartWorkflowRequest {
            name: "wf".to_string(),
            ..StartWorkflowRequest::default()
        },
        paused: false,
        paused_reason: None,
        schedule_start_time: None,
        schedule_end_time: None,
        zone_id: "UTC".to_string(),
        catchup_policy: Some(CatchupPolicy::All),
        run_catchup_schedule_instances: true,
        description: None,
        created_by: None,
        updated_by: None,
        create_time: 1,
        updated_time: 2,
        next_run_time: next,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_list_due_claim_delete() {
    let dir = TempDir::new("crud");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_path(dir.path().join("s.db")).unwrap());
    crud(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_list_due_claim_delete_on_postgres() {
    let Some(db) = pg::PgDb::create("schedules_crud").await else {
        return;
    };
    crud(db.open().await).await;
}

async fn crud(store: Arc<dyn Store>) {
    store
        .put_schedule(schedule("b", Some(2_000)))
        .await
        .unwrap();
    store
        .put_schedule(schedule("a", Some(1_000)))
        .await
        .unwrap();
    let mut paused = schedule("c", Some(500));
    paused.paused = true;
    store.put_schedule(paused).await.unwrap();
    store.put_schedule(schedule("d", None)).await.unwrap();

    let got = store.get_schedule("a").await.unwrap().unwrap();
    assert_eq!(got, schedule("a", Some(1_000)));
    assert!(store.get_schedule("zz").await.unwrap().is_none());
    let names: Vec<String> = store
        .list_schedules()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["a", "b", "c", "d"]);

    // Due: unpaused, with a next run at or before now, earliest first.
    let due = |now| {
        let store = store.clone();
        async move {
            store
                .due_schedules(now, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(due(999).await, Vec::<String>::new());
    assert_eq!(due(1_000).await, ["a"]);
    assert_eq!(due(5_000).await, ["a", "b"]);
    assert_eq!(store.next_schedule_run_at().await.unwrap(), Some(1_000));

    // The claim is a compare-and-set on the next run.
    assert!(store
        .claim_due_schedule_run("a", 1_000, Some(3_000))
        .await
        .unwrap());
    assert!(!store
        .claim_due_schedule_run("a", 1_000, Some(4_000))
        .await
        .unwrap());
    assert_eq!(
        store
            .get_schedule("a")
            .await
            .unwrap()
            .unwrap()
            .next_run_time,
        Some(3_000)
    );
    assert!(store
        .claim_due_schedule_run("b", 2_000, None)
        .await
        .unwrap());
    assert_eq!(due(10_000).await, ["a"]);
    assert!(!store
        .claim_due_schedule_run("zz", 1, Some(2))
        .await
        .unwrap());

    store.delete_schedule("a").await.unwrap();
    assert!(matches!(
        store.delete_schedule("a").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(!store
        .claim_due_schedule_run("a", 3_000, Some(4_000))
        .await
        .unwrap());
}

/// Many concurrent claimers over two store handles on one file: each due time is won once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_from_two_handles_win_once() {
    let dir = TempDir::new("race");
    let path = dir.path().join("race.db");
    let one: Arc<dyn Store> = Arc::new(SqliteStore::open_path(&path).unwrap());
    let two: Arc<dyn Store> = Arc::new(SqliteStore::open_path(&path).unwrap());
    race(one, two).await;
}

/// The same over two PostgreSQL store handles (two pools) on one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_from_two_handles_win_once_on_postgres() {
    let Some(db) = pg::PgDb::create("schedules_race").await else {
        return;
    };
    race(db.open().await, db.open().await).await;
}

async fn race(one: Arc<dyn Store>, two: Arc<dyn Store>) {
    one.put_schedule(schedule("r", Some(0))).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { one.clone() } else { two.clone() };
        handles.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for due in 0..50i64 {
                if store
                    .claim_due_schedule_run("r", due, Some(due + 1))
                    .await
                    .unwrap()
                {
                    won.push(due);
                }
            }
            won
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all.sort();
    // Claims that found the row already past their due time lose; the winners are distinct.
    let mut dedup = all.clone();
    dedup.dedup();
    assert_eq!(all, dedup, "a due time was claimed twice");
    let next = one.get_schedule("r").await.unwrap().unwrap().next_run_time;
    assert_eq!(next, Some(all.len() as i64));
}
