//! Conformance checks of capped totals, run by `conformance.rs` on every backend: a count
//! that stops at `count_limit`, pages before and past the cap, totals the caller does not
//! want, and the kept counts of type and status searches, which the cap leaves exact.

use super::suite::*;
use baton_store::{Store, TaskQuery, WorkflowQuery};
use std::sync::Arc;

async fn workflow_ids(store: &Arc<dyn Store>, q: &WorkflowQuery) -> (i64, Vec<String>) {
    let (total, page) = store.search_workflows(q).await.unwrap();
    (total, page.into_iter().map(|w| w.workflow_id).collect())
}

async fn task_ids(store: &Arc<dyn Store>, q: &TaskQuery) -> (i64, Vec<String>) {
    let (total, page) = store.search_tasks(q).await.unwrap();
    (total, page.into_iter().map(|t| t.task_id).collect())
}

/// The ids of `all` from `offset`, at most `limit`.
fn slice(all: &[String], offset: usize, limit: usize) -> Vec<String> {
    all.iter().skip(offset).take(limit).cloned().collect()
}

pub async fn capped_totals_and_pages_past_the_cap(store: Arc<dyn Store>) {
    let d = Arc::new(def("capped", 1));
    for i in 0..12 {
        let mut wf = workflow(&format!("wf-c{i:02}"), "capped");
        wf.start_time = NOW + i;
        let t = task(
            &wf.workflow_id.clone(),
            &format!("t-c{i:02}"),
            0,
            "capped_task",
        );
        store.commit(one(insert(wf, &d, vec![t]))).await.unwrap();
    }

    // Tasks: every task search counts by reading its matches.
    let tasks = |offset, limit, count_limit| TaskQuery {
        task_def_names: vec!["capped_task".into()],
        offset,
        limit,
        count_limit,
        ..Default::default()
    };
    let (total, all) = task_ids(&store, &tasks(0, 100, 0)).await;
    assert_eq!((total, all.len()), (12, 12), "no cap: every match counted");
    assert_eq!(all[0], "t-c11", "newest first");
    // Under the cap the count is exact, and pages past the middle are read from the end.
    for offset in [0, 5, 7, 10, 12] {
        assert_eq!(
            task_ids(&store, &tasks(offset, 3, 20)).await,
            (12, slice(&all, offset, 3)),
            "cap above the matches, offset {offset}"
        );
    }
    // Over the cap: the cap, or what the page shows when it reaches further.
    let cases = [
        (0, 3, 5),   // the first page: the cap
        (4, 3, 7),   // a page across the cap: up to its last row
        (5, 3, 8),   // a page past the cap: read before any count
        (10, 3, 12), // the last page, short
        (12, 3, 5),  // past the end: nothing shown, the cap
        (40, 3, 5),  // far past the end
    ];
    for (offset, limit, want) in cases {
        assert_eq!(
            task_ids(&store, &tasks(offset, limit, 5)).await,
            (want, slice(&all, offset, limit)),
            "cap 5, offset {offset}"
        );
    }

    // Workflows: a filter beyond type and status is counted by reading the matches.
    let since = |offset, limit, count_limit| WorkflowQuery {
        workflow_types: vec!["capped".into()],
        start_time_from: Some(NOW),
        offset,
        limit,
        count_limit,
        ..Default::default()
    };
    let (total, all) = workflow_ids(&store, &since(0, 100, 0)).await;
    assert_eq!((total, all.len()), (12, 12));
    assert_eq!(all[0], "wf-c11", "newest first");
    for (offset, limit, want) in cases {
        assert_eq!(
            workflow_ids(&store, &since(offset, limit, 5)).await,
            (want, slice(&all, offset, limit)),
            "workflows, cap 5, offset {offset}"
        );
    }
    // Totals of a search by type (and status) come from kept counts: exact whatever the cap.
    let by_type = WorkflowQuery {
        workflow_types: vec!["capped".into()],
        offset: 8,
        limit: 3,
        count_limit: 5,
        ..Default::default()
    };
    assert_eq!(
        workflow_ids(&store, &by_type).await,
        (12, slice(&all, 8, 3)),
        "kept counts are exact"
    );
    // A total nobody wants is not counted: the results up to the page's end.
    for (offset, want) in [(0, 3), (4, 7), (10, 12), (12, 12)] {
        let lookup = WorkflowQuery {
            skip_total: true,
            ..since(offset, 3, 0)
        };
        assert_eq!(
            workflow_ids(&store, &lookup).await,
            (want, slice(&all, offset, 3)),
            "skip_total, offset {offset}"
        );
    }
}
