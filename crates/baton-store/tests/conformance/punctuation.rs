//! Conformance checks of free text with punctuation, run by `conformance.rs` on every
//! backend: a text is found where it is, with its punctuation as it is, on workflows and on
//! tasks; the same letters with other punctuation (or a letter in its place) are not. On
//! PostgreSQL the trigram index reads keys in which every punctuation character is one
//! letter (migration 16): these are the near misses such a key lets through, which the
//! document itself must drop.

use super::suite::*;
use baton_store::{Store, TaskQuery, WorkflowQuery};
use std::sync::Arc;

/// (correlation id, path) of executions `wp-1` … `wp-5`, started in that order. Each has one
/// task (`tp-1` …) whose input holds both.
const CASES: [(&str, &str); 5] = [
    ("Order-12345", "a.b_c/d"),
    ("order_12345", "a-b-c-d"),
    ("orderq12345", "x y"),
    ("ORDER 12345", "50%_off\\x"),
    ("order12345", "xqy 50q_off"),
];

/// Free text and the cases (numbers in `CASES`, from 1) it finds.
const NEEDLES: &[(&str, &[usize])] = &[
    ("order-12345", &[1]),
    ("ORDER_12345", &[2]),
    ("orderq12345", &[3]),
    ("order 12345", &[4]),
    ("order12345", &[5]),
    ("order.12345", &[]),
    ("order--12345", &[]),
    ("-12345", &[1]),
    ("r_1", &[2]),
    ("12345", &[5, 4, 3, 2, 1]),
    ("a.b_c/d", &[1]),
    ("a.b", &[1]),
    ("b_c/", &[1]),
    ("a-b-c", &[2]),
    ("b_c-", &[]),
    ("a.b.c", &[]),
    ("x y", &[3]),
    ("xqy", &[5]),
    ("x_y", &[]),
    ("x-y", &[]),
    ("%_off", &[4]),
    ("50q_off", &[5]),
    ("50%", &[4]),
    ("50_", &[]),
    ("%", &[4]),
    ("\\", &[4]),
    // The input's JSON holds the backslash escaped: `50%_off\\x`.
    ("off\\\\x", &[4]),
    ("off\\x", &[]),
];

/// Executions `wp-1` … and their tasks `tp-1` …, one commit each, in the order of `CASES`.
pub async fn commit_punctuation_cases(store: &Arc<dyn Store>) {
    let d = Arc::new(def("punct", 1));
    for (i, (key, path)) in CASES.iter().enumerate() {
        let n = i + 1;
        let mut wf = workflow(&format!("wp-{n}"), "punct");
        wf.start_time = NOW + i64::try_from(n).unwrap();
        wf.correlation_id = Some(key.to_string());
        wf.input.insert("p".into(), serde_json::json!(path));
        let mut t = task(&wf.workflow_id, &format!("tp-{n}"), 0, "job");
        t.input_data.insert("k".into(), serde_json::json!(key));
        t.input_data.insert("p".into(), serde_json::json!(path));
        store.commit(one(insert(wf, &d, vec![t]))).await.unwrap();
    }
}

/// Every needle finds its cases, newest first, among executions and among tasks.
pub async fn check_punctuation_cases(store: &Arc<dyn Store>) {
    for (needle, cases) in NEEDLES {
        let ids = |prefix: &str| -> Vec<String> {
            cases.iter().map(|n| format!("{prefix}-{n}")).collect()
        };
        let total = i64::try_from(cases.len()).unwrap();
        let q = WorkflowQuery {
            free_text: Some(needle.to_string()),
            limit: 100,
            ..Default::default()
        };
        let (n, page) = store.search_workflows(&q).await.unwrap();
        let found: Vec<String> = page.into_iter().map(|w| w.workflow_id).collect();
        assert_eq!((n, found), (total, ids("wp")), "workflows, {needle:?}");
        let q = TaskQuery {
            free_text: Some(needle.to_string()),
            limit: 100,
            ..Default::default()
        };
        let (n, page) = store.search_tasks(&q).await.unwrap();
        let found: Vec<String> = page.into_iter().map(|t| t.task_id).collect();
        assert_eq!((n, found), (total, ids("tp")), "tasks, {needle:?}");
    }
}

pub async fn free_text_keeps_punctuation(store: Arc<dyn Store>) {
    commit_punctuation_cases(&store).await;
    check_punctuation_cases(&store).await;
}
