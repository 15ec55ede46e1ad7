//! A task definition's limits (`concurrentExecLimit`, rate limits) held by pollers on several
//! store handles (each its own connection pool, as several Baton nodes have) on one
//! PostgreSQL database.

use baton_model::{TaskDef, TaskStatus};
use baton_store::{Commit, WorkflowWrite};
use std::sync::Arc;
use tokio::sync::Barrier;

#[path = "support/pg_fixtures.rs"]
mod fixtures;
#[path = "support/pg.rs"]
mod pg;
use fixtures::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_exec_limit_holds_across_two_handles() {
    let Some(db) = pg::PgDb::create("exec_limit").await else {
        return;
    };
    let stores = handles(&db, 2).await;
    let tasks = (0..20)
        .map(|i| task("wf-1", &format!("t{i}"), i, "limited"))
        .collect();
    stores[0].commit(insert("wf-1", tasks)).await.unwrap();
    let request = || {
        let mut r = poll_req("limited", 2, "w");
        r.limits = baton_store::PollLimits {
            task_def_name: "limited".into(),
            concurrent_exec_limit: Some(3),
            rate_limit: None,
        };
        r
    };
    let pollers = 8;
    let start = Arc::new(Barrier::new(pollers));
    let mut joins = Vec::new();
    for p in 0..pollers {
        let store = stores[p % 2].clone();
        let start = start.clone();
        let req = request();
        joins.push(tokio::spawn(async move {
            start.wait().await;
            let mut got = 0;
            for _ in 0..5 {
                got += store.poll(req.clone()).await.unwrap().tasks.len();
            }
            got
        }));
    }
    let mut total = 0;
    for j in joins {
        total += j.await.unwrap();
    }
    assert_eq!(total, 3, "concurrentExecLimit 3 across two handles");

    // Completing one frees one slot, on either handle.
    let state = stores[1].load_workflow("wf-1").await.unwrap().unwrap();
    let mut done = state
        .tasks
        .iter()
        .find(|t| t.status == TaskStatus::InProgress)
        .unwrap()
        .clone();
    done.status = TaskStatus::Completed;
    let mut commit = Commit::default();
    commit.workflows.push(WorkflowWrite {
        workflow: state.workflow.clone(),
        def: state.def.clone(),
        expected_version: Some(state.version),
        tasks: writes(vec![done]),
        removed_tasks: vec![],
        queue_push: vec![],
        queue_remove: vec![],
        history: vec![],
        next_wake_at: None,
        keep_input: false,
    });
    stores[1].commit(commit).await.unwrap();
    assert_eq!(stores[0].poll(request()).await.unwrap().tasks.len(), 1);
    let out = stores[1].poll(request()).await.unwrap();
    assert!(out.tasks.is_empty());
    assert!(out.next_visible_at.is_some(), "tells when to look again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limit_holds_across_two_handles() {
    let Some(db) = pg::PgDb::create("rate_limit").await else {
        return;
    };
    let stores = handles(&db, 2).await;
    stores[0]
        .put_task_defs(vec![TaskDef::named("rated")])
        .await
        .unwrap();
    let tasks = (0..10)
        .map(|i| task("wf-1", &format!("t{i}"), i, "rated"))
        .collect();
    stores[0].commit(insert("wf-1", tasks)).await.unwrap();
    let start = Arc::new(Barrier::new(6));
    let mut joins = Vec::new();
    for p in 0..6 {
        let store = stores[p % 2].clone();
        let start = start.clone();
        joins.push(tokio::spawn(async move {
            let mut req = poll_req("rated", 3, "w");
            req.limits = baton_store::PollLimits {
                task_def_name: "rated".into(),
                concurrent_exec_limit: None,
                rate_limit: Some((4, 60)),
            };
            start.wait().await;
            store.poll(req).await.unwrap().tasks.len()
        }));
    }
    let mut total = 0;
    for j in joins {
        total += j.await.unwrap();
    }
    assert_eq!(total, 4, "4 hand-outs per 60 s across two handles");
}

/// A system task queue holds tasks of several definitions: each limited definition's
/// limits hold across handles, and pollers that meet a definition another claimer is
/// checking neither wait nor deadlock (they leave its tasks for a later poll).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_by_definition_hold_across_two_handles() {
    let Some(db) = pg::PgDb::create("def_limits").await else {
        return;
    };
    let stores = handles(&db, 2).await;
    let http = |i: i32, name: &str| {
        let mut t = task("wf-1", &format!("{name}-{i}"), i, "HTTP");
        t.task_def_name = name.to_string();
        t
    };
    let mut tasks = Vec::new();
    for i in 0..12 {
        tasks.push(http(i, "call_api"));
        tasks.push(http(100 + i, "rated_api"));
        tasks.push(http(200 + i, "free_api"));
    }
    stores[0].commit(insert("wf-1", tasks)).await.unwrap();
    let by_def: std::collections::HashMap<String, baton_store::PollLimits> = [
        ("call_api", Some(3), None),
        ("rated_api", None, Some((4, 60))),
    ]
    .into_iter()
    .map(|(name, concurrent_exec_limit, rate_limit)| {
        (
            name.to_string(),
            baton_store::PollLimits {
                task_def_name: name.to_string(),
                concurrent_exec_limit,
                rate_limit,
            },
        )
    })
    .collect();
    let by_def = Arc::new(by_def);
    let pollers = 8;
    let start = Arc::new(Barrier::new(pollers));
    let mut joins = Vec::new();
    for p in 0..pollers {
        let store = stores[p % 2].clone();
        let start = start.clone();
        let mut req = poll_req("HTTP", 3, "w");
        req.def_limits = Some(by_def.clone());
        joins.push(tokio::spawn(async move {
            start.wait().await;
            let mut got: Vec<String> = Vec::new();
            for _ in 0..6 {
                let out = store.poll(req.clone()).await.unwrap();
                got.extend(out.tasks.into_iter().map(|t| t.task_def_name));
            }
            got
        }));
    }
    let mut by_name: std::collections::HashMap<String, usize> = Default::default();
    for j in joins {
        for name in j.await.unwrap() {
            *by_name.entry(name).or_default() += 1;
        }
    }
    assert_eq!(
        by_name.get("call_api"),
        Some(&3),
        "concurrentExecLimit 3: {by_name:?}"
    );
    assert_eq!(
        by_name.get("rated_api"),
        Some(&4),
        "4 per 60 s: {by_name:?}"
    );
    assert_eq!(
        by_name.get("free_api"),
        Some(&12),
        "not held up: {by_name:?}"
    );
}
