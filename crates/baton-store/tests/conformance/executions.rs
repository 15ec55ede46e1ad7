//! Conformance checks, run by `conformance.rs` on every backend: execution commits (round
//! trips, version conflicts, reschedules, follow-ups and batches).

use super::suite::*;
use baton_model::{HistoryEvent, TaskExecLog, TaskStatus, WorkflowStatus};
use baton_store::{Commit, Store, StoreError};
use std::sync::Arc;

pub async fn commit_roundtrip(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let mut wf = workflow("wf-1", "flow");
    wf.input.insert("x".into(), serde_json::json!(42));
    // Tasks handed in with the row are not stored with it.
    wf.tasks = vec![task("wf-1", "ignored", 9, "zzz")];
    wf.workflow_definition = Some(d.clone());
    let tasks = vec![
        task("wf-1", "t-2", 2, "b"),
        task("wf-1", "t-0", 0, "a"),
        task("wf-1", "t-1", 1, "a"),
    ];
    store
        .commit(one(insert(wf.clone(), &d, tasks)))
        .await
        .unwrap();

    let state = store.load_workflow("wf-1").await.unwrap().unwrap();
    assert_eq!(state.version, 1);
    assert_eq!(*state.def, *d);
    assert!(state.workflow.tasks.is_empty());
    assert_eq!(state.workflow.workflow_definition.as_deref(), Some(&*d));
    assert_eq!(state.workflow.input.get("x"), Some(&serde_json::json!(42)));
    let ids: Vec<&str> = state.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["t-0", "t-1", "t-2"], "tasks ordered by seq");
    assert!(state.tasks.iter().all(|t| t.workflow_task.is_none()));
    assert!(state.tasks.iter().all(|t| t.task_definition.is_none()));
    assert!(store.get_task("ignored").await.unwrap().is_none());

    let row = store.get_workflow("wf-1").await.unwrap().unwrap();
    assert!(row.tasks.is_empty());
    assert_eq!(row.status, WorkflowStatus::Running);
    let t = store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(t.seq, 1);
    assert_eq!(t.workflow_instance_id, "wf-1");
    assert!(store.load_workflow("nope").await.unwrap().is_none());
    assert!(store.get_workflow("nope").await.unwrap().is_none());
    assert!(store.get_task("nope").await.unwrap().is_none());
    assert_eq!(queue_size(&store, "a").await, 2);
    assert_eq!(queue_size(&store, "b").await, 1);

    // The same id again.
    let err = store
        .commit(one(insert(workflow("wf-1", "flow"), &d, vec![])))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");

    // An update with the version read bumps it; with the `Arc` from the load too.
    let mut w = state.workflow.clone();
    w.status = WorkflowStatus::Completed;
    w.end_time = NOW + 5;
    let mut write = update(w, &state.def, state.version);
    let mut done = state.tasks[0].clone();
    done.status = TaskStatus::Completed;
    write.tasks = writes(vec![done]);
    write.removed_tasks = vec!["t-2".into()];
    write.queue_remove = vec!["t-0".into()];
    store.commit(one(write)).await.unwrap();
    let state = store.load_workflow("wf-1").await.unwrap().unwrap();
    assert_eq!(state.version, 2);
    assert_eq!(state.workflow.status, WorkflowStatus::Completed);
    assert_eq!(state.workflow.end_time, NOW + 5);
    let ids: Vec<&str> = state.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["t-0", "t-1"]);
    assert_eq!(state.tasks[0].status, TaskStatus::Completed);
    assert_eq!(queue_size(&store, "a").await, 1);
    assert_eq!(
        queue_size(&store, "b").await,
        0,
        "removed task leaves its queue"
    );

    // A second execution of a different definition version.
    let d2 = Arc::new(def("flow", 2));
    let mut w2 = workflow("wf-2", "flow");
    w2.workflow_version = 2;
    store.commit(one(insert(w2, &d2, vec![]))).await.unwrap();
    let s2 = store.load_workflow("wf-2").await.unwrap().unwrap();
    assert_eq!(s2.def.version, 2);
    assert_eq!(
        store
            .load_workflow("wf-1")
            .await
            .unwrap()
            .unwrap()
            .def
            .version,
        1
    );
}

