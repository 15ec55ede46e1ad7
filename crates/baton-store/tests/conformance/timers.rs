//! Conformance checks, run by `conformance.rs` on every backend: timers (due workflows, wakes
//! of other workflows, pending wakes).

use super::suite::*;
use baton_store::{Commit, Store};
use std::sync::Arc;

pub async fn due_workflows_and_next_wake(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    assert_eq!(store.next_wake_at().await.unwrap(), None);
    assert!(store.due_workflows(NOW, 10).await.unwrap().is_empty());
    for (id, wake) in [
        ("wf-a", Some(NOW + 30)),
        ("wf-b", Some(NOW + 10)),
        ("wf-c", None),
        ("wf-d", Some(NOW + 20)),
        ("wf-e", Some(NOW + 1000)),
    ] {
        let mut write = insert(workflow(id, "flow"), &d, vec![]);
        write.next_wake_at = wake;
        store.commit(one(write)).await.unwrap();
    }
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 10));
    assert_eq!(
        store.due_workflows(NOW + 30, 10).await.unwrap(),
        ["wf-b", "wf-d", "wf-a"]
    );
    assert_eq!(
        store.due_workflows(NOW + 30, 2).await.unwrap(),
        ["wf-b", "wf-d"]
    );
    assert!(store.due_workflows(NOW, 10).await.unwrap().is_empty());

    // Deciding clears (or moves) the wake-up time.
    store
        .commit(one(update(workflow("wf-b", "flow"), &d, 1)))
        .await
        .unwrap();
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 20));
    assert_eq!(
        store.due_workflows(NOW + 10_000, 10).await.unwrap(),
        ["wf-d", "wf-a", "wf-e"]
    );
}

pub async fn wake_other_workflow(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    store
        .commit(one(insert(workflow("parent", "flow"), &d, vec![])))
        .await
        .unwrap();
    let mut later = insert(workflow("timer", "flow"), &d, vec![]);
    later.next_wake_at = Some(NOW + 500);
    store.commit(one(later)).await.unwrap();

    // A child commit wakes its parent (no wake-up time yet) and the timer (earlier).
    let commit = Commit {
        workflows: vec![insert(workflow("child", "flow"), &d, vec![])],
        wake: vec![
            ("parent".into(), NOW + 100),
            ("timer".into(), NOW + 50),
            ("missing".into(), NOW),
        ],
        ..Default::default()
    };
    store.commit(commit).await.unwrap();
    assert_eq!(
        store.due_workflows(NOW + 100, 10).await.unwrap(),
        ["timer", "parent"]
    );
    // A later wake does not postpone an earlier one.
    let commit = Commit {
        wake: vec![("timer".into(), NOW + 900)],
        ..Default::default()
    };
    store.commit(commit).await.unwrap();
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 50));
    // Waking does not change versions.
    assert_eq!(version_of(&store, "parent").await, 1);
    assert_eq!(version_of(&store, "timer").await, 1);
    assert!(store.load_workflow("missing").await.unwrap().is_none());
}

/// A wake is not lost to a decision that read the workflow before it: the workflow's own
/// commits and reschedules do not touch it, and clearing it needs the wake count read.
pub async fn pending_wake_outlives_a_stale_decision(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let mut parent = insert(workflow("parent", "flow"), &d, vec![]);
    parent.next_wake_at = Some(NOW + 10_000);
    store.commit(one(parent)).await.unwrap();
    // A decision reads the parent: no wake pending.
    let read = store.load_workflow("parent").await.unwrap().unwrap();
    assert_eq!(read.woken, None);

    // A child ends and wakes the parent while the decision runs.
    let wake = |at| Commit {
        wake: vec![("parent".into(), at)],
        ..Default::default()
    };
    store.commit(wake(NOW)).await.unwrap();
    let seen_first = store.load_workflow("parent").await.unwrap().unwrap().woken;
    assert!(seen_first.is_some());

    // The decision, which did not see the child end, stores its own later wake-up, both as
    // a reschedule and as a full update: the wake stays due.
    let commit = Commit {
        reschedule: vec![baton_store::Reschedule {
            workflow_id: "parent".into(),
            version: read.version,
            next_wake_at: Some(NOW + 10_000),
        }],
        ..Default::default()
    };
    store.commit(commit).await.unwrap();
    let mut write = update(workflow("parent", "flow"), &d, read.version);
    write.next_wake_at = Some(NOW + 10_000);
    store.commit(one(write)).await.unwrap();
    assert_eq!(store.due_workflows(NOW, 10).await.unwrap(), ["parent"]);
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW));
    assert_eq!(
        store.claim_due_workflows(NOW, 10, 1_000).await.unwrap(),
        ["parent"]
    );

    // A second child ends after the next decision read the first wake: clearing with the
    // count that decision read leaves the second wake pending.
    store.commit(wake(NOW + 5)).await.unwrap();
    let commit = Commit {
        unwake: vec![("parent".into(), seen_first.unwrap_or_default())],
        ..Default::default()
    };
    store.commit(commit).await.unwrap();
    let second = store.load_workflow("parent").await.unwrap().unwrap().woken;
    assert!(second.is_some() && second != seen_first, "{second:?}");
    assert_eq!(
        store.due_workflows(NOW + 1_000, 10).await.unwrap(),
        ["parent"]
    );

    // Clearing with the current count clears it; the workflow's own wake-up is left.
    let commit = Commit {
        unwake: vec![("parent".into(), second.unwrap_or_default())],
        ..Default::default()
    };
    store.commit(commit).await.unwrap();
    assert_eq!(
        store.load_workflow("parent").await.unwrap().unwrap().woken,
        None
    );
    assert!(store
        .due_workflows(NOW + 1_000, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 10_000));
    // Neither waking nor clearing changed the version.
    assert_eq!(version_of(&store, "parent").await, read.version + 1);
}
