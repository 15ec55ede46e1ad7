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