/// `Commit::reschedule` moves only the wake-up (later or earlier): no version bump, no
/// row change; a stale version is a Conflict and moves nothing.
pub async fn reschedule_moves_only_the_wake_up(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let mut write = insert(workflow("wf-1", "flow"), &d, vec![]);
    write.next_wake_at = Some(NOW);
    store.commit(one(write)).await.unwrap();
    let before = store.get_workflow("wf-1").await.unwrap().unwrap();
    let reschedule = |version: i64, at: i64| Commit {
        reschedule: vec![baton_store::Reschedule {
            workflow_id: "wf-1".into(),
            version,
            next_wake_at: Some(at),
        }],
        ..Default::default()
    };
    assert_eq!(store.due_workflows(NOW, 10).await.unwrap(), vec!["wf-1"]);
    store.commit(reschedule(1, NOW + 10_000)).await.unwrap();
    assert!(store
        .due_workflows(NOW + 9_999, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 10_000));
    let after = store.load_workflow("wf-1").await.unwrap().unwrap();
    assert_eq!(after.version, 1, "a reschedule bumped the version");
    assert_eq!(
        store.get_workflow("wf-1").await.unwrap().unwrap(),
        before,
        "a reschedule changed the row"
    );
    // Earlier again, then a stale version: Conflict, nothing moved.
    store.commit(reschedule(1, NOW + 5_000)).await.unwrap();
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 5_000));
    let err = store.commit(reschedule(7, NOW + 60_000)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 5_000));
}

