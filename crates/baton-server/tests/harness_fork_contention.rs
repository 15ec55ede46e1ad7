//! Conductor's `DynamicForkJoinLockContentionSpec`, with the same expectations, written for
//! Baton with its own definitions. A dynamic fork's JOIN becomes ready when its last branch
//! ends; the task after the JOIN must then be scheduled at once, also when something else holds
//! the workflow at that moment, instead of the workflow parking until a sweep or a timeout.
//!
//! Conductor's JOIN is completed by a system-task worker that then decides under the workflow
//! lock; a lock miss used to leave the workflow parked. Baton evaluates the JOIN in the decision
//! that takes the branch's result, under the workflow's turn (callers wait for it) and an
//! optimistic version check (a conflicting commit is retried), so there is no lock miss to
//! lose. What the spec holds the lock for, these tests contend with:
//!
//! - control: the last branch's completion completes the JOIN and schedules the next task;
//! - both branches completed at the same moment, with decisions and sweeps requested in
//!   parallel: the same outcome as soon as they have all been answered;
//! - on PostgreSQL, another database session holds the workflow's row locked while the last
//!   branch completes: the completion waits for it and, once released, completes the JOIN and
//!   schedules the next task in its commit (also: two nodes completing the two branches).

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);
const JOIN: &str = "fan_join";

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

/// fc_first → dynamic fork over its output → JOIN → fc_last.
fn definition() -> Value {
    json!({"name": "fc_fan", "version": 1, "tasks": [
        worker("fc_first"),
        {"name": "fan", "taskReferenceName": "fan", "type": "FORK_JOIN_DYNAMIC",
         "inputParameters": {"branches": "${fc_first.output.branches}",
                             "inputs": "${fc_first.output.inputs}"},
         "dynamicForkTasksParam": "branches",
         "dynamicForkTasksInputParamName": "inputs"},
        {"name": JOIN, "taskReferenceName": JOIN, "type": "JOIN"},
        worker("fc_last"),
    ]})
}

