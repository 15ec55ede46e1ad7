//! Conformance checks, run by `conformance.rs` on every backend: history and task logs.

use super::suite::*;
use baton_model::{HistoryEvent, TaskExecLog, TaskStatus};
use baton_store::{Commit, Store, StoreError};
use std::sync::Arc;

pub async fn history_order_and_remove(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let t = task("wf-1", "t-0", 0, "work");
    let mut write = insert(workflow("wf-1", "flow"), &d, vec![t.clone()]);
    write.history.push(HistoryEvent::task(&t, NOW));
    store.commit(one(write)).await.unwrap();
    store
        .commit(one(insert(workflow("wf-2", "flow"), &d, vec![])))
        .await
        .unwrap();
    store.poll(poll_req("work", 1, "w", NOW + 1)).await.unwrap();
    let mut write = update(workflow("wf-1", "flow"), &d, 1);
    write.history = vec![HistoryEvent::workflow(
        "wf-1",
        "COMPLETED",
        NOW + 2,
        Some("done".into()),
    )];
    store.commit(one(write)).await.unwrap();
    store
        .append_task_logs(vec![TaskExecLog {
            log: "hello".into(),
            task_id: Some("t-0".into()),
            created_time: NOW,
        }])
        .await
        .unwrap();

    let events = store.history("wf-1").await.unwrap();
    let summary: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.entity.as_str(), e.status.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("WORKFLOW", "RUNNING"),
            ("TASK", "SCHEDULED"),
            ("TASK", "IN_PROGRESS"),
            ("WORKFLOW", "COMPLETED")
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    assert!(events[0].id > 0);
    assert_eq!(events[3].reason.as_deref(), Some("done"));
    assert_eq!(events[1].task_id.as_deref(), Some("t-0"));
    assert_eq!(store.history("wf-2").await.unwrap().len(), 1);

    // Removing the execution keeps its history.
    let mut t1 = task("wf-1", "t-1", 1, "work");
    t1.status = TaskStatus::Scheduled;
    let mut write = update(workflow("wf-1", "flow"), &d, 2);
    write.queue_push = vec![entry(&t1, 0, NOW)];
    write.tasks = writes(vec![t1]);
    store.commit(one(write)).await.unwrap();
    assert_eq!(queue_size(&store, "work").await, 1);
    store.remove_workflow("wf-1").await.unwrap();
    assert!(store.load_workflow("wf-1").await.unwrap().is_none());
    assert!(store.get_workflow("wf-1").await.unwrap().is_none());
    assert!(store.get_task("t-0").await.unwrap().is_none());
    assert!(store.task_logs("t-0").await.unwrap().is_empty());
    assert_eq!(queue_size(&store, "work").await, 0);
    assert_eq!(store.history("wf-1").await.unwrap(), events);
    let err = store.remove_workflow("wf-1").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    // The other execution is untouched.
    assert!(store.load_workflow("wf-2").await.unwrap().is_some());
}

pub async fn task_logs(store: Arc<dyn Store>) {
    let log = |task: &str, text: &str, t: i64| TaskExecLog {
        log: text.into(),
        task_id: Some(task.into()),
        created_time: t,
    };
    store
        .append_task_logs(vec![log("t-1", "one", NOW), log("t-2", "other", NOW)])
        .await
        .unwrap();
    store.append_task_logs(vec![]).await.unwrap();
    let commit = Commit {
        logs: vec![log("t-1", "two", NOW + 1), log("t-1", "three", NOW - 1)],
        ..Default::default()
    };
    store.commit(commit).await.unwrap();
    let got = store.task_logs("t-1").await.unwrap();
    let texts: Vec<&str> = got.iter().map(|l| l.log.as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"], "in append order");
    assert_eq!(got[1].created_time, NOW + 1);
    assert_eq!(got[0].task_id.as_deref(), Some("t-1"));
    assert_eq!(store.task_logs("t-2").await.unwrap().len(), 1);
    assert!(store.task_logs("t-3").await.unwrap().is_empty());
}