pub async fn version_conflict_changes_nothing(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    store
        .commit(one(insert(
            workflow("wf-1", "flow"),
            &d,
            vec![task("wf-1", "t-0", 0, "a")],
        )))
        .await
        .unwrap();
    store
        .commit(one(insert(workflow("wf-other", "flow"), &d, vec![])))
        .await
        .unwrap();
    store
        .commit(one(update(workflow("wf-1", "flow"), &d, 1)))
        .await
        .unwrap();
    let before = store.load_workflow("wf-1").await.unwrap().unwrap();
    let history_before = store.history("wf-1").await.unwrap();
    assert_eq!(before.version, 2);

    // Stale version: everything in the write must be discarded.
    let mut w = workflow("wf-1", "flow");
    w.status = WorkflowStatus::Failed;
    let mut write = update(w, &d, 1);
    let mut t0 = before.tasks[0].clone();
    t0.status = TaskStatus::Failed;
    let t1 = task("wf-1", "t-1", 1, "b");
    write.queue_push = vec![entry(&t1, 0, NOW)];
    write.tasks = writes(vec![t0, t1]);
    write.queue_remove = vec!["t-0".into()];
    write.history = vec![HistoryEvent::workflow("wf-1", "FAILED", NOW, None)];
    write.next_wake_at = Some(NOW);
    let commit = Commit {
        workflows: vec![write],
        wake: vec![("wf-other".into(), NOW)],
        logs: vec![TaskExecLog {
            log: "nope".into(),
            task_id: Some("t-0".into()),
            created_time: NOW,
        }],
        follow_ups: vec![follow_up("f-conflict", "wf-1")],
        follow_ups_done: vec![],
        reschedule: vec![],
        unwake: vec![("wf-other".into(), 0)],
    };
    let err = store.commit(commit).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(id) if id == "wf-1"),
        "{err:?}"
    );

    let after = store.load_workflow("wf-1").await.unwrap().unwrap();
    assert_eq!(after.version, 2);
    assert_eq!(after.workflow.status, WorkflowStatus::Running);
    assert_eq!(after.tasks, before.tasks);
    assert_eq!(store.history("wf-1").await.unwrap(), history_before);
    assert_eq!(queue_size(&store, "a").await, 1);
    assert_eq!(queue_size(&store, "b").await, 0);
    assert!(store.task_logs("t-0").await.unwrap().is_empty());
    assert_eq!(store.next_wake_at().await.unwrap(), None);
    assert!(store.pending_follow_ups(10).await.unwrap().is_empty());

    // A commit of two workflows where the second conflicts applies neither.
    let mut first = workflow("wf-other", "flow");
    first.status = WorkflowStatus::Paused;
    let commit = Commit {
        workflows: vec![
            update(first, &d, 1),
            update(workflow("wf-1", "flow"), &d, 1),
        ],
        ..Default::default()
    };
    let err = store.commit(commit).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let other = store.load_workflow("wf-other").await.unwrap().unwrap();
    assert_eq!(other.version, 1);
    assert_eq!(other.workflow.status, WorkflowStatus::Running);

    // An update of a workflow that does not exist is a conflict too.
    let err = store
        .commit(one(update(workflow("ghost", "flow"), &d, 1)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

/// Follow-ups are stored with the commit that leaves them, listed oldest first, and
/// deleted by the commit that carries them out (deleting an absent one is no error).
pub async fn follow_ups_are_stored_and_done_with_commits(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let mut commit = one(insert(workflow("wf-1", "flow"), &d, vec![]));
    commit.follow_ups = vec![follow_up("f-2", "wf-1"), follow_up("f-1", "wf-1")];
    store.commit(commit).await.unwrap();
    let pending = store.pending_follow_ups(10).await.unwrap();
    assert_eq!(
        pending,
        vec![follow_up("f-1", "wf-1"), follow_up("f-2", "wf-1")]
    );
    assert_eq!(store.pending_follow_ups(1).await.unwrap().len(), 1);

    // Carried out with a commit that names no workflow, and once more (a second node).
    for _ in 0..2 {
        let commit = Commit {
            follow_ups_done: vec!["f-1".into()],
            ..Default::default()
        };
        store.commit(commit).await.unwrap();
    }
    let pending = store.pending_follow_ups(10).await.unwrap();
    assert_eq!(pending, vec![follow_up("f-2", "wf-1")]);

    // A follow-up done and a new one left in one commit with a workflow update.
    let mut commit = one(update(workflow("wf-1", "flow"), &d, 1));
    commit.follow_ups_done = vec!["f-2".into()];
    commit.follow_ups = vec![follow_up("f-3", "wf-1")];
    store.commit(commit).await.unwrap();
    let pending = store.pending_follow_ups(10).await.unwrap();
    assert_eq!(pending, vec![follow_up("f-3", "wf-1")]);
}

pub async fn batch_with_conflict_commits_the_rest(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    for i in 0..40 {
        store
            .commit(one(insert(
                workflow(&format!("wf-{i}"), "flow"),
                &d,
                vec![],
            )))
            .await
            .unwrap();
    }
    // Even workflows get a good update, odd ones a stale one, all at once so that they
    // share batches.
    let mut handles = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let d = d.clone();
        handles.push(tokio::spawn(async move {
            let mut w = workflow(&format!("wf-{i}"), "flow");
            w.status = WorkflowStatus::Completed;
            let version = if i % 2 == 0 { 1 } else { 7 };
            (i, store.commit(one(update(w, &d, version))).await)
        }));
    }
    for h in handles {
        let (i, result) = h.await.unwrap();
        let state = store
            .load_workflow(&format!("wf-{i}"))
            .await
            .unwrap()
            .unwrap();
        if i % 2 == 0 {
            result.unwrap();
            assert_eq!(state.version, 2);
            assert_eq!(state.workflow.status, WorkflowStatus::Completed);
        } else {
            assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
            assert_eq!(state.version, 1);
            assert_eq!(state.workflow.status, WorkflowStatus::Running);
        }
    }
}
