//! The store conformance suite: every `Store` method against a real database.
//!
//! The suite (module `suite`) is written against `Arc<dyn Store>` so that every backend runs
//! the same checks; each backend adds a module of entry points that hand it a fresh store.
//! The SQLite entry points give each test its own file under the system temp directory; the
//! PostgreSQL ones their own database (see `support/pg.rs`).

use baton_store::Store;
use std::sync::Arc;

#[path = "support/pg.rs"]
mod pg;

#[path = "conformance/by_tasks.rs"]
mod by_tasks;
#[path = "conformance/capped_counts.rs"]
mod capped_counts;
#[path = "conformance/classifier.rs"]
mod classifier;
#[path = "conformance/classifier_pages.rs"]
mod classifier_pages;
#[path = "conformance/def_limits.rs"]
mod def_limits;
#[path = "conformance/free_text_pages.rs"]
mod free_text_pages;
#[path = "conformance/task_free_text.rs"]
mod task_free_text;
#[path = "conformance/task_updates.rs"]
mod task_updates;

pub mod suite {
    pub use super::by_tasks::search_workflows_by_tasks;
    pub use super::capped_counts::capped_totals_and_pages_past_the_cap;
    pub use super::classifier::search_by_classifier;
    pub use super::classifier_pages::plain_workflow_pages_in_order;
    pub use super::def_limits::poll_limits_by_definition;
    pub use super::free_text_pages::{
        free_text_pages_follow_their_workflows, free_text_pages_in_order,
    };
    pub use super::task_free_text::{
        task_free_text_across_index_batches, task_free_text_matches_the_search_document,
        task_free_text_reads_the_start_of_long_input_and_output,
    };
    pub use super::task_updates::task_updates_move_their_search_keys;
    use super::*;
    use baton_model::{
        HistoryEvent, QueueEntry, Task, TaskDef, TaskExecLog, TaskStatus, Workflow, WorkflowDef,
        WorkflowStatus,
    };
    use baton_store::{Commit, FollowUp, PollRequest, StoreError, WorkflowQuery, WorkflowWrite};
    use std::collections::HashSet;

    pub const NOW: i64 = 1_700_000_000_000;

    // ----- fixtures -----

    pub fn def(name: &str, version: i32) -> WorkflowDef {
        serde_json::from_value(serde_json::json!({
            "name": name,
            "version": version,
            "tasks": [
                {"name": "a", "taskReferenceName": "a_ref", "type": "SIMPLE"},
                {"name": "b", "taskReferenceName": "b_ref", "type": "SIMPLE"}
            ]
        }))
        .unwrap()
    }

    pub fn workflow(id: &str, name: &str) -> Workflow {
        Workflow {
            workflow_id: id.to_string(),
            workflow_name: name.to_string(),
            workflow_version: 1,
            status: WorkflowStatus::Running,
            start_time: NOW,
            create_time: NOW,
            update_time: NOW,
            ..Default::default()
        }
    }

    pub fn task(workflow_id: &str, task_id: &str, seq: i32, task_type: &str) -> Task {
        Task {
            task_id: task_id.to_string(),
            workflow_instance_id: workflow_id.to_string(),
            task_type: task_type.to_string(),
            task_def_name: task_type.to_string(),
            reference_task_name: format!("{task_type}_ref"),
            seq,
            status: TaskStatus::Scheduled,
            scheduled_time: NOW - 100,
            response_timeout_seconds: 30,
            workflow_task: Some(baton_model::WorkflowTask::new(
                task_type,
                &format!("{task_type}_ref"),
                "SIMPLE",
            )),
            task_definition: Some(TaskDef::named(task_type)),
            ..Default::default()
        }
    }

    pub fn entry(t: &Task, priority: i32, visible_at: i64) -> QueueEntry {
        QueueEntry {
            queue: t.queue_name(),
            task_id: t.task_id.clone(),
            workflow_id: t.workflow_instance_id.clone(),
            priority,
            visible_at,
        }
    }

    /// A new workflow whose tasks are all queued, visible now.
    pub fn insert(wf: Workflow, def: &Arc<WorkflowDef>, tasks: Vec<Task>) -> WorkflowWrite {
        let queue_push = tasks.iter().map(|t| entry(t, 0, NOW)).collect();
        let history = vec![HistoryEvent::workflow(
            &wf.workflow_id,
            "RUNNING",
            NOW,
            None,
        )];
        WorkflowWrite {
            workflow: wf,
            def: def.clone(),
            expected_version: None,
            tasks,
            removed_tasks: vec![],
            queue_push,
            queue_remove: vec![],
            history,
            next_wake_at: None,
            keep_input: false,
        }
    }

    /// An update of an existing workflow that changes nothing else.
    pub fn update(wf: Workflow, def: &Arc<WorkflowDef>, version: i64) -> WorkflowWrite {
        WorkflowWrite {
            workflow: wf,
            def: def.clone(),
            expected_version: Some(version),
            tasks: vec![],
            removed_tasks: vec![],
            queue_push: vec![],
            queue_remove: vec![],
            history: vec![],
            next_wake_at: None,
            keep_input: false,
        }
    }

    pub fn one(write: WorkflowWrite) -> Commit {
        Commit {
            workflows: vec![write],
            ..Default::default()
        }
    }

    pub fn follow_up(id: &str, workflow_id: &str) -> FollowUp {
        FollowUp {
            id: id.to_string(),
            workflow_id: workflow_id.to_string(),
            payload: serde_json::json!({"do": id, "nested": {"n": [1, 2]}}),
            created_at: NOW,
        }
    }

    pub fn poll_req(queue: &str, count: usize, worker: &str, now: i64) -> PollRequest {
        PollRequest {
            queue: queue.to_string(),
            count,
            worker_id: Some(worker.to_string()),
            domain: None,
            now,
            limits: Default::default(),
            def_limits: None,
            registered: true,
            claim: baton_engine::claim::claim,
        }
    }

    async fn version_of(store: &Arc<dyn Store>, id: &str) -> i64 {
        store.load_workflow(id).await.unwrap().unwrap().version
    }

    async fn queue_size(store: &Arc<dyn Store>, queue: &str) -> i64 {
        store
            .queue_sizes()
            .await
            .unwrap()
            .into_iter()
            .find(|(q, _)| q == queue)
            .map(|(_, n)| n)
            .unwrap_or(0)
    }

    // ----- export (baton migrate) -----

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

    // ----- definitions -----

    pub async fn task_defs(store: Arc<dyn Store>) {
        let mut a = TaskDef::named("alpha");
        a.retry_count = 5;
        store
            .put_task_defs(vec![TaskDef::named("beta"), a.clone()])
            .await
            .unwrap();
        let got = store.get_task_def("alpha").await.unwrap().unwrap();
        assert_eq!(got.retry_count, 5);
        assert!(got.create_time > 0, "createTime set on insert");
        let created = got.create_time;
        assert!(store.get_task_def("gamma").await.unwrap().is_none());

        let names: Vec<String> = store
            .list_task_defs()
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["alpha", "beta"]);

        // Re-put replaces and keeps the creation time.
        a.retry_count = 7;
        store.put_task_defs(vec![a.clone()]).await.unwrap();
        let got = store.get_task_def("alpha").await.unwrap().unwrap();
        assert_eq!(got.retry_count, 7);
        assert_eq!(got.create_time, created);

