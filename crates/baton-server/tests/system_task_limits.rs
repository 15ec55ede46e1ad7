//! A task definition's limits bound the system tasks named like it, as Conductor's
//! `AsyncSystemTaskExecutor` does (ADR 28): an HTTP task named `lim_http` is bound by the
//! `concurrentExecLimit` and the rate limit of the task definition `lim_http`; SUB_WORKFLOW,
//! START_WORKFLOW and EVENT tasks by its `concurrentExecLimit`. The tasks held back stay
//! SCHEDULED and run once they may; system tasks of other names are not held up. The HTTP
//! endpoint is a stub on loopback that counts calls and the most in flight at once.
//!
//! Each scenario schedules its system tasks in one commit (the branches of a fork), the
//! limited ones before an unlimited one, so that the server's system worker sees them
//! together: without the limits it would take them all in one poll, and once the unlimited
//! one has run, the worker has looked at (and held back) the limited ones before it.

mod common;

use common::blocking_stub::BlockingStub;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn http(name: &str, reference: &str, uri: &str) -> Value {
    json!({"name": name, "taskReferenceName": reference, "type": "HTTP",
           "inputParameters": {"http_request": {"uri": uri, "method": "GET",
                                                "connectionTimeOut": 2000, "readTimeOut": 30000}}})
}

/// A fork with one HTTP task per branch, joined.
fn fan_out(name: &str, branches: Vec<Value>) -> Value {
    let refs: Vec<Value> = branches
        .iter()
        .map(|b| b["taskReferenceName"].clone())
        .collect();
    let fork: Vec<Value> = branches.into_iter().map(|b| json!([b])).collect();
    json!({"name": name, "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": fork},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": refs}
    ]})
}

