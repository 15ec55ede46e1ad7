//! Conformance checks of free-text search pages, run by `conformance.rs` on every backend:
//! the number of matches and each page in the order asked, with other filters.

use super::suite::*;
use baton_model::WorkflowStatus;
use baton_store::{Store, WorkflowQuery};
use std::sync::Arc;

async fn ids(store: &Arc<dyn Store>, q: WorkflowQuery) -> (i64, Vec<String>) {
    let (total, page) = store.search_workflows(&q).await.unwrap();
    (total, page.into_iter().map(|w| w.workflow_id).collect())
}

pub async fn free_text_pages_in_order(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    // wf-1 … wf-6 start one after another; the even ones hold the needle, wf-4 has failed.
    for i in 1..=6 {
        let mut wf = workflow(&format!("wf-{i}"), "flow");
        wf.start_time = NOW + i;
        if i % 2 == 0 {
            wf.correlation_id = Some(format!("Needle-{i}"));
        }
        if i == 4 {
            wf.status = WorkflowStatus::Failed;
        }
        store.commit(one(insert(wf, &d, vec![]))).await.unwrap();
    }
    let q = |offset, limit| WorkflowQuery {
        free_text: Some("needle".into()),
        offset,
        limit,
        ..Default::default()
    };
    let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        ids(&store, q(0, 10)).await,
        (3, v(&["wf-6", "wf-4", "wf-2"])),
        "newest first"
    );
    assert_eq!(ids(&store, q(1, 1)).await, (3, v(&["wf-4"])));
    assert_eq!(ids(&store, q(2, 5)).await, (3, v(&["wf-2"])));
    assert_eq!(
        ids(&store, q(3, 5)).await,
        (3, vec![]),
        "a page past the end keeps the number"
    );
    let oldest_first = WorkflowQuery {
        sort: Some(("startTime".into(), false)),
        ..q(0, 2)
    };
    assert_eq!(ids(&store, oldest_first).await, (3, v(&["wf-2", "wf-4"])));
    let running = WorkflowQuery {
        statuses: vec![WorkflowStatus::Running],
        ..q(0, 10)
    };
    assert_eq!(ids(&store, running).await, (2, v(&["wf-6", "wf-2"])));
    let none = WorkflowQuery {
        free_text: Some("haystack".into()),
        ..q(0, 10)
    };
    assert_eq!(ids(&store, none).await, (0, vec![]));
}

/// (start time, id, status) of a workflow, as the pages below order and filter them.
type Row = (i64, String, WorkflowStatus);

/// 60 workflows, three to a start time (the id breaks ties); two in three hold the needle,
/// in their correlation id or in their input; every fourth has failed.
async fn commit_needles(store: &Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    for i in 0..60 {
        let mut wf = workflow(&format!("wf-{i:02}"), "flow");
        wf.start_time = NOW + i / 3;
        match i % 3 {
            0 => wf.correlation_id = Some(format!("Needle-{i}")),
            1 => {
                wf.input
                    .insert("note".into(), serde_json::json!(format!("a nEEdle {i}")));
            }
            _ => {}
        }
        if i % 4 == 0 {
            wf.status = WorkflowStatus::Failed;
        }
        store.commit(one(insert(wf, &d, vec![]))).await.unwrap();
    }
}

/// wf-03 completes; wf-00 starts again later, its status, correlation id and input kept
/// (only its start time changes); wf-01 is removed.
async fn change_needles(store: &Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let mut done = update(workflow("wf-03", "flow"), &d, 1);
    done.keep_input = true;
    done.workflow.start_time = NOW + 1;
    done.workflow.correlation_id = Some("Needle-3".into());
    done.workflow.status = WorkflowStatus::Completed;
    store.commit(one(done)).await.unwrap();
    let mut later = update(workflow("wf-00", "flow"), &d, 1);
    later.keep_input = true;
    later.workflow.start_time = NOW + 100;
    later.workflow.correlation_id = Some("Needle-0".into());
    later.workflow.status = WorkflowStatus::Failed;
    store.commit(one(later)).await.unwrap();
    store.remove_workflow("wf-01").await.unwrap();
}