        a.retry_count = 1;
        store.update_task_def(a).await.unwrap();
        assert_eq!(
            store
                .get_task_def("alpha")
                .await
                .unwrap()
                .unwrap()
                .retry_count,
            1
        );
        let err = store
            .update_task_def(TaskDef::named("missing"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
        assert!(store.get_task_def("missing").await.unwrap().is_none());

        store.delete_task_def("beta").await.unwrap();
        assert!(store.get_task_def("beta").await.unwrap().is_none());
        let err = store.delete_task_def("beta").await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
        assert_eq!(store.list_task_defs().await.unwrap().len(), 1);
    }

    pub async fn workflow_defs(store: Arc<dyn Store>) {
        let mut v1 = def("flow", 1);
        store.put_workflow_def(v1.clone(), false).await.unwrap();
        let err = store.put_workflow_def(v1.clone(), false).await.unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");

        v1.description = Some("replaced".into());
        store.put_workflow_def(v1.clone(), true).await.unwrap();
        let got = store
            .get_workflow_def("flow", Some(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.description.as_deref(), Some("replaced"));
        assert!(got.create_time > 0);

        store.put_workflow_def(def("flow", 3), false).await.unwrap();
        store.put_workflow_def(def("flow", 2), false).await.unwrap();
        store
            .put_workflow_def(def("another", 1), false)
            .await
            .unwrap();
        assert_eq!(
            store
                .get_workflow_def("flow", None)
                .await
                .unwrap()
                .unwrap()
                .version,
            3
        );
        assert_eq!(
            store
                .get_workflow_def("flow", Some(2))
                .await
                .unwrap()
                .unwrap()
                .version,
            2
        );
        assert!(store
            .get_workflow_def("flow", Some(9))
            .await
            .unwrap()
            .is_none());
        assert!(store
            .get_workflow_def("nope", None)
            .await
            .unwrap()
            .is_none());

        let listed: Vec<(String, i32)> = store
            .list_workflow_defs()
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.name, d.version))
            .collect();
        assert_eq!(
            listed,
            [
                ("another".to_string(), 1),
                ("flow".to_string(), 1),
                ("flow".to_string(), 2),
                ("flow".to_string(), 3)
            ]
        );

        store.delete_workflow_def("flow", 3).await.unwrap();
        assert_eq!(
            store
                .get_workflow_def("flow", None)
                .await
                .unwrap()
                .unwrap()
                .version,
            2
        );
        let err = store.delete_workflow_def("flow", 3).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    }

    // ----- executions -----

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
        write.tasks = vec![done];
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
        write.tasks = vec![t0, t1];
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

    // ----- queues -----

    pub async fn poll_claims_in_order(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let tasks: Vec<Task> = (0..5)
            .map(|i| task("wf-1", &format!("t-{i}"), i, "work"))
            .collect();
        let mut write = insert(workflow("wf-1", "flow"), &d, tasks.clone());
        write.queue_push = vec![
            entry(&tasks[0], 0, NOW - 10),
            entry(&tasks[1], 5, NOW - 5),      // highest priority
            entry(&tasks[2], 0, NOW - 20),     // oldest of priority 0
            entry(&tasks[3], 9, NOW + 60_000), // not yet visible
            entry(&tasks[4], 0, NOW + 30_000), // not yet visible
        ];
        store.commit(one(write)).await.unwrap();
        assert_eq!(queue_size(&store, "work").await, 5);

        let out = store.poll(poll_req("work", 2, "w1", NOW)).await.unwrap();
        let ids: Vec<&str> = out.tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["t-1", "t-2"]);
        assert_eq!(out.next_visible_at, None);
        for t in &out.tasks {
            assert_eq!(t.status, TaskStatus::InProgress);
            assert_eq!(t.worker_id.as_deref(), Some("w1"));
            assert_eq!(t.poll_count, 1);
            assert_eq!(t.start_time, NOW);
            assert_eq!(t.first_start_time, NOW);
            assert_eq!(t.update_time, NOW);
            assert_eq!(t.queue_wait_time, 100);
        }
        let stored = store.get_task("t-1").await.unwrap().unwrap();
        assert_eq!(stored.status, TaskStatus::InProgress);
        assert_eq!(stored.worker_id.as_deref(), Some("w1"));

