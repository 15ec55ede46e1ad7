//! Conformance checks of `Store::search_workflows_by_tasks` (search-by-tasks), run by
//! `conformance.rs` on every backend: pages of attempts (Conductor's paging), each workflow
//! once per page in the order of its first attempt there, the scan limit and the total.

use super::suite::*;
use baton_store::{Store, TaskQuery};
use std::sync::Arc;

/// wf-a has one `alpha` attempt, wf-b two, wf-c a `beta`, wf-d one `alpha`, committed in
/// that order (newest attempt: wf-d's).
async fn fill(store: &Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let timed = |wf: &str, id: &str, seq: i32, kind: &str, at: i64| {
        let mut t = task(wf, id, seq, kind);
        t.start_time = at;
        t
    };
    for (wf, tasks) in [
        ("wf-a", vec![timed("wf-a", "t-a", 0, "alpha", 3)]),
        (
            "wf-b",
            vec![
                timed("wf-b", "t-b1", 0, "alpha", 1),
                timed("wf-b", "t-b2", 1, "alpha", 2),
            ],
        ),
        ("wf-c", vec![timed("wf-c", "t-c", 0, "beta", 5)]),
        ("wf-d", vec![timed("wf-d", "t-d", 0, "alpha", 4)]),
    ] {
        store
            .commit(one(insert(workflow(wf, "flow"), &d, tasks)))
            .await
            .unwrap();
    }
}

async fn found(
    store: &Arc<dyn Store>,
    scan: &TaskQuery,
    start: usize,
    size: usize,
) -> (i64, Vec<String>) {
    let (total, page) = store
        .search_workflows_by_tasks(scan, start, size)
        .await
        .unwrap();
    for w in &page {
        assert!(
            w.workflow_definition.is_some(),
            "{} read whole",
            w.workflow_id
        );
    }
    (total, page.into_iter().map(|w| w.workflow_id).collect())
}

pub async fn search_workflows_by_tasks(store: Arc<dyn Store>) {
    fill(&store).await;
    let alpha = TaskQuery {
        task_def_names: vec!["alpha".into()],
        ..Default::default()
    };
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        found(&store, &alpha, 0, 10).await,
        (3, ids(&["wf-d", "wf-b", "wf-a"])),
        "by newest attempt, each workflow once"
    );
    // Pages are pages of attempts, as Conductor pages them (newest first: wf-d, wf-b twice,
    // wf-a): the total is the attempts less the repeats on the page.
    assert_eq!(found(&store, &alpha, 1, 1).await, (4, ids(&["wf-b"])));
    assert_eq!(
        found(&store, &alpha, 1, 2).await,
        (3, ids(&["wf-b"])),
        "a page lists each workflow once"
    );
    assert_eq!(
        found(&store, &alpha, 2, 2).await,
        (4, ids(&["wf-b", "wf-a"])),
        "a workflow whose attempts straddle two pages is on both"
    );
    assert_eq!(
        found(&store, &alpha, 5, 10).await,
        (4, vec![]),
        "a page past the end keeps the number"
    );
    assert_eq!(found(&store, &alpha, 0, 0).await, (4, vec![]), "size 0");
    // The count stops past the count limit, as a task search's does.
    let capped = TaskQuery {
        count_limit: 2,
        ..alpha.clone()
    };
    assert_eq!(found(&store, &capped, 0, 1).await, (2, ids(&["wf-d"])));
    assert_eq!(
        found(&store, &capped, 0, 10).await,
        (3, ids(&["wf-d", "wf-b", "wf-a"])),
        "a page reaching past the cap claims what it holds, less its repeats"
    );
    // The scan limit counts attempts, not workflows: wf-b's two attempts fill it.
    let scan = |limit| TaskQuery {
        limit,
        ..alpha.clone()
    };
    assert_eq!(
        found(&store, &scan(2), 0, 10).await,
        (2, ids(&["wf-d", "wf-b"]))
    );
    assert_eq!(
        found(&store, &scan(3), 0, 10).await,
        (2, ids(&["wf-d", "wf-b"]))
    );
    let oldest_first = TaskQuery {
        sort: Some(("startTime".into(), false)),
        ..alpha.clone()
    };
    assert_eq!(
        found(&store, &oldest_first, 0, 10).await,
        (3, ids(&["wf-b", "wf-a", "wf-d"])),
        "in the order of the scan"
    );
    let beta = TaskQuery {
        task_def_names: vec!["beta".into()],
        ..Default::default()
    };
    assert_eq!(found(&store, &beta, 0, 10).await, (1, ids(&["wf-c"])));
    let none = TaskQuery {
        task_def_names: vec!["gamma".into()],
        ..Default::default()
    };
    assert_eq!(found(&store, &none, 0, 10).await, (0, vec![]));
}
