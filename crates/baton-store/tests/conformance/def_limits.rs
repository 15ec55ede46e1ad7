//! Conformance check of limits by task definition in a queue that holds tasks of several
//! definitions (a system task queue), run by `conformance.rs` on every backend: each
//! definition's tasks are handed out within its own limits, the others are not held up, and
//! what is held back becomes visible again when it may go.

use super::suite::*;
use baton_store::{PollLimits, Store};
use std::collections::HashMap;
use std::sync::Arc;

pub async fn poll_limits_by_definition(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let http = |id: &str, seq: i32, name: &str| {
        let mut t = task("wf-1", id, seq, "HTTP");
        t.task_def_name = name.to_string();
        t.reference_task_name = format!("{id}_ref");
        t
    };
    let mut tasks = Vec::new();
    for i in 0..4 {
        tasks.push(http(&format!("c-{i}"), 3 * i, "call_api"));
        tasks.push(http(&format!("r-{i}"), 3 * i + 1, "rated_api"));
        if i < 2 {
            tasks.push(http(&format!("f-{i}"), 3 * i + 2, "free_api"));
        }
    }
    store
        .commit(one(insert(workflow("wf-1", "flow"), &d, tasks)))
        .await
        .unwrap();
    let by_def: HashMap<String, PollLimits> = [
        PollLimits {
            task_def_name: "call_api".into(),
            concurrent_exec_limit: Some(2),
            rate_limit: None,
        },
        PollLimits {
            task_def_name: "rated_api".into(),
            concurrent_exec_limit: None,
            rate_limit: Some((3, 10)),
        },
    ]
    .into_iter()
    .map(|l| (l.task_def_name.clone(), l))
    .collect();
    let by_def = Arc::new(by_def);
    let req = |now: i64| {
        let mut r = poll_req("HTTP", 16, "w", now);
        r.def_limits = Some(by_def.clone());
        r
    };
    let count = |tasks: &[baton_model::Task]| {
        let mut n: HashMap<String, usize> = HashMap::new();
        for t in tasks {
            *n.entry(t.task_def_name.clone()).or_default() += 1;
        }
        n
    };

    let out = store.poll(req(NOW)).await.unwrap();
    let n = count(&out.tasks);
    assert_eq!(n.get("call_api"), Some(&2), "concurrentExecLimit 2: {n:?}");
    assert_eq!(n.get("rated_api"), Some(&3), "3 per 10 s: {n:?}");
    assert_eq!(
        n.get("free_api"),
        Some(&2),
        "an unlimited definition: {n:?}"
    );

    // The rest stay queued, out of sight: polling again now finds nothing.
    let out = store.poll(req(NOW)).await.unwrap();
    assert!(out.tasks.is_empty(), "{:?}", count(&out.tasks));
    assert!(out.next_visible_at.is_some_and(|t| t > NOW));
    let queued: i64 = store
        .queue_sizes()
        .await
        .unwrap()
        .into_iter()
        .find(|(q, _)| q == "HTTP")
        .map_or(0, |(_, n)| n);
    assert_eq!(queued, 3);

    // Once the window has passed, the rated task goes; the capped ones still wait for a
    // slot (two are in progress).
    let out = store.poll(req(NOW + 10_001)).await.unwrap();
    assert_eq!(
        count(&out.tasks),
        HashMap::from([("rated_api".to_string(), 1)])
    );
}