/// How many tasks whose reference starts with `prefix` have `status`.
fn count(w: &Value, prefix: &str, status: &str) -> usize {
    w["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| {
            t["referenceTaskName"]
                .as_str()
                .is_some_and(|r| r.starts_with(prefix))
                && t["status"] == status
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limited_http_task_runs_one_at_a_time_and_others_are_not_held_up() {
    let mut stub = BlockingStub::start().await;
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "lim_http", "retryCount": 0, "concurrentExecLimit": 1}))
        .await;
    let block = stub.block_url();
    let quick = stub.quick_url();
    s.register_workflow(fan_out(
        "lim_conc",
        vec![
            http("lim_http", "lim_a", &block),
            http("lim_http", "lim_b", &block),
            http("lim_http", "lim_c", &block),
            http("free_http", "free", &quick),
        ],
    ))
    .await;
    let id = s.start("lim_conc", json!({})).await;

    stub.next_call(WAIT).await;
    // The unlimited task runs although the limited ones wait.
    let w = s
        .wait_for(&id, "the unlimited task completes", WAIT, |w| {
            count(w, "free", "COMPLETED") == 1
        })
        .await;
    assert_eq!(count(&w, "lim_", "IN_PROGRESS"), 1, "{w:#}");
    assert_eq!(count(&w, "lim_", "SCHEDULED"), 2, "{w:#}");

    // Each release lets the next one run, never two at once.
    for done in 1..=3 {
        stub.release(1);
        if done < 3 {
            stub.next_call(WAIT).await;
            let w = s
                .wait_for(&id, "one more completed", WAIT, |w| {
                    count(w, "lim_", "COMPLETED") == done
                })
                .await;
            assert_eq!(count(&w, "lim_", "IN_PROGRESS"), 1, "{w:#}");
        }
    }
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(count(&w, "lim_", "COMPLETED"), 3, "{w:#}");
    assert_eq!(stub.most_in_flight(), 1);
    assert_eq!(stub.calls(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_http_task_waits_for_the_next_window() {
    let stub = BlockingStub::start().await;
    let s = TestServer::with_manual_clock(baton_runtime::RuntimeConfig::default()).await;
    s.register_task_def(json!({"name": "rate_http", "retryCount": 0,
                               "rateLimitPerFrequency": 2, "rateLimitFrequencyInSeconds": 10}))
        .await;
    let quick = stub.quick_url();
    s.register_workflow(fan_out(
        "lim_rate",
        vec![
            http("rate_http", "rate_a", &quick),
            http("rate_http", "rate_b", &quick),
            http("rate_http", "rate_c", &quick),
        ],
    ))
    .await;
    let id = s.start("lim_rate", json!({})).await;

    // Two in this window; the third stays SCHEDULED (the clock does not move by itself).
    let w = s
        .wait_for(&id, "two completed", WAIT, |w| {
            count(w, "rate_", "COMPLETED") == 2
        })
        .await;
    assert_eq!(count(&w, "rate_", "SCHEDULED"), 1, "{w:#}");
    assert_eq!(stub.calls(), 2);

    // The window has passed: it runs.
    s.advance(Duration::from_secs(11)).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(count(&w, "rate_", "COMPLETED"), 3, "{w:#}");
    assert_eq!(stub.calls(), 3);
}

/// Two nodes on one PostgreSQL database, each with its own system workers: the concurrency
/// limit holds across them. Skipped, saying so, where no PostgreSQL answers (unless
/// BATON_REQUIRE_PG is set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_holds_across_two_nodes() {
    let Some(db) = common::pg::PgDb::create("system_limits_nodes").await else {
        return;
    };
    let config = baton_runtime::RuntimeConfig::default();
    let a = TestServer::on_postgres_database(&db.url, config.clone()).await;
    let b = TestServer::on_postgres_database(&db.url, config).await;
    let mut stub = BlockingStub::start().await;
    a.register_task_def(json!({"name": "lim_http", "retryCount": 0, "concurrentExecLimit": 1}))
        .await;
    let block = stub.block_url();
    let branches = (0..4)
        .map(|i| http("lim_http", &format!("lim_{i}"), &block))
        .collect();
    a.register_workflow(fan_out("lim_nodes", branches)).await;
    // Node B learns of the definitions through the change feed.
    let id = b.start("lim_nodes", json!({})).await;

    stub.next_call(WAIT).await;
    for done in 1..=4 {
        let w = a
            .wait_for(&id, "one running, the rest waiting", WAIT, |w| {
                count(w, "lim_", "IN_PROGRESS") == 1 && count(w, "lim_", "COMPLETED") == done - 1
            })
            .await;
        assert_eq!(count(&w, "lim_", "SCHEDULED"), 4 - done, "{w:#}");
        stub.release(1);
        if done < 4 {
            stub.next_call(WAIT).await;
        }
    }
    let w = a.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(count(&w, "lim_", "COMPLETED"), 4, "{w:#}");
    assert_eq!(stub.most_in_flight(), 1);
    assert_eq!(stub.calls(), 4);
}

/// A SUB_WORKFLOW task holds its slot while its child runs (IN_PROGRESS): the second one
/// named `lim_sub` starts its child only when the first's child has completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limited_sub_workflow_starts_its_child_when_a_slot_frees() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "lim_sub", "retryCount": 0, "concurrentExecLimit": 1}))
        .await;
    for (child, work) in [("lim_child", "lim_work"), ("free_child", "free_work")] {
        s.register_workflow(json!({"name": child, "version": 1, "tasks": [
            {"name": work, "taskReferenceName": work, "type": "SIMPLE"}
        ]}))
        .await;
    }
    let sub = |name: &str, reference: &str, child: &str| {
        json!({"name": name, "taskReferenceName": reference, "type": "SUB_WORKFLOW",
               "subWorkflowParam": {"name": child, "version": 1}})
    };
    s.register_workflow(fan_out(
        "lim_subs",
        vec![
            sub("lim_sub", "lim_a", "lim_child"),
            sub("lim_sub", "lim_b", "lim_child"),
            sub("free_sub", "free", "free_child"),
        ],
    ))
    .await;
    let id = s.start("lim_subs", json!({})).await;

    let w = s
        .wait_for(&id, "the unlimited sub-workflow started", WAIT, |w| {
            count(w, "free", "IN_PROGRESS") == 1
        })
        .await;
    assert_eq!(count(&w, "lim_", "IN_PROGRESS"), 1, "{w:#}");
    assert_eq!(count(&w, "lim_", "SCHEDULED"), 1, "{w:#}");
    // One child of the limited kind exists, so one task of it to work on.
    let first = s.poll_one("lim_work").await;
    assert!(s.poll_batch("lim_work", 5, 0).await.is_empty());
    let free = s.poll_one("free_work").await;
    s.complete(&free, json!({})).await;

    // The first child completes: its SUB_WORKFLOW task frees the slot, the second runs.
    s.complete(&first, json!({})).await;
    let second = s.poll_one("lim_work").await;
    assert_ne!(second["workflowInstanceId"], first["workflowInstanceId"]);
    let w = s.workflow(&id).await;
    assert_eq!(count(&w, "lim_", "COMPLETED"), 1, "{w:#}");
    assert_eq!(count(&w, "lim_", "IN_PROGRESS"), 1, "{w:#}");
    s.complete(&second, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(count(&w, "lim_", "COMPLETED"), 2, "{w:#}");
}

/// An EVENT task with `asyncComplete` stays IN_PROGRESS after publishing, until completed
/// over the API: it holds its slot until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limited_event_task_publishes_when_a_slot_frees() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "lim_event", "retryCount": 0, "concurrentExecLimit": 1}))
        .await;
    let event = |name: &str, reference: &str| {
        json!({"name": name, "taskReferenceName": reference, "type": "EVENT",
               "sink": "conductor", "asyncComplete": true,
               "inputParameters": {"who": reference}})
    };
    s.register_workflow(fan_out(
        "lim_events",
        vec![
            event("lim_event", "lim_a"),
            event("lim_event", "lim_b"),
            event("free_event", "free"),
        ],
    ))
    .await;
    let id = s.start("lim_events", json!({})).await;

    let w = s
        .wait_for(&id, "the unlimited event published", WAIT, |w| {
            published(w, "free").len() == 1
        })
        .await;
    assert_eq!(count(&w, "lim_", "IN_PROGRESS"), 1, "{w:#}");
    assert_eq!(count(&w, "lim_", "SCHEDULED"), 1, "{w:#}");
    s.complete(&published(&w, "free")[0], json!({})).await;
    let w = s
        .wait_for(&id, "a limited event published", WAIT, |w| {
            published(w, "lim_").len() == 1
        })
        .await;
    let first = published(&w, "lim_")[0].clone();
    assert_eq!(count(&w, "lim_", "SCHEDULED"), 1, "{w:#}");

    // Completing the first frees the slot: the second publishes (and holds it in turn).
    s.complete(&first, json!({})).await;
    let w = s
        .wait_for(&id, "the second limited event published", WAIT, |w| {
            count(w, "lim_", "COMPLETED") == 1 && published(w, "lim_").len() == 1
        })
        .await;
    let second = published(&w, "lim_")[0].clone();
    assert_ne!(second["taskId"], first["taskId"]);
    s.complete(&second, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(count(&w, "lim_", "COMPLETED"), 2, "{w:#}");
}

/// The EVENT tasks (reference starting with `prefix`) that have published and wait to be
/// completed: IN_PROGRESS, their output the message (naming them).
fn published(w: &Value, prefix: &str) -> Vec<Value> {
    w["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| {
            let reference = t["referenceTaskName"].as_str().unwrap_or_default();
            reference.starts_with(prefix)
                && t["status"] == "IN_PROGRESS"
                && t["outputData"]["who"] == reference
        })
        .cloned()
        .collect()
}