        let state = store.load_workflow("wf-1").await.unwrap().unwrap();
        assert_eq!(
            state.version, 1,
            "claims leave the workflow's version alone"
        );
        assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 30_000));
        let events = store.history("wf-1").await.unwrap();
        let claimed: Vec<_> = events
            .iter()
            .filter(|e| e.entity == "TASK" && e.status == "IN_PROGRESS")
            .collect();
        assert_eq!(claimed.len(), 2);
        assert_eq!(claimed[0].worker_id.as_deref(), Some("w1"));

        let out = store.poll(poll_req("work", 10, "w1", NOW)).await.unwrap();
        assert_eq!(out.tasks.len(), 1);
        assert_eq!(out.tasks[0].task_id, "t-0");

        // Nothing visible: tells when the next entry will be.
        let out = store
            .poll(poll_req("work", 10, "w2", NOW + 1))
            .await
            .unwrap();
        assert!(out.tasks.is_empty());
        assert_eq!(out.next_visible_at, Some(NOW + 30_000));
        let out = store
            .poll(poll_req("work", 10, "w2", NOW + 2))
            .await
            .unwrap();
        assert_eq!(out.next_visible_at, Some(NOW + 30_000));

        let out = store
            .poll(poll_req("work", 10, "w2", NOW + 60_000))
            .await
            .unwrap();
        let ids: Vec<&str> = out.tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["t-3", "t-4"]);
        assert_eq!(queue_size(&store, "work").await, 0);
        let out = store
            .poll(poll_req("work", 10, "w2", NOW + 60_001))
            .await
            .unwrap();
        assert!(out.tasks.is_empty());
        assert_eq!(out.next_visible_at, None);

        // Other queues and domains are separate.
        let out = store.poll(poll_req("other", 10, "w2", NOW)).await.unwrap();
        assert!(out.tasks.is_empty());

        let polls = store.poll_data().await.unwrap();
        let work = polls.iter().find(|p| p.queue_name == "work").unwrap();
        assert_eq!(work.worker_id, "w2");
        assert!(work.last_poll_time > NOW);
        assert!(polls.iter().any(|p| p.queue_name == "other"));
    }

    pub async fn poll_with_domain(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let mut t = task("wf-1", "t-0", 0, "work");
        t.domain = Some("blue".into());
        store
            .commit(one(insert(workflow("wf-1", "flow"), &d, vec![t])))
            .await
            .unwrap();
        let out = store.poll(poll_req("work", 1, "w", NOW)).await.unwrap();
        assert!(out.tasks.is_empty());
        let mut req = poll_req("blue:work", 1, "w", NOW);
        req.domain = Some("blue".into());
        let out = store.poll(req).await.unwrap();
        assert_eq!(out.tasks.len(), 1);
        let polls = store.poll_data().await.unwrap();
        assert!(polls
            .iter()
            .any(|p| p.queue_name == "work" && p.domain.as_deref() == Some("blue")));
    }

    pub async fn poll_without_response_timeout_keeps_wake(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let mut t = task("wf-1", "t-0", 0, "work");
        t.response_timeout_seconds = 0;
        let mut write = insert(workflow("wf-1", "flow"), &d, vec![t]);
        write.next_wake_at = Some(NOW + 5_000_000);
        store.commit(one(write)).await.unwrap();
        let out = store.poll(poll_req("work", 1, "w", NOW)).await.unwrap();
        assert_eq!(out.tasks.len(), 1);
        assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 5_000_000));
        assert_eq!(version_of(&store, "wf-1").await, 1);
    }

    /// A copy read before a claim cannot undo it: writing the claimed task from that copy is
    /// a conflict that changes nothing, while a commit that leaves the task alone passes
    /// but cannot move the workflow's wake-up past the claim's lease.
    pub async fn commits_from_before_a_claim_cannot_undo_it(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let t = task("wf-1", "t-0", 0, "work"); // responseTimeoutSeconds 30
        let other = task("wf-1", "t-1", 1, "other");
        store
            .commit(one(insert(
                workflow("wf-1", "flow"),
                &d,
                vec![t.clone(), other.clone()],
            )))
            .await
            .unwrap();
        let out = store.poll(poll_req("work", 1, "w", NOW)).await.unwrap();
        assert_eq!(out.tasks.len(), 1);
        let lease_end = NOW + 30_000;
        assert_eq!(out.wake_by, Some(lease_end));

        // The stale copy (t-0 still SCHEDULED, poll count 0) cancels t-0: refused.
        let mut stale = t.clone();
        stale.status = TaskStatus::Canceled;
        let mut write = update(workflow("wf-1", "flow"), &d, 1);
        write.tasks = vec![stale];
        write.next_wake_at = Some(NOW + 999_000);
        let err = store.commit(one(write)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        let kept = store.get_task("t-0").await.unwrap().unwrap();
        assert_eq!(kept.status, TaskStatus::InProgress);
        assert_eq!(version_of(&store, "wf-1").await, 1, "nothing changed");

        // The same copy changing only t-1 passes, and the wake-up stays at the lease end.
        let mut other_done = other.clone();
        other_done.status = TaskStatus::Completed;
        let mut write = update(workflow("wf-1", "flow"), &d, 1);
        write.tasks = vec![other_done];
        write.next_wake_at = Some(NOW + 999_000);
        store.commit(one(write)).await.unwrap();
        assert_eq!(store.next_wake_at().await.unwrap(), Some(lease_end));
        assert_eq!(store.due_workflows(lease_end, 10).await.unwrap(), ["wf-1"]);

        // A copy that saw the claim writes t-0 (a heartbeat); its own wake-up now rules.
        let mut seen = out.tasks[0].clone();
        seen.update_time = NOW + 10_000;
        let mut write = update(workflow("wf-1", "flow"), &d, 2);
        write.tasks = vec![seen];
        write.next_wake_at = Some(NOW + 40_000);
        store.commit(one(write)).await.unwrap();
        assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 40_000));
    }

    /// The input is written at the start and when an update gives it, and kept otherwise;
    /// every read (load, get, search, free text) sees it.
    pub async fn updates_keep_the_input_unless_they_replace_it(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let mut wf = workflow("wf-1", "flow");
        wf.input
            .insert("files".into(), serde_json::json!(["a.c", "needle.c"]));
        store
            .commit(one(insert(wf.clone(), &d, vec![])))
            .await
            .unwrap();

        let mut kept = update(workflow("wf-1", "flow"), &d, 1); // input left empty
        kept.keep_input = true;
        kept.workflow.status = WorkflowStatus::Paused;
        store.commit(one(kept)).await.unwrap();
        let state = store.load_workflow("wf-1").await.unwrap().unwrap();
        assert_eq!(state.workflow.status, WorkflowStatus::Paused);
        assert_eq!(state.workflow.input, wf.input);
        let got = store.get_workflow("wf-1").await.unwrap().unwrap();
        assert_eq!(got.input, wf.input);
        let q = WorkflowQuery {
            free_text: Some("needle".into()),
            ..Default::default()
        };
        let (n, found) = store.search_workflows(&q).await.unwrap();
        assert_eq!(n, 1);
        assert_eq!(found[0].input, wf.input);

        let mut replaced = update(workflow("wf-1", "flow"), &d, 2);
        replaced
            .workflow
            .input
            .insert("files".into(), serde_json::json!(["b.c"]));
        store.commit(one(replaced)).await.unwrap();
        let got = store.get_workflow("wf-1").await.unwrap().unwrap();
        assert_eq!(got.input.get("files"), Some(&serde_json::json!(["b.c"])));
    }

    /// API keys (created once, revoked once), the shared server secret (the first candidate
    /// wins) and webhook deliveries (the first record wins).
    pub async fn keys_secrets_and_deliveries(store: Arc<dyn Store>) {
        let key = baton_store::ApiKey {
            key_id: "k1".into(),
            name: "ci".into(),
            role: "worker".into(),
            secret_hash: "$argon2id$x".into(),
            created_at: NOW,
            revoked_at: None,
            task_types: None,
        };
        store.put_api_key(key.clone()).await.unwrap();
        let scoped = baton_store::ApiKey {
            key_id: "k2".into(),
            task_types: Some(vec!["build".into(), "flash".into()]),
            ..key.clone()
        };
        store.put_api_key(scoped.clone()).await.unwrap();
        assert_eq!(store.get_api_key("k2").await.unwrap(), Some(scoped));
        let again = store.put_api_key(key.clone()).await.unwrap_err();
        assert!(matches!(again, StoreError::AlreadyExists(_)), "{again:?}");
        assert_eq!(store.get_api_key("k1").await.unwrap(), Some(key.clone()));
        assert_eq!(store.get_api_key("nope").await.unwrap(), None);
        assert!(store.revoke_api_key("k1", NOW + 5).await.unwrap());
        assert!(!store.revoke_api_key("k1", NOW + 6).await.unwrap());
        let listed = store.list_api_keys().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].revoked_at, Some(NOW + 5));
        assert_eq!(listed[0].task_types, None);
        assert_eq!(
            listed[1].task_types.as_deref(),
            Some(&["build".to_string(), "flash".to_string()][..])
        );

        let first = store.server_secret("tokens", vec![1, 2, 3]).await.unwrap();
        let second = store.server_secret("tokens", vec![9, 9]).await.unwrap();
        assert_eq!(
            (first.as_slice(), second.as_slice()),
            (&[1u8, 2, 3][..], &[1u8, 2, 3][..])
        );

        let d = baton_store::WebhookDelivery {
            hook: "github".into(),
            delivery_id: "d-1".into(),
            received_at: NOW,
            workflow_ids: vec!["wf-a".into()],
        };
        assert_eq!(
            store.record_webhook_delivery(d.clone()).await.unwrap(),
            None
        );
        let mut replay = d.clone();
        replay.workflow_ids = vec!["wf-b".into()];
        assert_eq!(
            store.record_webhook_delivery(replay).await.unwrap(),
            Some(d.clone())
        );
        assert_eq!(
            store.webhook_delivery("github", "d-1").await.unwrap(),
            Some(d)
        );
        assert_eq!(store.webhook_delivery("github", "d-2").await.unwrap(), None);
    }

    pub async fn stale_queue_entry_is_dropped(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let mut done = task("wf-1", "t-0", 0, "work");
        done.status = TaskStatus::Completed;
        let live = task("wf-1", "t-1", 1, "work");
        let mut write = insert(
            workflow("wf-1", "flow"),
            &d,
            vec![done.clone(), live.clone()],
        );
        write.queue_push = vec![
            entry(&done, 9, NOW),
            entry(&live, 0, NOW),
            // An entry whose task does not exist at all.
            QueueEntry {
                queue: "work".into(),
                task_id: "ghost".into(),
                workflow_id: "wf-1".into(),
                priority: 9,
                visible_at: NOW,
            },
        ];
        store.commit(one(write)).await.unwrap();
        let out = store.poll(poll_req("work", 1, "w", NOW)).await.unwrap();
        let ids: Vec<&str> = out.tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(
            ids,
            ["t-1"],
            "stale entries skipped, the live one still claimed"
        );
        assert_eq!(queue_size(&store, "work").await, 0);
        assert_eq!(
            store.get_task("t-0").await.unwrap().unwrap().status,
            TaskStatus::Completed
        );
    }

    pub async fn concurrent_pollers_claim_each_task_once(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        for w in 0..50 {
            let wf_id = format!("wf-{w}");
            let tasks = (0..10)
                .map(|i| task(&wf_id, &format!("{wf_id}-t-{i}"), i, "work"))
                .collect();
            store
                .commit(one(insert(workflow(&wf_id, "flow"), &d, tasks)))
                .await
                .unwrap();
        }
        assert_eq!(queue_size(&store, "work").await, 500);

        let mut pollers = Vec::new();
        for p in 0..8 {
            let store = store.clone();
            pollers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let out = store
                        .poll(poll_req("work", 7, &format!("worker-{p}"), NOW))
                        .await
                        .unwrap();
                    if out.tasks.is_empty() {
                        break;
                    }
                    for t in out.tasks {
                        assert_eq!(t.worker_id, Some(format!("worker-{p}")));
                        mine.push(t.task_id);
                    }
                }
                mine
            }));
        }
        let mut all = Vec::new();
        let mut busy_pollers = 0;
        for h in pollers {
            let mine = h.await.unwrap();
            if !mine.is_empty() {
                busy_pollers += 1;
            }
            all.extend(mine);
        }
        assert_eq!(all.len(), 500, "every task claimed exactly once");
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), 500);
        assert!(busy_pollers >= 1);
        assert_eq!(queue_size(&store, "work").await, 0);
        for w in 0..50 {
            let state = store
                .load_workflow(&format!("wf-{w}"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                state.version, 1,
                "claims leave the workflow's version alone"
            );
            assert!(state
                .tasks
                .iter()
                .all(|t| t.status == TaskStatus::InProgress && t.poll_count == 1));
        }
    }

    // ----- timers -----

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

    // ----- logs and history -----

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
        write.tasks = vec![t1];
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

    // ----- search -----

    pub async fn search_filters_and_pages(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let d2 = Arc::new(def("other", 2));
        for i in 0..12 {
            let (name, def) = if i % 3 == 0 {
                ("other", &d2)
            } else {
                ("flow", &d)
            };
            let mut w = workflow(&format!("wf-{i:02}"), name);
            w.workflow_version = def.version;
            w.start_time = NOW + i;
            w.update_time = NOW + 100 - i;
            w.correlation_id = Some(format!("corr-{}", i % 2));
            if i == 5 {
                w.status = WorkflowStatus::Failed;
                w.input
                    .insert("needle".into(), serde_json::json!("50% off_sale"));
            }
            if i == 7 {
                w.idempotency_key = Some("key-1".into());
            }
            store.commit(one(insert(w, def, vec![]))).await.unwrap();
        }
        let ids = |page: &Vec<Workflow>| {
            page.iter()
                .map(|w| w.workflow_id.clone())
                .collect::<Vec<_>>()
        };

        // Everything, newest first by default.
        let (total, page) = store
            .search_workflows(&WorkflowQuery {
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 12);
        assert_eq!(ids(&page), ["wf-11", "wf-10", "wf-09", "wf-08", "wf-07"]);
        assert!(page.iter().all(|w| w.tasks.is_empty()));

        let (total, page) = store
            .search_workflows(&WorkflowQuery {
                offset: 10,
                limit: 5,
                sort: Some(("startTime".into(), false)),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 12);
        assert_eq!(ids(&page), ["wf-10", "wf-11"]);

        let (total, page) = store
            .search_workflows(&WorkflowQuery {
                workflow_types: vec!["other".into()],
                limit: 100,
                sort: Some(("updateTime".into(), false)),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 4);
        assert_eq!(ids(&page), ["wf-09", "wf-06", "wf-03", "wf-00"]);

        let (total, page) = store
            .search_workflows(&WorkflowQuery {
                statuses: vec![WorkflowStatus::Failed, WorkflowStatus::Completed],
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!((total, ids(&page)), (1, vec!["wf-05".to_string()]));

        let (total, _) = store
            .search_workflows(&WorkflowQuery {
                workflow_types: vec!["flow".into()],
                correlation_ids: vec!["corr-1".into()],
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 4); // 1, 5, 7, 11

        let (total, page) = store
            .search_workflows(&WorkflowQuery {
                workflow_ids: vec!["wf-01".into(), "wf-02".into(), "nope".into()],
                start_time_from: Some(NOW + 2),
                start_time_to: Some(NOW + 8),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!((total, ids(&page)), (1, vec!["wf-02".to_string()]));

        let (total, _) = store
            .search_workflows(&WorkflowQuery {
                version: Some(2),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 4);

        for (text, expected) in [("50% off_sale", 1), ("needle", 1), ("0% o", 1), ("5_%", 0)] {
            let (total, _) = store
                .search_workflows(&WorkflowQuery {
                    free_text: Some(text.into()),
                    limit: 100,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(total, expected, "free text {text:?}");
        }

        // Unknown sort keys fall back to start time; hostile ones are not interpolated.
        let (total, page) = store
            .search_workflows(&WorkflowQuery {
                limit: 1,
                sort: Some(("1; DROP TABLE workflows; --".into(), true)),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!((total, ids(&page)), (12, vec!["wf-11".to_string()]));

        // Indexed columns follow updates of the row.
        let changed = store.load_workflow("wf-00").await.unwrap().unwrap();
        let mut w = changed.workflow;
        w.status = WorkflowStatus::Completed;
        w.correlation_id = Some("corr-x".into());
        w.start_time = NOW - 1;
        store
            .commit(one(update(w, &changed.def, changed.version)))
            .await
            .unwrap();
        let (total, page) = store
            .search_workflows(&WorkflowQuery {
                statuses: vec![WorkflowStatus::Completed],
                correlation_ids: vec!["corr-x".into()],
                start_time_to: Some(NOW - 1),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!((total, ids(&page)), (1, vec!["wf-00".to_string()]));
        let (total, _) = store
            .search_workflows(&WorkflowQuery {
                correlation_ids: vec!["corr-0".into()],
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 5, "wf-00 left corr-0");

        let found = store
            .find_by_idempotency_key("flow", "key-1")
            .await
            .unwrap();
        assert_eq!(ids(&found), ["wf-07"]);
        assert!(store
            .find_by_idempotency_key("other", "key-1")
            .await
            .unwrap()
            .is_empty());
        let mut again = workflow("wf-99", "flow");
        again.idempotency_key = Some("key-1".into());
        again.start_time = NOW + 1000;
        store.commit(one(insert(again, &d, vec![]))).await.unwrap();
        let found = store
            .find_by_idempotency_key("flow", "key-1")
            .await
            .unwrap();
        assert_eq!(ids(&found), ["wf-99", "wf-07"], "newest first");
    }

    /// Documents read back exactly as written: key order, NUL characters, big numbers.
    pub async fn documents_read_back_exactly(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let input = serde_json::json!({
            "zeta": 1, "alpha": {"y": [3, 2, 1], "b": null},
            "text": "nul \u{0000} ünïcödé 😀", "big": 1e308, "neg": -9007199254740993i64
        });
        let mut wf = workflow("wf-1", "flow");
        wf.input = input.as_object().unwrap().clone();
        let mut t = task("wf-1", "t-0", 0, "a");
        t.input_data = wf.input.clone();
        store.commit(one(insert(wf, &d, vec![t]))).await.unwrap();
        let text =
            |v: &serde_json::Map<String, serde_json::Value>| serde_json::to_string(v).unwrap();
        let state = store.load_workflow("wf-1").await.unwrap().unwrap();
        assert_eq!(
            text(&state.workflow.input),
            text(input.as_object().unwrap())
        );
        assert_eq!(
            text(&state.tasks[0].input_data),
            text(input.as_object().unwrap())
        );
        let (total, _) = store
            .search_workflows(&WorkflowQuery {
                free_text: Some("ünïcödé".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 1);
    }

    async fn free_text_total(store: &Arc<dyn Store>, text: &str) -> i64 {
        let q = WorkflowQuery {
            free_text: Some(text.into()),
            limit: 10,
            ..Default::default()
        };
        store.search_workflows(&q).await.unwrap().0
    }

    /// Free text is a case-insensitive substring of the search document: id, correlation
    /// id, type, status, input, output and reason, kept as the workflow changes; other
    /// fields (variables) are not searched.
    pub async fn free_text_matches_the_search_document(store: Arc<dyn Store>) {
        let d = Arc::new(def("Shipping", 1));
        let mut wf = workflow("wf-text-1", "Shipping");
        wf.correlation_id = Some("Order-77".into());
        wf.input.insert(
            "files".into(),
            serde_json::json!(["needle.c", "say \"hi\""]),
        );
        wf.input
            .insert("label".into(), serde_json::json!("Été Größe"));
        wf.variables
            .insert("hidden".into(), serde_json::json!("varonly"));
        store
            .commit(one(insert(wf.clone(), &d, vec![])))
            .await
            .unwrap();
        let other = workflow("wf-text-2", "Shipping");
        store.commit(one(insert(other, &d, vec![]))).await.unwrap();
        for (text, expected) in [
            ("order-77", 1),    // correlation id, any case
            ("NEEDLE.C", 1),    // input, any case
            ("ÉTÉ GRÖßE", 1),   // beyond ASCII too
            ("ed", 1),          // shorter than a trigram: the documents are scanned
            ("\"files\":[", 1), // quotes are literal (the input's JSON)
            ("wf-text-", 2),    // ids
            ("shipping", 2),    // type
            ("running", 2),     // status
            ("varonly", 0),     // variables are not in the document
            ("needle.cc", 0),
            ("\"\"\"", 0),
        ] {
            assert_eq!(free_text_total(&store, text).await, expected, "{text:?}");
        }

        // Completing it (input kept, not given again) writes output and reason and keeps
        // the input searchable.
        let mut done = update(workflow("wf-text-1", "Shipping"), &d, 1);
        done.keep_input = true;
        done.workflow.correlation_id = Some("Order-77".into());
        done.workflow.status = WorkflowStatus::Completed;
        done.workflow
            .output
            .insert("result".into(), serde_json::json!("Shipped-OK"));
        done.workflow.reason_for_incompletion = Some("late by 3 days".into());
        store.commit(one(done)).await.unwrap();
        for (text, expected) in [
            ("shipped-ok", 1),
            ("late by 3", 1),
            ("completed", 1),
            ("running", 1),
            ("needle", 1),
            ("order-77", 1),
        ] {
            assert_eq!(free_text_total(&store, text).await, expected, "{text:?}");
        }

        store.remove_workflow("wf-text-1").await.unwrap();
        assert_eq!(free_text_total(&store, "needle").await, 0);
        assert_eq!(free_text_total(&store, "wf-text-").await, 1);
    }

    /// Queue sizes come from counts kept with the queue rows; they stay exact through
    /// pushes, claims, re-pushes of a queued task, moves to another queue, removals, a
    /// commit that conflicts and concurrent claims.
    pub async fn queue_counts_stay_exact(store: Arc<dyn Store>) {
        let d = Arc::new(def("counted", 1));
        let tasks: Vec<Task> = (0..6)
            .map(|i| task("wf-c", &format!("t-c{i}"), i, "count_a"))
            .collect();
        store
            .commit(one(insert(workflow("wf-c", "counted"), &d, tasks.clone())))
            .await
            .unwrap();
        assert_eq!(queue_size(&store, "count_a").await, 6);

        let claimed = store
            .poll(poll_req("count_a", 2, "w", NOW + 1))
            .await
            .unwrap();
        assert_eq!(claimed.tasks.len(), 2);
        assert_eq!(queue_size(&store, "count_a").await, 4);
        let version = version_of(&store, "wf-c").await;

        // Re-pushing a queued task replaces its entry; moving one changes queues; removing
        // one takes it off.
        let mut w = update(workflow("wf-c", "counted"), &d, version);
        w.queue_push = vec![entry(&tasks[2], 5, NOW + 2)];
        let mut moved = entry(&tasks[3], 0, NOW + 2);
        moved.queue = "count_b".into();
        w.queue_push.push(moved);
        w.queue_remove = vec![tasks[4].task_id.clone()];
        store.commit(one(w)).await.unwrap();
        assert_eq!(queue_size(&store, "count_a").await, 2);
        assert_eq!(queue_size(&store, "count_b").await, 1);

        // A stale commit changes nothing, counts included.
        let mut stale = update(workflow("wf-c", "counted"), &d, version);
        stale.queue_push = vec![entry(&tasks[0], 0, NOW)];
        assert!(store.commit(one(stale)).await.is_err());
        assert_eq!(queue_size(&store, "count_a").await, 2);
        assert_eq!(
            store.queue_entries("wf-c").await.unwrap().len(),
            3,
            "the counts agree with the entries"
        );

        // Concurrent pollers empty a queue of 40: it leaves the list.
        let many: Vec<Task> = (0..40)
            .map(|i| task("wf-m", &format!("t-m{i}"), i, "count_m"))
            .collect();
        store
            .commit(one(insert(workflow("wf-m", "counted"), &d, many)))
            .await
            .unwrap();
        assert_eq!(queue_size(&store, "count_m").await, 40);
        let mut pollers = tokio::task::JoinSet::new();
        for p in 0..4 {
            let store = store.clone();
            pollers.spawn(async move {
                let mut got = 0;
                for _ in 0..40 {
                    let out = store
                        .poll(poll_req("count_m", 3, &format!("w{p}"), NOW + 1))
                        .await
                        .unwrap();
                    if out.tasks.is_empty() {
                        break;
                    }
                    got += out.tasks.len();
                }
                got
            });
        }
        let mut total = 0;
        while let Some(n) = pollers.join_next().await {
            total += n.unwrap();
        }
        assert_eq!(total, 40);
        assert!(store
            .queue_sizes()
            .await
            .unwrap()
            .iter()
            .all(|(q, _)| q != "count_m"));

        store.remove_workflow("wf-c").await.unwrap();
        let sizes = store.queue_sizes().await.unwrap();
        assert!(sizes.is_empty(), "{sizes:?}");
    }

    /// Totals of searches by type and status come from stored counts; they agree with a
    /// count of the rows (the same query with a time bound that keeps every row) through
    /// status changes and removals.
    pub async fn counted_totals_match_the_rows(store: Arc<dyn Store>) {
        let (a, b) = (Arc::new(def("count_a", 1)), Arc::new(def("count_b", 1)));
        for i in 0..5 {
            let wf = workflow(&format!("wf-a{i}"), "count_a");
            store.commit(one(insert(wf, &a, vec![]))).await.unwrap();
        }
        for i in 0..3 {
            let wf = workflow(&format!("wf-b{i}"), "count_b");
            store.commit(one(insert(wf, &b, vec![]))).await.unwrap();
        }
        for (id, d, status) in [
            ("wf-a0", &a, WorkflowStatus::Completed),
            ("wf-a1", &a, WorkflowStatus::Completed),
            ("wf-b0", &b, WorkflowStatus::Failed),
        ] {
            let mut w = update(workflow(id, &d.name), d, 1);
            w.workflow.status = status;
            store.commit(one(w)).await.unwrap();
        }
        // Paused and resumed: two changes that cancel out.
        for (version, status) in [(1, WorkflowStatus::Paused), (2, WorkflowStatus::Running)] {
            let mut w = update(workflow("wf-a2", "count_a"), &a, version);
            w.workflow.status = status;
            store.commit(one(w)).await.unwrap();
        }
        store.remove_workflow("wf-a1").await.unwrap();

        let types: [Vec<String>; 3] = [
            vec![],
            vec!["count_a".into()],
            vec!["count_a".into(), "count_b".into()],
        ];
        let statuses = [
            vec![],
            vec![WorkflowStatus::Running],
            vec![WorkflowStatus::Completed, WorkflowStatus::Failed],
        ];
        let expected = [[7, 5, 2], [4, 3, 1], [7, 5, 2]];
        for (ti, t) in types.iter().enumerate() {
            for (si, st) in statuses.iter().enumerate() {
                let counted = WorkflowQuery {
                    workflow_types: t.clone(),
                    statuses: st.clone(),
                    limit: 1,
                    ..Default::default()
                };
                let scanned = WorkflowQuery {
                    start_time_from: Some(0),
                    ..counted.clone()
                };
                let (n, page) = store.search_workflows(&counted).await.unwrap();
                let (m, _) = store.search_workflows(&scanned).await.unwrap();
                assert_eq!((n, m), (expected[ti][si], expected[ti][si]), "{t:?} {st:?}");
                assert_eq!(page.len(), 1);
            }
        }
    }

    /// Every page, before and past the middle (read from the end), in both directions,
    /// holds the rows of the whole order at its offset, for workflows and tasks.
    pub async fn every_page_matches_the_whole_order(store: Arc<dyn Store>) {
        let d = Arc::new(def("paged", 1));
        // Twelve: past nine, row ids compared as text would sort "10" before "9".
        for i in 0..12 {
            let mut wf = workflow(&format!("wf-p{i:02}"), "paged");
            wf.start_time = NOW + (i % 3); // ties broken by id
            let t = task(
                &wf.workflow_id.clone(),
                &format!("t-p{i:02}"),
                0,
                "paged_task",
            );
            store.commit(one(insert(wf, &d, vec![t]))).await.unwrap();
        }
        for desc in [true, false] {
            let query = |offset: usize, limit: usize| WorkflowQuery {
                workflow_types: vec!["paged".into()],
                sort: Some(("startTime".into(), desc)),
                offset,
                limit,
                ..Default::default()
            };
            let (total, all) = store.search_workflows(&query(0, 100)).await.unwrap();
            assert_eq!(total, 12);
            let all: Vec<String> = all.into_iter().map(|w| w.workflow_id).collect();
            for offset in 0..14 {
                let (n, page) = store.search_workflows(&query(offset, 3)).await.unwrap();
                let page: Vec<String> = page.into_iter().map(|w| w.workflow_id).collect();
                let end = (offset + 3).min(12);
                let want = all
                    .get(offset.min(12)..end.max(offset.min(12)))
                    .unwrap_or(&[]);
                assert_eq!(
                    (n, page.as_slice()),
                    (12, want),
                    "desc {desc} offset {offset}"
                );
            }
        }
        let query = |offset: usize, limit: usize| baton_store::TaskQuery {
            task_def_names: vec!["paged_task".into()],
            offset,
            limit,
            ..Default::default()
        };
        let (_, all) = store.search_tasks(&query(0, 100)).await.unwrap();
        let all: Vec<String> = all.into_iter().map(|t| t.task_id).collect();
        assert_eq!(all[0], "t-p11", "newest first");
        for offset in 0..14 {
            let (n, page) = store.search_tasks(&query(offset, 3)).await.unwrap();
            let page: Vec<String> = page.into_iter().map(|t| t.task_id).collect();
            let end = (offset + 3).min(12);
            let want = all
                .get(offset.min(12)..end.max(offset.min(12)))
                .unwrap_or(&[]);
            assert_eq!((n, page.as_slice()), (12, want), "tasks offset {offset}");
        }
    }

    // ----- limits, task search, event handlers -----

    /// `concurrentExecLimit` and rate limits bound what one poll hands out, and say when to
    /// look again once they are reached.
    pub async fn poll_limits(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let mut tasks: Vec<Task> = (0..5)
            .map(|i| task("wf-1", &format!("c-{i}"), i, "capped"))
            .collect();
        tasks.extend((0..5).map(|i| task("wf-1", &format!("r-{i}"), 10 + i, "rated")));
        store
            .commit(one(insert(workflow("wf-1", "flow"), &d, tasks)))
            .await
            .unwrap();
        let capped = |now: i64| {
            let mut r = poll_req("capped", 5, "w", now);
            r.limits = baton_store::PollLimits {
                task_def_name: "capped".into(),
                concurrent_exec_limit: Some(2),
                rate_limit: None,
            };
            r
        };
        assert_eq!(store.poll(capped(NOW)).await.unwrap().tasks.len(), 2);
        let out = store.poll(capped(NOW)).await.unwrap();
        assert!(out.tasks.is_empty(), "the limit is reached");
        assert!(out.next_visible_at.is_some_and(|t| t > NOW));
        assert_eq!(queue_size(&store, "capped").await, 3);

        let rated = |now: i64| {
            let mut r = poll_req("rated", 5, "w", now);
            r.limits = baton_store::PollLimits {
                task_def_name: "rated".into(),
                concurrent_exec_limit: None,
                rate_limit: Some((3, 10)),
            };
            r
        };
        assert_eq!(store.poll(rated(NOW)).await.unwrap().tasks.len(), 3);
        let out = store.poll(rated(NOW + 1_000)).await.unwrap();
        assert!(out.tasks.is_empty(), "3 per 10 s");
        assert_eq!(out.next_visible_at, Some(NOW + 10_001));
        // The window has passed: the rest.
        assert_eq!(
            store.poll(rated(NOW + 10_001)).await.unwrap().tasks.len(),
            2
        );
    }

    pub async fn search_tasks(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let mut a = task("wf-1", "t-a", 0, "alpha");
        a.input_data
            .insert("needle".into(), serde_json::json!("Hay_50%"));
        let b = task("wf-1", "t-b", 1, "beta");
        let mut c = task("wf-2", "t-c", 0, "alpha");
        c.status = TaskStatus::Completed;
        store
            .commit(one(insert(workflow("wf-1", "flow"), &d, vec![a, b])))
            .await
            .unwrap();
        store
            .commit(one(insert(workflow("wf-2", "flow"), &d, vec![c])))
            .await
            .unwrap();
        let ids = |found: (i64, Vec<Task>)| {
            (
                found.0,
                found.1.into_iter().map(|t| t.task_id).collect::<Vec<_>>(),
            )
        };
        let all = store.search_tasks(&Default::default()).await.unwrap();
        assert_eq!(
            ids(all),
            (3, vec!["t-c".into(), "t-b".into(), "t-a".into()]),
            "newest first"
        );
        let q = baton_store::TaskQuery {
            task_def_names: vec!["alpha".into()],
            statuses: vec![TaskStatus::Scheduled],
            ..Default::default()
        };
        assert_eq!(
            ids(store.search_tasks(&q).await.unwrap()),
            (1, vec!["t-a".into()])
        );
        let q = baton_store::TaskQuery {
            workflow_ids: vec!["wf-1".into()],
            limit: 1,
            offset: 1,
            ..Default::default()
        };
        assert_eq!(
            ids(store.search_tasks(&q).await.unwrap()),
            (2, vec!["t-a".into()])
        );
        for (text, expected) in [("hay_50%", 1), ("_5", 1), ("x_50", 0)] {
            let q = baton_store::TaskQuery {
                free_text: Some(text.into()),
                ..Default::default()
            };
            assert_eq!(
                store.search_tasks(&q).await.unwrap().0,
                expected,
                "free text {text:?}"
            );
        }
        let q = baton_store::TaskQuery {
            task_ids: vec!["t-b".into(), "nope".into()],
            ..Default::default()
        };
        assert_eq!(
            ids(store.search_tasks(&q).await.unwrap()),
            (1, vec!["t-b".into()])
        );
    }

    /// The filters of issue 14's search grammar: time ranges of tasks (kept through a claim
    /// and a commit), task type, reference and workflow name, wildcards, parent and end time
    /// of workflows, and the workflow ids of matching attempts without their documents.
    pub async fn search_grammar_filters(store: Arc<dyn Store>) {
        let d = Arc::new(def("flow", 1));
        let mut parent = workflow("wf-p", "flow");
        parent.correlation_id = Some("order-17".into());
        let mut child = workflow("wf-c", "sub_flow");
        child.parent_workflow_id = Some("wf-p".into());
        child.status = WorkflowStatus::Completed;
        child.end_time = NOW + 50;
        let mut done = task("wf-c", "t-done", 0, "alpha");
        done.status = TaskStatus::Completed;
        done.start_time = NOW + 10;
        done.end_time = NOW + 40;
        let queued = task("wf-p", "t-queued", 0, "alpha");
        let other = task("wf-p", "t-beta", 1, "beta");
        store
            .commit(one(insert(parent, &d, vec![queued, other])))
            .await
            .unwrap();
        store
            .commit(one(insert(child, &d, vec![done])))
            .await
            .unwrap();
        let wf_ids = |(n, found): (i64, Vec<Workflow>)| {
            (
                n,
                found.into_iter().map(|w| w.workflow_id).collect::<Vec<_>>(),
            )
        };
        let search = |q: WorkflowQuery| {
            let store = store.clone();
            async move { wf_ids(store.search_workflows(&q).await.unwrap()) }
        };
        let by = |q: WorkflowQuery| q;
        assert_eq!(
            search(by(WorkflowQuery {
                parent_workflow_ids: vec!["wf-p".into()],
                ..Default::default()
            }))
            .await,
            (1, vec!["wf-c".to_string()])
        );
        // Conductor's topLevelOnly: the parent only, never its sub-workflow.
        assert_eq!(
            search(by(WorkflowQuery {
                top_level_only: true,
                ..Default::default()
            }))
            .await,
            (1, vec!["wf-p".to_string()])
        );
        assert_eq!(
            search(by(WorkflowQuery {
                end_time_from: Some(NOW + 50),
                end_time_to: Some(NOW + 50),
                ..Default::default()
            }))
            .await,
            (1, vec!["wf-c".to_string()])
        );
        assert_eq!(
            search(by(WorkflowQuery {
                workflow_types: vec!["sub_*".into()],
                ..Default::default()
            }))
            .await,
            (1, vec!["wf-c".to_string()])
        );
        assert_eq!(
            search(by(WorkflowQuery {
                correlation_ids: vec!["order-*".into(), "x".into()],
                ..Default::default()
            }))
            .await,
            (1, vec!["wf-p".to_string()])
        );
        // `_` and `%` in a wildcard value are literal.
        assert_eq!(
            search(by(WorkflowQuery {
                workflow_types: vec!["sub%*".into()],
                ..Default::default()
            }))
            .await
            .0,
            0
        );

        let tasks = |q: baton_store::TaskQuery| {
            let store = store.clone();
            async move {
                let (n, found) = store.search_tasks(&q).await.unwrap();
                (n, found.into_iter().map(|t| t.task_id).collect::<Vec<_>>())
            }
        };
        let started = baton_store::TaskQuery {
            start_time_from: Some(NOW + 1),
            ..Default::default()
        };
        assert_eq!(
            tasks(started.clone()).await,
            (1, vec!["t-done".to_string()])
        );
        let ended_by = baton_store::TaskQuery {
            end_time_from: Some(NOW + 40),
            end_time_to: Some(NOW + 40),
            ..Default::default()
        };
        assert_eq!(tasks(ended_by).await, (1, vec!["t-done".to_string()]));
        // A claim starts the queued attempt: it now has a start time too.
        let out = store
            .poll(poll_req("alpha", 1, "w1", NOW + 20))
            .await
            .unwrap();
        assert_eq!(out.tasks.len(), 1);
        let (n, mut found) = tasks(started.clone()).await;
        found.sort();
        assert_eq!(
            (n, found),
            (2, vec!["t-done".to_string(), "t-queued".to_string()])
        );
        let oldest_first = baton_store::TaskQuery {
            sort: Some(("startTime".into(), false)),
            ..started
        };
        assert_eq!(tasks(oldest_first).await.1, vec!["t-done", "t-queued"]);
        for (q, want) in [
            (
                baton_store::TaskQuery {
                    task_types: vec!["beta".into()],
                    ..Default::default()
                },
                vec!["t-beta"],
            ),
            (
                baton_store::TaskQuery {
                    ref_names: vec!["beta_ref".into()],
                    ..Default::default()
                },
                vec!["t-beta"],
            ),
            (
                baton_store::TaskQuery {
                    workflow_types: vec!["sub_flow".into()],
                    ..Default::default()
                },
                vec!["t-done"],
            ),
            (
                baton_store::TaskQuery {
                    workflow_types: vec!["fl*".into()],
                    task_def_names: vec!["beta".into()],
                    ..Default::default()
                },
                vec!["t-beta"],
            ),
        ] {
            assert_eq!(tasks(q.clone()).await.1, want, "{q:?}");
        }
        let alpha = baton_store::TaskQuery {
            task_def_names: vec!["alpha".into()],
            ..Default::default()
        };
        assert_eq!(
            store.search_task_workflow_ids(&alpha).await.unwrap(),
            vec!["wf-c", "wf-p"],
            "newest attempt first"
        );
        let second = baton_store::TaskQuery {
            offset: 1,
            limit: 1,
            ..alpha
        };
        assert_eq!(
            store.search_task_workflow_ids(&second).await.unwrap(),
            vec!["wf-p"]
        );
    }

    fn handler(name: &str, event: &str, active: bool) -> baton_model::EventHandler {
        serde_json::from_value(serde_json::json!({
            "name": name, "event": event, "active": active,
            "actions": [{"action": "start_workflow", "start_workflow": {"name": "w"}}]
        }))
        .unwrap()
    }

    pub async fn event_handlers_and_published_events(store: Arc<dyn Store>) {
        store
            .put_event_handler(handler("a", "e1", true), true)
            .await
            .unwrap();
        store
            .put_event_handler(handler("b", "e1", false), true)
            .await
            .unwrap();
        let dup = store
            .put_event_handler(handler("a", "e1", true), true)
            .await;
        assert!(matches!(dup, Err(StoreError::AlreadyExists(_))), "{dup:?}");
        let missing = store
            .put_event_handler(handler("zz", "e1", true), false)
            .await;
        assert!(
            matches!(missing, Err(StoreError::NotFound(_))),
            "{missing:?}"
        );
        assert_eq!(store.list_event_handlers().await.unwrap().len(), 2);
        let active = store.event_handlers_for("e1", true).await.unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].name, "a");
        assert_eq!(
            store.event_handlers_for("e1", false).await.unwrap().len(),
            2
        );
        store
            .put_event_handler(handler("a", "e2", false), false)
            .await
            .unwrap();
        assert!(store
            .event_handlers_for("e1", true)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store.event_handlers_for("e2", false).await.unwrap().len(),
            1
        );
        store.delete_event_handler("a").await.unwrap();
        assert!(matches!(
            store.delete_event_handler("a").await,
            Err(StoreError::NotFound(_))
        ));

        let mut ids = Vec::new();
        for (i, ev) in ["q1", "q2", "q1"].iter().enumerate() {
            ids.push(
                store
                    .record_event(baton_model::PublishedEvent {
                        id: 0,
                        message_id: format!("m{i}"),
                        event: ev.to_string(),
                        message: serde_json::json!({"i": i}),
                        time: NOW + i as i64,
                    })
                    .await
                    .unwrap(),
            );
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
        let q1 = store.published_events(Some("q1"), 10).await.unwrap();
        assert_eq!(q1.len(), 2);
        assert_eq!(q1[0].message, serde_json::json!({"i": 2}), "newest first");
        assert_eq!(q1[0].id, ids[2]);
        assert_eq!(store.published_events(None, 10).await.unwrap().len(), 3);
        assert_eq!(
            store.published_events(None, 0).await.unwrap().len(),
            1,
            "clamped to 1"
        );
    }

    // ----- durability -----

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
}

/// Entry points for the SQLite store: a fresh database file per test.
mod sqlite {
    use super::*;
    use baton_store::{SqliteOptions, SqliteStore, Synchronous};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A database path that is deleted (with its WAL files) when dropped.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new(name: &str) -> TempDb {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join("baton-store-tests")
                .join(format!("{}-{n}-{name}.db", std::process::id()));
            TempDb(path)
        }

        fn open(&self) -> Arc<dyn Store> {
            let opts = SqliteOptions {
                synchronous: Synchronous::Normal,
                readers: 4,
                ..SqliteOptions::new(self.0.clone())
            };
            Arc::new(SqliteStore::open(opts).unwrap())
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = self.0.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }

    macro_rules! sqlite_suite {
        ($($name:ident),* $(,)?) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = TempDb::new(stringify!($name));
                    suite::$name(db.open()).await;
                }
            )*
        };
    }

    sqlite_suite!(
        capped_totals_and_pages_past_the_cap,
        free_text_pages_in_order,
        free_text_pages_follow_their_workflows,
        search_workflows_by_tasks,
        search_by_classifier,
        plain_workflow_pages_in_order,
        every_page_matches_the_whole_order,
        counted_totals_match_the_rows,
        free_text_matches_the_search_document,
        task_free_text_matches_the_search_document,
        task_free_text_across_index_batches,
        task_free_text_reads_the_start_of_long_input_and_output,
        queue_counts_stay_exact,
        task_defs,
        documents_read_back_exactly,
        poll_limits,
        poll_limits_by_definition,
        search_tasks,
        search_grammar_filters,
        task_updates_move_their_search_keys,
        event_handlers_and_published_events,
        workflow_defs,
        commit_roundtrip,
        version_conflict_changes_nothing,
        reschedule_moves_only_the_wake_up,
        follow_ups_are_stored_and_done_with_commits,
        batch_with_conflict_commits_the_rest,
        poll_claims_in_order,
        poll_with_domain,
        poll_without_response_timeout_keeps_wake,
        commits_from_before_a_claim_cannot_undo_it,
        updates_keep_the_input_unless_they_replace_it,
        keys_secrets_and_deliveries,
        stale_queue_entry_is_dropped,
        concurrent_pollers_claim_each_task_once,
        due_workflows_and_next_wake,
        wake_other_workflow,
        pending_wake_outlives_a_stale_decision,
        history_order_and_remove,
        task_logs,
        search_filters_and_pages,
        queue_entries_of_one_workflow,
        finished_before_lists_ended_executions_by_end_time,
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reopen_sees_everything() {
        let db = TempDb::new("reopen");
        suite::reopen_sees_everything(|| db.open()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn full_synchronous_mode_works() {
        let db = TempDb::new("full");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(SqliteOptions {
                synchronous: Synchronous::Full,
                readers: 1,
                ..SqliteOptions::new(db.0.clone())
            })
            .unwrap(),
        );
        suite::commit_roundtrip(store).await;
    }

    /// Migration 15 on a database from before it: the classifier of every execution comes
    /// from the definition it runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn classifier_migration_fills_earlier_executions() {
        let db = TempDb::new("classifier_backfill");
        let store = db.open();
        classifier::commit_backfill_cases(&store).await;
        classifier::check_backfill_cases(&store).await;
        drop(store);
        {
            let conn = rusqlite::Connection::open(&db.0).unwrap();
            // Back to version 14: migrations 16 and 17 (task documents) undone as well.
            conn.execute_batch(&format!(
                "{UNDO_TASK_TEXT}
                 DROP INDEX workflows_classifier;
                 ALTER TABLE workflows DROP COLUMN classifier;
                 PRAGMA user_version = 14;"
            ))
            .unwrap();
        }
        classifier::check_backfill_cases(&db.open()).await;
    }

    /// Migration 16 on a database from before it: the search documents of the tasks
    /// already stored are written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn task_text_migration_fills_earlier_tasks() {
        let db = TempDb::new("task_text_backfill");
        let store = db.open();
        task_free_text::commit_backfill_cases(&store).await;
        task_free_text::check_backfill_cases(&store).await;
        drop(store);
        {
            let conn = rusqlite::Connection::open(&db.0).unwrap();
            conn.execute_batch(&format!("{UNDO_TASK_TEXT} PRAGMA user_version = 15;"))
                .unwrap();
        }
        task_free_text::check_backfill_cases(&db.open()).await;
    }

    /// What migrations 16 and 17 add: task search documents, their queue, `text_hash`.
    const UNDO_TASK_TEXT: &str = "DROP TRIGGER tasks_text_flush;
        DROP TRIGGER tasks_text_delete;
        DROP TABLE tasks_text_pending;
        DROP TABLE tasks_text;
        ALTER TABLE tasks DROP COLUMN text_hash;";

    /// Input and output past `task_text_bytes` are not in a task's search document; 0 leaves
    /// them out, the ids and names stay.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn task_text_bytes_bounds_what_task_search_matches() {
        for (bound, name) in [(0, "text_bound_0"), (64, "text_bound_64")] {
            let db = TempDb::new(name);
            let store: Arc<dyn Store> = Arc::new(
                SqliteStore::open(SqliteOptions {
                    task_text_bytes: bound,
                    ..SqliteOptions::new(db.0.clone())
                })
                .unwrap(),
            );
            task_free_text::check_text_bound(&store, bound).await;
        }
    }

    #[test]
    fn rejects_a_database_from_a_newer_baton() {
        let db = TempDb::new("newer");
        drop(SqliteStore::open_path(&db.0).unwrap());
        {
            let conn = rusqlite::Connection::open(&db.0).unwrap();
            conn.execute_batch("PRAGMA user_version = 999").unwrap();
        }
        let err = SqliteStore::open_path(&db.0).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn creates_missing_directories() {
        let db = TempDb::new("dirs");
        let nested = db.0.with_extension("d").join("a").join("b.db");
        let store = SqliteStore::open_path(&nested).unwrap();
        assert_eq!(store.path(), nested);
        drop(store);
        assert!(nested.exists());
        let _ = std::fs::remove_dir_all(db.0.with_extension("d"));
    }
}

/// Entry points for the PostgreSQL store: a fresh database per test.
mod postgres {
    use super::*;

    macro_rules! postgres_suite {
        ($($name:ident),* $(,)?) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = pg::PgDb::create(stringify!($name)).await else {
                        return;
                    };
                    suite::$name(db.open().await).await;
                }
            )*
        };
    }

    postgres_suite!(
        capped_totals_and_pages_past_the_cap,
        free_text_pages_in_order,
        free_text_pages_follow_their_workflows,
        search_workflows_by_tasks,
        search_by_classifier,
        plain_workflow_pages_in_order,
        every_page_matches_the_whole_order,
        counted_totals_match_the_rows,
        free_text_matches_the_search_document,
        task_free_text_matches_the_search_document,
        task_free_text_across_index_batches,
        task_free_text_reads_the_start_of_long_input_and_output,
        queue_counts_stay_exact,
        task_defs,
        documents_read_back_exactly,
        poll_limits,
        poll_limits_by_definition,
        search_tasks,
        search_grammar_filters,
        task_updates_move_their_search_keys,
        event_handlers_and_published_events,
        workflow_defs,
        commit_roundtrip,
        version_conflict_changes_nothing,
        reschedule_moves_only_the_wake_up,
        follow_ups_are_stored_and_done_with_commits,
        batch_with_conflict_commits_the_rest,
        poll_claims_in_order,
        poll_with_domain,
        poll_without_response_timeout_keeps_wake,
        commits_from_before_a_claim_cannot_undo_it,
        updates_keep_the_input_unless_they_replace_it,
        keys_secrets_and_deliveries,
        stale_queue_entry_is_dropped,
        concurrent_pollers_claim_each_task_once,
        due_workflows_and_next_wake,
        wake_other_workflow,
        pending_wake_outlives_a_stale_decision,
        history_order_and_remove,
        task_logs,
        search_filters_and_pages,
        queue_entries_of_one_workflow,
        finished_before_lists_ended_executions_by_end_time,
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reopen_sees_everything() {
        let Some(db) = pg::PgDb::create("reopen").await else {
            return;
        };
        // The suite opens synchronously; each handle is opened up front on this runtime.
        let first = db.open().await;
        let second = db.open().await;
        let handles = std::sync::Mutex::new(vec![second, first]);
        suite::reopen_sees_everything(|| {
            handles.lock().unwrap().pop().expect("opened twice at most")
        })
        .await;
    }

    /// Undoes migration 14: the workflow documents back in a column of `workflows`, in
    /// their case, as migration 7 wrote them (a rewind to a version before 14 starts with
    /// it).
    const UNDO_WORKFLOW_TEXTS: &str = "
        ALTER TABLE workflows ADD COLUMN search_text text;
        UPDATE workflows
           SET search_text = workflow_id || E'\\n' || COALESCE(correlation_id, '') || E'\\n'
                   || name || E'\\n' || status || E'\\n' || COALESCE(input_json::text, '')
                   || E'\\n' || COALESCE((json -> 'output')::text, '') || E'\\n'
                   || COALESCE(json ->> 'reasonForIncompletion', '');
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
                CREATE INDEX workflows_search ON workflows USING gin (search_text gin_trgm_ops);
            END IF;
        END $$;
        DROP TRIGGER workflow_texts_delete ON workflows;
        DROP FUNCTION workflow_texts_delete();
        DROP TABLE workflow_texts;";

    /// A migration on a database from before it: this build stores `commit`'s cases and
    /// `check` finds them; `undo` takes the database back to before the migration (its rows
    /// as an earlier build left them), and `check` must find them again once a store has
    /// migrated it anew. The database, for checks of its own; None without a server.
    async fn migrated_anew(
        test: &str,
        undo: &str,
        commit: impl AsyncFnOnce(&Arc<dyn Store>),
        check: impl AsyncFn(&Arc<dyn Store>),
    ) -> Option<pg::PgDb> {
        let db = pg::PgDb::create(test).await?;
        let store = db.open().await;
        commit(&store).await;
        check(&store).await;
        drop(store);
        rewind(&db, undo).await;
        check(&db.open().await).await;
        Some(db)
    }

    /// Migration 10 on a database from before it: the classifier of every execution comes
    /// from the definition it runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn classifier_migration_fills_earlier_executions() {
        // Back to version 9: migrations 12 to 14 undone as well; 11 runs again.
        migrated_anew(
            "classifier_backfill",
            &format!(
                "{UNDO_WORKFLOW_TEXTS}
                 DROP TRIGGER task_texts_delete ON tasks;
                 DROP FUNCTION task_texts_delete();
                 DROP TABLE task_texts;
                 DROP INDEX workflows_classifier;
                 ALTER TABLE workflows DROP COLUMN classifier;
                 DELETE FROM baton_schema_migrations WHERE version >= 10;"
            ),
            classifier::commit_backfill_cases,
            classifier::check_backfill_cases,
        )
        .await;
    }

    /// Migration 12 on a database from before it: the search documents of the tasks
    /// already stored are written, including one whose JSON holds an escaped NUL.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn task_text_migration_fills_earlier_tasks() {
        migrated_anew(
            "task_text_backfill",
            &format!(
                "{UNDO_WORKFLOW_TEXTS}
                 DROP TRIGGER task_texts_delete ON tasks;
                 DROP FUNCTION task_texts_delete();
                 DROP TABLE task_texts;
                 DELETE FROM baton_schema_migrations WHERE version >= 12;"
            ),
            task_free_text::commit_backfill_cases,
            task_free_text::check_backfill_cases,
        )
        .await;
    }

    /// Migration 13 on a database from before it: the documents already stored get their
    /// task's row id, by which free text orders its pages.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn task_text_order_migration_keeps_earlier_documents() {
        // The documents as migration 12 left them: no row id.
        migrated_anew(
            "task_text_order",
            &format!(
                "{UNDO_WORKFLOW_TEXTS}
                 CREATE TABLE texts_12 AS SELECT task_id, search_text FROM task_texts;
                 DROP TABLE task_texts;
                 ALTER TABLE texts_12 RENAME TO task_texts;
                 ALTER TABLE task_texts ADD PRIMARY KEY (task_id);
                 DELETE FROM baton_schema_migrations WHERE version >= 13;"
            ),
            task_free_text::commit_backfill_cases,
            task_free_text::check_backfill_cases,
        )
        .await;
    }

    /// Migration 14 on a database from before it: every workflow's document moves to
    /// `workflow_texts` with its start time and status, by which free text pages.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn workflow_texts_migration_keeps_earlier_documents() {
        let Some(db) = migrated_anew(
            "workflow_texts",
            &format!(
                "{UNDO_WORKFLOW_TEXTS}
                 DELETE FROM baton_schema_migrations WHERE version = 14;"
            ),
            free_text_pages::commit_backfill_cases,
            free_text_pages::check_backfill_cases,
        )
        .await
        else {
            return;
        };
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        // A row per workflow, with the start time and status of its workflow.
        let differ: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM workflows w
                 FULL JOIN workflow_texts d ON d.workflow_id = w.workflow_id
                 WHERE d.workflow_id IS NULL OR w.workflow_id IS NULL
                    OR d.start_time <> w.start_time OR d.status <> w.status",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            differ, 0,
            "workflow_texts rows that differ from their workflows"
        );
        let rows: i64 = client
            .query_one("SELECT COUNT(*) FROM workflow_texts", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 59, "the 60 workflows less the one removed");
    }

    /// Undoes migrations on `db` with `sql`, as a database from before them would be.
    async fn rewind(db: &pg::PgDb, sql: &str) {
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client.batch_execute(sql).await.unwrap();
    }
}