/// Starts the workflow and completes fc_first naming two worker branches; answers the id
/// and the two branch tasks, polled (IN_PROGRESS) but not completed.
async fn up_to_the_branches(s: &TestServer) -> (String, Value, Value) {
    s.register_workflow(definition()).await;
    let id = s.start("fc_fan", json!({})).await;
    let first = s.poll_one("fc_first").await;
    s.complete(
        &first,
        json!({
            "branches": [
                {"name": "fc_left", "taskReferenceName": "left", "type": "SIMPLE"},
                {"name": "fc_right", "taskReferenceName": "right", "type": "SIMPLE"},
            ],
            "inputs": {"left": {"k1": "v1"}, "right": {"k2": "v2"}},
        }),
    )
    .await;
    let left = s.poll_one("fc_left").await;
    let right = s.poll_one("fc_right").await;
    assert_eq!(left["inputData"]["k1"], "v1", "{left:#}");
    assert_eq!(right["inputData"]["k2"], "v2", "{right:#}");
    expect_shape(
        &s.workflow(&id).await,
        &[
            ("fc_first", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("fc_left", "IN_PROGRESS"),
            ("fc_right", "IN_PROGRESS"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    (id, left, right)
}

fn completion(task: &Value, marker: &str) -> Value {
    json!({
        "taskId": task["taskId"],
        "workflowInstanceId": task["workflowInstanceId"],
        "workerId": "fc-worker",
        "status": "COMPLETED",
        "outputData": {"ok": marker},
    })
}

/// Read once, without waiting: the JOIN completed with both branches' output and the next
/// task scheduled, exactly once; then the workflow runs to its end.
async fn joined_and_goes_on(s: &TestServer, id: &str) {
    let w = s.workflow(id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(
        &w,
        &[
            ("fc_first", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("fc_left", "COMPLETED"),
            ("fc_right", "COMPLETED"),
            ("JOIN", "COMPLETED"),
            ("fc_last", "SCHEDULED"),
        ],
    );
    let join = &tasks_by_ref(&w, JOIN)[0];
    assert_eq!(join["outputData"]["left"]["ok"], "L", "{join:#}");
    assert_eq!(join["outputData"]["right"]["ok"], "R", "{join:#}");
    // Queued now: a poll that does not wait hands it out.
    let got = s.poll_batch("fc_last", 1, 0).await;
    assert_eq!(
        got.len(),
        1,
        "fc_last was scheduled but not pollable: {w:#}"
    );
    assert_eq!(got[0]["workflowInstanceId"], id);
    s.complete(&got[0], json!({})).await;
    s.wait_for_status(id, "COMPLETED", WAIT).await;
}

#[tokio::test]
async fn control_the_last_branch_completes_the_join_and_schedules_the_next_task() {
    let s = TestServer::spawn().await;
    let (id, left, right) = up_to_the_branches(&s).await;
    s.complete(&left, json!({"ok": "L"})).await;
    let w = s.workflow(&id).await;
    assert_eq!(tasks_by_ref(&w, JOIN)[0]["status"], "IN_PROGRESS", "{w:#}");
    assert!(tasks_by_ref(&w, "fc_last").is_empty(), "{w:#}");
    s.complete(&right, json!({"ok": "R"})).await;
    joined_and_goes_on(&s, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn branches_completed_together_with_decisions_and_sweeps_do_not_park_the_workflow() {
    let s = TestServer::spawn().await;
    let (id, left, right) = up_to_the_branches(&s).await;
    let decide = format!("/workflow/decide/{id}");
    let sweep = format!("/admin/sweep/requeue/{id}");
    let repair = format!("/admin/consistency/verifyAndRepair/{id}");
    let (done_left, done_right) = (completion(&left, "L"), completion(&right, "R"));
    let (l, r, others) = tokio::join!(
        s.update(&done_left),
        s.update(&done_right),
        futures_util::future::join_all(vec![
            s.client.put(s.url(&decide)).send(),
            s.client.post(s.url(&sweep)).send(),
            s.client.post(s.url(&repair)).send(),
            s.client.put(s.url(&decide)).send(),
            s.client.post(s.url(&sweep)).send(),
        ]),
    );
    assert!(l.status().is_success(), "{}", l.status());
    assert!(r.status().is_success(), "{}", r.status());
    for resp in others {
        let resp = resp.expect("request answered");
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    joined_and_goes_on(&s, &id).await;
}

/// The session of another actor on the server's PostgreSQL database.
async fn session(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_completion_waits_for_a_workflow_row_locked_elsewhere_then_schedules_the_next_task() {
    let Some(db) = pg::PgDb::create("fork_contention_lock").await else {
        eprintln!("skipped: no PostgreSQL answers");
        return;
    };
    let s =
        TestServer::on_postgres_database(&db.url, baton_runtime::RuntimeConfig::default()).await;
    let (id, left, right) = up_to_the_branches(&s).await;
    s.complete(&left, json!({"ok": "L"})).await;

    // Another actor takes the workflow's row and keeps it.
    let mut holder = session(&db.url).await;
    let tx = holder.transaction().await.expect("begin");
    let locked = tx
        .query(
            "SELECT version FROM workflows WHERE workflow_id = $1 FOR UPDATE",
            &[&id],
        )
        .await
        .expect("lock the row");
    assert_eq!(locked.len(), 1);

    let body = completion(&right, "R");
    let update = {
        let client = s.client.clone();
        let url = s.url("/tasks");
        tokio::spawn(async move { client.post(url).json(&body).send().await })
    };
    // The completion's commit is waiting on the row lock (seen from the database).
    let watcher = session(&db.url).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            !update.is_finished(),
            "the completion was answered while the row was locked"
        );
        assert!(Instant::now() < deadline, "the completion never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!update.is_finished());
    tx.rollback().await.expect("release the row");

    let resp = update.await.expect("join").expect("answered");
    assert!(resp.status().is_success(), "{}", resp.status());
    joined_and_goes_on(&s, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_completing_the_two_branches_at_once_do_not_park_the_workflow() {
    let Some(db) = pg::PgDb::create("fork_contention_nodes").await else {
        eprintln!("skipped: no PostgreSQL answers");
        return;
    };
    let config = baton_runtime::RuntimeConfig::default();
    let a = TestServer::on_postgres_database(&db.url, config.clone()).await;
    let b = TestServer::on_postgres_database(&db.url, config).await;
    let (id, left, right) = up_to_the_branches(&a).await;
    let (done_left, done_right) = (completion(&left, "L"), completion(&right, "R"));
    let (l, r) = tokio::join!(a.update(&done_left), b.update(&done_right));
    assert!(l.status().is_success(), "{}", l.status());
    assert!(r.status().is_success(), "{}", r.status());
    joined_and_goes_on(&b, &id).await;
}