/// A START_WORKFLOW task completes as soon as it has started its workflow, so its own
/// executions hardly overlap; the limit counts every IN_PROGRESS task of the definition's
/// name, though, whatever its type. A worker holding a SIMPLE task named `lim_start` takes
/// the only slot, and the START_WORKFLOW tasks named `lim_start` wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limited_start_workflow_waits_for_a_slot() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "lim_start", "retryCount": 0, "concurrentExecLimit": 1}))
        .await;
    s.register_workflow(simple_workflow("lim_holder", &["lim_start"]))
        .await;
    s.register_workflow(json!({"name": "lim_started", "version": 1, "tasks": [
        {"name": "started_noop", "taskReferenceName": "noop", "type": "SET_VARIABLE",
         "inputParameters": {"ran": true}}
    ]}))
    .await;
    let start = |name: &str, reference: &str| {
        json!({"name": name, "taskReferenceName": reference, "type": "START_WORKFLOW",
               "inputParameters": {"startWorkflow": {"name": "lim_started", "version": 1,
                                                     "correlationId": reference}}})
    };
    s.register_workflow(fan_out(
        "lim_starts",
        vec![
            start("lim_start", "lim_a"),
            start("lim_start", "lim_b"),
            start("free_start", "free"),
        ],
    ))
    .await;
    let holder = s.start("lim_holder", json!({})).await;
    let held = s.poll_one("lim_start").await;
    let id = s.start("lim_starts", json!({})).await;

    let w = s
        .wait_for(&id, "the unlimited start ran", WAIT, |w| {
            count(w, "free", "COMPLETED") == 1
        })
        .await;
    assert_eq!(count(&w, "lim_", "SCHEDULED"), 2, "{w:#}");
    assert_eq!(started(&s, "lim_a").await, 0);

    // The worker's task completes: the slot is free, both starts run (one at a time).
    s.complete(&held, json!({})).await;
    s.wait_for_status(&holder, "COMPLETED", WAIT).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(count(&w, "lim_", "COMPLETED"), 2, "{w:#}");
    for reference in ["lim_a", "lim_b", "free"] {
        assert_eq!(started(&s, reference).await, 1, "{reference}");
    }
}

/// How many `lim_started` executions carry the correlation id `reference`.
async fn started(s: &TestServer, reference: &str) -> usize {
    let found = s
        .get_json(&format!(
            "/workflow/lim_started/correlated/{reference}?includeClosed=true"
        ))
        .await;
    found.as_array().map_or(0, Vec::len)
}
