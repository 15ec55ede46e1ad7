//! Conformance check of task rows updated in place, run by `conformance.rs` on every backend:
//! what a search finds by status, start time and task type follows each update, whether the
//! update moves those keys or leaves them as they are.

use super::suite::*;
use baton_model::TaskStatus;
use baton_store::{Store, TaskQuery};
use std::sync::Arc;

pub async fn task_updates_move_their_search_keys(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let t = task("wf-1", "t-1", 0, "alpha");
    assert_eq!(t.start_time, 0, "the fixture starts unstarted");
    store
        .commit(one(insert(workflow("wf-1", "flow"), &d, vec![t.clone()])))
        .await
        .unwrap();
    let found = |q: TaskQuery| {
        let store = store.clone();
        async move {
            let (n, tasks) = store.search_tasks(&q).await.unwrap();
            (n, tasks.into_iter().map(|t| t.task_id).collect::<Vec<_>>())
        }
    };
    let by_status = |s: TaskStatus| TaskQuery {
        statuses: vec![s],
        ..Default::default()
    };
    let started_from = |at: i64| TaskQuery {
        start_time_from: Some(at),
        ..Default::default()
    };
    let one_task = || (1, vec!["t-1".to_string()]);
    let none = || (0, Vec::<String>::new());

    // Completed without a claim: status and start time both move.
    let mut done = t.clone();
    done.status = TaskStatus::Completed;
    done.start_time = NOW + 5;
    done.end_time = NOW + 6;
    let mut w = update(workflow("wf-1", "flow"), &d, 1);
    w.tasks = writes(vec![done.clone()]);
    store.commit(one(w)).await.unwrap();
    assert_eq!(found(by_status(TaskStatus::Completed)).await, one_task());
    assert_eq!(found(by_status(TaskStatus::Scheduled)).await, none());
    assert_eq!(found(started_from(NOW + 5)).await, one_task());
    assert_eq!(found(started_from(NOW + 6)).await, none());

    // Its status alone changes (start time and type kept): the status key still moves.
    let mut failed = done.clone();
    failed.status = TaskStatus::Failed;
    let mut w = update(workflow("wf-1", "flow"), &d, 2);
    w.tasks = writes(vec![failed.clone()]);
    store.commit(one(w)).await.unwrap();
    assert_eq!(found(by_status(TaskStatus::Failed)).await, one_task());
    assert_eq!(found(by_status(TaskStatus::Completed)).await, none());
    assert_eq!(found(started_from(NOW + 5)).await, one_task());
    let read = store.get_task("t-1").await.unwrap().expect("the task");
    assert_eq!(
        (read.status, read.start_time, read.end_time),
        (TaskStatus::Failed, NOW + 5, NOW + 6)
    );

    // Its start time alone changes: found by the new one only.
    let mut moved = failed;
    moved.start_time = NOW + 9;
    let mut w = update(workflow("wf-1", "flow"), &d, 3);
    w.tasks = writes(vec![moved]);
    store.commit(one(w)).await.unwrap();
    assert_eq!(found(started_from(NOW + 6)).await, one_task());
    assert_eq!(found(started_from(NOW + 10)).await, none());
    assert_eq!(found(by_status(TaskStatus::Failed)).await, one_task());
}