/// The workflows `needle` matches, newest first, before or after [`change_needles`].
fn needles(changed: bool) -> Vec<Row> {
    let mut rows: Vec<Row> = (0..60i64)
        .filter(|i| i % 3 != 2)
        .map(|i| {
            let status = match i % 4 {
                0 => WorkflowStatus::Failed,
                _ => WorkflowStatus::Running,
            };
            (NOW + i / 3, format!("wf-{i:02}"), status)
        })
        .filter(|(_, id, _)| !(changed && id == "wf-01"))
        .map(|(start, id, status)| match id.as_str() {
            "wf-03" if changed => (start, id, WorkflowStatus::Completed),
            "wf-00" if changed => (NOW + 100, id, status),
            _ => (start, id, status),
        })
        .collect();
    rows.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    rows
}

/// Every page of `needle` (free text alone: total, order, deep pages, both directions) and
/// of `needle` with statuses, against `expected` (newest first).
async fn check_needle_pages(store: &Arc<dyn Store>, expected: &[Row]) {
    let total = i64::try_from(expected.len()).unwrap();
    let all: Vec<String> = expected.iter().map(|r| r.1.clone()).collect();
    let q = |offset, limit| WorkflowQuery {
        free_text: Some("needle".into()),
        offset,
        limit,
        ..Default::default()
    };
    for offset in (0..all.len()).step_by(7) {
        let want = all[offset..all.len().min(offset + 7)].to_vec();
        assert_eq!(ids(store, q(offset, 7)).await, (total, want), "at {offset}");
    }
    let deep = all.len() - 2;
    assert_eq!(
        ids(store, q(deep, 10)).await,
        (total, all[deep..].to_vec()),
        "the last page"
    );
    assert_eq!(ids(store, q(all.len() + 5, 10)).await, (total, vec![]));
    let oldest_first = WorkflowQuery {
        sort: Some(("startTime".into(), false)),
        ..q(3, 100)
    };
    let mut ascending = all.clone();
    ascending.reverse();
    assert_eq!(
        ids(store, oldest_first).await,
        (total, ascending[3..].to_vec()),
        "oldest first"
    );

    let statuses = [WorkflowStatus::Failed, WorkflowStatus::Completed];
    let of = |wanted: &[WorkflowStatus]| -> Vec<Row> {
        expected
            .iter()
            .filter(|r| wanted.contains(&r.2))
            .cloned()
            .collect()
    };
    let failed = of(&statuses[..1]);
    let with_status = WorkflowQuery {
        statuses: statuses[..1].to_vec(),
        ..q(2, 5)
    };
    let want: Vec<String> = failed.iter().skip(2).take(5).map(|r| r.1.clone()).collect();
    assert_eq!(
        ids(store, with_status).await,
        (i64::try_from(failed.len()).unwrap(), want),
        "failed, newest first"
    );
    // By status (A to Z), then id.
    let mut by_status = of(&statuses);
    by_status.sort_by(|a, b| (a.2.as_str(), &a.1).cmp(&(b.2.as_str(), &b.1)));
    let sorted = WorkflowQuery {
        statuses: statuses.to_vec(),
        sort: Some(("status".into(), false)),
        ..q(0, 100)
    };
    assert_eq!(
        ids(store, sorted).await,
        (
            i64::try_from(by_status.len()).unwrap(),
            by_status.iter().map(|r| r.1.clone()).collect()
        ),
        "failed and completed by status"
    );
}

/// Free text pages and totals as the workflows change: a new status, a later start time
/// (its status and document unchanged) and a removal are followed by every page.
pub async fn free_text_pages_follow_their_workflows(store: Arc<dyn Store>) {
    commit_needles(&store).await;
    check_needle_pages(&store, &needles(false)).await;
    change_needles(&store).await;
    check_needle_pages(&store, &needles(true)).await;
    let completed = WorkflowQuery {
        free_text: Some("needle".into()),
        statuses: vec![WorkflowStatus::Completed],
        limit: 10,
        ..Default::default()
    };
    assert_eq!(ids(&store, completed).await, (1, vec!["wf-03".to_string()]));
}

