//! Conformance checks, run by `conformance.rs` on every backend: export for `baton migrate`: a
//! workflow's queue entries and the executions that ended before a time.

use super::suite::*;
use baton_model::WorkflowStatus;
use baton_store::Store;
use std::sync::Arc;

/// `queue_entries` lists exactly one workflow's entries, in claim order, and forgets the
/// ones a claim took.
pub async fn queue_entries_of_one_workflow(store: Arc<dyn Store>) {
    let d = Arc::new(def("qe", 1));
    let a = task("wf-a", "t-a1", 1, "qe_type");
    let b = task("wf-a", "t-a2", 2, "qe_type");
    let other = task("wf-b", "t-b1", 1, "qe_type");
    let mut write = insert(workflow("wf-a", "qe"), &d, vec![a.clone(), b.clone()]);
    write.queue_push = vec![entry(&a, 0, NOW + 5), entry(&b, 3, NOW + 9)];
    store.commit(one(write)).await.unwrap();
    store
        .commit(one(insert(workflow("wf-b", "qe"), &d, vec![other])))
        .await
        .unwrap();
    let got = store.queue_entries("wf-a").await.unwrap();
    assert_eq!(got, vec![entry(&b, 3, NOW + 9), entry(&a, 0, NOW + 5)]);
    assert!(store.queue_entries("nope").await.unwrap().is_empty());
    let claimed = store
        .poll(poll_req("qe_type", 1, "w", NOW + 10))
        .await
        .unwrap();
    assert_eq!(
        claimed.tasks[0].task_id, "t-a2",
        "the higher priority first"
    );
    assert_eq!(
        store.queue_entries("wf-a").await.unwrap(),
        vec![entry(&a, 0, NOW + 5)]
    );
}

/// `finished_before` lists ended executions by end time, oldest first, and never a
/// running one whatever its times.
pub async fn finished_before_lists_ended_executions_by_end_time(store: Arc<dyn Store>) {
    let d = Arc::new(def("fin", 1));
    let ended = |id: &str, status: WorkflowStatus, end: i64| {
        let mut w = workflow(id, "fin");
        w.status = status;
        w.end_time = end;
        insert(w, &d, vec![])
    };
    for write in [
        ended("done-late", WorkflowStatus::Completed, NOW + 300),
        ended("done-early", WorkflowStatus::Completed, NOW + 100),
        ended("failed", WorkflowStatus::Failed, NOW + 200),
        ended("terminated", WorkflowStatus::Terminated, NOW + 250),
        ended("timed-out", WorkflowStatus::TimedOut, NOW + 260),
        ended("running", WorkflowStatus::Running, 0),
        ended("paused", WorkflowStatus::Paused, 0),
    ] {
        store.commit(one(write)).await.unwrap();
    }
    assert_eq!(
        store.finished_before(NOW + 300, 10).await.unwrap(),
        ["done-early", "failed", "terminated", "timed-out"]
    );
    assert_eq!(
        store.finished_before(NOW + 301, 2).await.unwrap(),
        ["done-early", "failed"]
    );
    assert!(store
        .finished_before(NOW + 100, 10)
        .await
        .unwrap()
        .is_empty());
}
