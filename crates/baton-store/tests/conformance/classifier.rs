//! Conformance checks of the search by classifier (Conductor's `classifier`), run by
//! `conformance.rs` on every backend: each execution keeps the classifier of the definition
//! it runs, from its start, and searches filter on it alone and with other filters.

use super::suite::*;
use baton_model::{WorkflowDef, WorkflowStatus};
use baton_store::{Store, WorkflowQuery};
use std::sync::Arc;

async fn ids(store: &Arc<dyn Store>, q: WorkflowQuery) -> (i64, Vec<String>) {
    let (total, page) = store.search_workflows(&q).await.unwrap();
    (total, page.into_iter().map(|w| w.workflow_id).collect())
}

fn with_metadata(name: &str, metadata: serde_json::Value) -> Arc<WorkflowDef> {
    let mut d = def(name, 1);
    d.metadata = serde_json::from_value(metadata).unwrap();
    Arc::new(d)
}

fn by(conditions: &[&[&str]]) -> WorkflowQuery {
    WorkflowQuery {
        classifiers: conditions
            .iter()
            .map(|c| c.iter().map(|v| v.to_string()).collect())
            .collect(),
        limit: 100,
        ..Default::default()
    }
}

fn v(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

pub async fn search_by_classifier(store: Arc<dyn Store>) {
    let plain = Arc::new(def("flow", 1));
    let agent = with_metadata("agent", serde_json::json!({"agent_sdk": "py"}));
    let report = with_metadata("report", serde_json::json!({"classifier": "report"}));
    // Started in this order, one millisecond apart; a-2 is a sub-agent of a-1, a-3 failed.
    let runs: [(&str, &Arc<WorkflowDef>); 7] = [
        ("p-1", &plain),
        ("a-1", &agent),
        ("r-1", &report),
        ("a-2", &agent),
        ("p-2", &plain),
        ("a-3", &agent),
        ("p-3", &plain),
    ];
    for (i, (id, d)) in runs.iter().enumerate() {
        let mut wf = workflow(id, &d.name);
        wf.start_time = NOW + i as i64;
        if *id == "a-2" {
            wf.parent_workflow_id = Some("a-1".into());
        }
        if *id == "a-3" {
            wf.status = WorkflowStatus::Failed;
        }
        store.commit(one(insert(wf, d, vec![]))).await.unwrap();
    }

    assert_eq!(
        ids(&store, by(&[&["agent"]])).await,
        (3, v(&["a-3", "a-2", "a-1"])),
        "newest first"
    );
    let page = WorkflowQuery {
        offset: 1,
        limit: 1,
        ..by(&[&["agent"]])
    };
    assert_eq!(ids(&store, page).await, (3, v(&["a-2"])));
    let oldest_first = WorkflowQuery {
        sort: Some(("startTime".into(), false)),
        ..by(&[&["agent"]])
    };
    assert_eq!(
        ids(&store, oldest_first).await,
        (3, v(&["a-1", "a-2", "a-3"]))
    );
    let top_level = WorkflowQuery {
        top_level_only: true,
        ..by(&[&["agent"]])
    };
    assert_eq!(ids(&store, top_level).await, (2, v(&["a-3", "a-1"])));
    let failed = WorkflowQuery {
        statuses: vec![WorkflowStatus::Failed],
        ..by(&[&["agent"]])
    };
    assert_eq!(ids(&store, failed).await, (1, v(&["a-3"])));
    let running = WorkflowQuery {
        statuses: vec![WorkflowStatus::Running],
        ..by(&[&["agent", "report"]])
    };
    assert_eq!(ids(&store, running).await, (3, v(&["a-2", "r-1", "a-1"])));
    let plain_type = WorkflowQuery {
        workflow_types: vec!["flow".into()],
        ..by(&[&["agent"]])
    };
    assert_eq!(ids(&store, plain_type).await, (0, vec![]));
    assert_eq!(
        ids(&store, by(&[&["workflow"]])).await,
        (3, v(&["p-3", "p-2", "p-1"]))
    );
    assert_eq!(
        ids(&store, by(&[&["report", "workflow"]])).await,
        (4, v(&["p-3", "p-2", "r-1", "p-1"]))
    );
    assert_eq!(
        ids(&store, by(&[&["ag*"]])).await,
        (3, v(&["a-3", "a-2", "a-1"]))
    );
    assert_eq!(
        ids(&store, by(&[&["*o*"]])).await,
        (4, v(&["p-3", "p-2", "r-1", "p-1"])),
        "a pattern that matches plain workflows too"
    );
    // Totals of plain workflows are differences (classifier::total_by_difference): with
    // the kept counts, with a filter they do not answer, and with free text.
    let running_plain = WorkflowQuery {
        statuses: vec![WorkflowStatus::Running],
        ..by(&[&["workflow", "agent"]])
    };
    assert_eq!(
        ids(&store, running_plain).await,
        (5, v(&["p-3", "p-2", "a-2", "a-1", "p-1"]))
    );
    let late_plain = WorkflowQuery {
        start_time_from: Some(NOW + 2),
        ..by(&[&["workflow", "report"]])
    };
    assert_eq!(
        ids(&store, late_plain).await,
        (3, v(&["p-3", "p-2", "r-1"]))
    );
    let page = WorkflowQuery {
        offset: 2,
        limit: 1,
        ..by(&[&["workflow"]])
    };
    assert_eq!(ids(&store, page).await, (3, v(&["p-1"])));
    let plain_by_id = WorkflowQuery {
        workflow_ids: v(&["p-2", "a-2"]),
        ..by(&[&["workflow"]])
    };
    assert_eq!(ids(&store, plain_by_id).await, (1, v(&["p-2"])));
    let plain_text = WorkflowQuery {
        free_text: Some("p-".into()),
        ..by(&[&["workflow"]])
    };
    assert_eq!(
        ids(&store, plain_text).await,
        (3, v(&["p-3", "p-2", "p-1"]))
    );
    // Every condition holds.
    assert_eq!(
        ids(&store, by(&[&["agent", "report"], &["report"]])).await,
        (1, v(&["r-1"]))
    );
    assert_eq!(
        ids(&store, by(&[&["agent"], &["report"]])).await,
        (0, vec![])
    );
    assert_eq!(ids(&store, by(&[&["nosuch"]])).await, (0, vec![]));
    assert_eq!(ids(&store, by(&[&["Agent"]])).await, (0, vec![]));
    assert_eq!(ids(&store, by(&[])).await.0, 7, "no condition, no filter");

    // A commit from the same definition keeps the classifier; a restart onto another
    // definition (useLatestDefinitions) takes the new one's.
    let a1 = store.load_workflow("a-1").await.unwrap().unwrap();
    let mut done = a1.workflow.clone();
    done.status = WorkflowStatus::Completed;
    store
        .commit(one(update(done, &a1.def, a1.version)))
        .await
        .unwrap();
    let p1 = store.load_workflow("p-1").await.unwrap().unwrap();
    let p1_agent = with_metadata("flow", serde_json::json!({"agentDef": {"n": 1}}));
    store
        .commit(one(update(p1.workflow, &p1_agent, p1.version)))
        .await
        .unwrap();
    assert_eq!(
        ids(&store, by(&[&["agent"]])).await,
        (4, v(&["a-3", "a-2", "a-1", "p-1"]))
    );
    assert_eq!(
        ids(&store, by(&[&["workflow"]])).await,
        (2, v(&["p-3", "p-2"]))
    );
}

/// Executions of definitions of every kind of metadata, with the classifier each must
/// get: committed before a backend's test takes the classifier column away and runs its
/// migration again, as on a database from before the column.
pub fn backfill_cases() -> Vec<(&'static str, serde_json::Value, &'static str)> {
    use serde_json::json;
    vec![
        ("plain", json!({}), "workflow"),
        ("sdk", json!({"agent_sdk": "py"}), "agent"),
        ("agent-def", json!({"agentDef": {"model": "m"}}), "agent"),
        (
            "null-sdk",
            json!({"agent_sdk": null, "agentDef": null}),
            "workflow",
        ),
        (
            "tagged",
            json!({"classifier": "report", "agent_sdk": "py"}),
            "report",
        ),
        (
            "blank",
            json!({"classifier": " \t", "agentDef": {}}),
            "agent",
        ),
        ("number", json!({"classifier": 7}), "workflow"),
        (
            "said",
            json!({"classifier": "workflow", "agent_sdk": "py"}),
            "workflow",
        ),
    ]
}

pub async fn commit_backfill_cases(store: &Arc<dyn Store>) {
    for (i, (id, metadata, _)) in backfill_cases().into_iter().enumerate() {
        let d = with_metadata(&format!("def-{id}"), metadata);
        let mut wf = workflow(id, &d.name);
        wf.start_time = NOW + i as i64;
        store.commit(one(insert(wf, &d, vec![]))).await.unwrap();
    }
}

/// The ids each classifier finds, against what [`backfill_cases`] expects.
pub async fn check_backfill_cases(store: &Arc<dyn Store>) {
    for (id, _, want) in backfill_cases() {
        let (_, found) = ids(store, by(&[&[want]])).await;
        assert!(
            found.contains(&id.to_string()),
            "{id} under {want}: {found:?}"
        );
    }
    let (_, agents) = ids(store, by(&[&["agent"]])).await;
    assert_eq!(agents, v(&["blank", "agent-def", "sdk"]));
}