/// Workflows written and changed by this build; [`check_backfill_cases`] pages through them
/// by free text, before and after their documents are moved by a migration.
pub async fn commit_backfill_cases(store: &Arc<dyn Store>) {
    commit_needles(store).await;
    change_needles(store).await;
}

pub async fn check_backfill_cases(store: &Arc<dyn Store>) {
    check_needle_pages(store, &needles(true)).await;
}

/// A workflow's input is kept by commits that do not replace it, replaced by one that does
/// (a rerun with new input), and goes with the workflow; free text follows it. A status read
/// goes without it.
pub async fn a_workflow_input_is_kept_replaced_and_removed(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let with_input = |text: &str| {
        let mut wf = workflow("wf-in", "flow");
        wf.input.insert("files".into(), serde_json::json!([text]));
        wf
    };
    let found = |text: &str| WorkflowQuery {
        free_text: Some(text.into()),
        limit: 10,
        ..Default::default()
    };
    let input_of = |store: Arc<dyn Store>| async move {
        let state = store.load_workflow("wf-in").await.unwrap().expect("stored");
        state.workflow.input.get("files").cloned()
    };
    store
        .commit(one(insert(with_input("alpha-first"), &d, vec![])))
        .await
        .unwrap();
    // A commit that keeps the input carries none.
    let mut kept = update(workflow("wf-in", "flow"), &d, 1);
    kept.keep_input = true;
    kept.workflow.status = WorkflowStatus::Paused;
    store.commit(one(kept)).await.unwrap();
    assert_eq!(
        input_of(store.clone()).await,
        Some(serde_json::json!(["alpha-first"]))
    );
    let got = store.get_workflow("wf-in").await.unwrap().expect("stored");
    assert_eq!(
        got.input.get("files"),
        Some(&serde_json::json!(["alpha-first"]))
    );
    assert_eq!(ids(&store, found("alpha-first")).await.0, 1);
    // A status read leaves the input (and the definition) out, the rest of the row in.
    let status = store
        .get_workflow_status("wf-in")
        .await
        .unwrap()
        .expect("stored");
    assert!(status.input.is_empty() && status.workflow_definition.is_none());
    assert_eq!(
        (status.workflow_id.as_str(), status.status),
        ("wf-in", WorkflowStatus::Paused)
    );
    assert_eq!(status.output, got.output);
    assert!(store
        .get_workflow_status("wf-none")
        .await
        .unwrap()
        .is_none());

    // A rerun replaces it, status unchanged: the document follows the input alone.
    let mut rerun = update(with_input("beta-second"), &d, 2);
    rerun.workflow.status = WorkflowStatus::Paused;
    store.commit(one(rerun)).await.unwrap();
    assert_eq!(
        input_of(store.clone()).await,
        Some(serde_json::json!(["beta-second"]))
    );
    assert_eq!(ids(&store, found("beta-second")).await.0, 1);
    assert_eq!(ids(&store, found("alpha-first")).await.0, 0);
    let (_, page) = store.search_workflows(&found("beta-second")).await.unwrap();
    assert_eq!(
        page[0].input.get("files"),
        Some(&serde_json::json!(["beta-second"]))
    );

    store.remove_workflow("wf-in").await.unwrap();
    assert_eq!(ids(&store, found("beta-second")).await.0, 0);
    // A new workflow of the same id starts with its own input, not a leftover.
    store
        .commit(one(insert(with_input("gamma-third"), &d, vec![])))
        .await
        .unwrap();
    assert_eq!(
        input_of(store.clone()).await,
        Some(serde_json::json!(["gamma-third"]))
    );
    assert_eq!(ids(&store, found("gamma-third")).await.0, 1);
}
