//! Conformance checks, run by `conformance.rs` on every backend: durability (everything written
//! is read back through a new store).

use super::suite::*;
use baton_model::{TaskDef, TaskExecLog, TaskStatus};
use baton_store::Store;
use std::sync::Arc;

/// Writes through one store, drops it, and reads everything back through a new one on
/// the same database.
pub async fn reopen_sees_everything<F>(open: F)
where
    F: Fn() -> Arc<dyn Store>,
{
    let d = Arc::new(def("flow", 1));
    {
        let store = open();
        store
            .put_task_defs(vec![TaskDef::named("a")])
            .await
            .unwrap();
        store.put_workflow_def(def("flow", 1), false).await.unwrap();
        let mut write = insert(
            workflow("wf-1", "flow"),
            &d,
            vec![task("wf-1", "t-0", 0, "a"), task("wf-1", "t-1", 1, "a")],
        );
        write.next_wake_at = Some(NOW + 5);
        store.commit(one(write)).await.unwrap();
        store.poll(poll_req("a", 1, "w", NOW)).await.unwrap();
        store
            .append_task_logs(vec![TaskExecLog {
                log: "kept".into(),
                task_id: Some("t-0".into()),
                created_time: NOW,
            }])
            .await
            .unwrap();
    }
    let store = open();
    assert!(store.get_task_def("a").await.unwrap().is_some());
    assert!(store
        .get_workflow_def("flow", Some(1))
        .await
        .unwrap()
        .is_some());
    let state = store.load_workflow("wf-1").await.unwrap().unwrap();
    assert_eq!(state.version, 1);
    assert_eq!(*state.def, *d);
    assert_eq!(state.tasks.len(), 2);
    assert_eq!(state.tasks[0].status, TaskStatus::InProgress);
    assert_eq!(state.tasks[1].status, TaskStatus::Scheduled);
    assert_eq!(queue_size(&store, "a").await, 1);
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 5));
    assert_eq!(store.history("wf-1").await.unwrap().len(), 2);
    assert_eq!(store.task_logs("t-0").await.unwrap().len(), 1);
    assert_eq!(store.poll_data().await.unwrap().len(), 1);
    // And it keeps working.
    let out = store.poll(poll_req("a", 5, "w", NOW)).await.unwrap();
    assert_eq!(out.tasks.len(), 1);
    assert_eq!(out.tasks[0].task_id, "t-1");
}
