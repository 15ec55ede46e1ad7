//! Conformance checks, run by `conformance.rs` on every backend: task search and the filters
//! of its grammar.

use super::suite::*;
use baton_model::{Task, TaskStatus, Workflow, WorkflowStatus};
use baton_store::{Store, WorkflowQuery};
use std::sync::Arc;

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
