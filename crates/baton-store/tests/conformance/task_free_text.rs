//! Conformance checks of free text on tasks, run by `conformance.rs` on every backend: a
//! case-insensitive substring of each attempt's search document (workflow type, correlation
//! id, reference name, type, definition name, input, output, reason) or its whole task or
//! workflow id, kept through claims, completions and removals, with totals and pages in
//! order; and the documents of tasks written before the migration that added them.

use super::suite::*;
use baton_model::{Task, TaskStatus, WorkflowStatus};
use baton_store::{Store, TaskQuery, TaskWrite};
use std::sync::Arc;

async fn found(store: &Arc<dyn Store>, q: TaskQuery) -> (i64, Vec<String>) {
    let (total, page) = store.search_tasks(&q).await.unwrap();
    (total, page.into_iter().map(|t| t.task_id).collect())
}

fn text(text: &str) -> TaskQuery {
    TaskQuery {
        free_text: Some(text.into()),
        limit: 100,
        ..Default::default()
    }
}

fn v(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// An attempt of a `Shipping` execution with the correlation id `Order-77`.
fn shipping_task(workflow_id: &str, task_id: &str, seq: i32, task_type: &str) -> Task {
    let mut t = task(workflow_id, task_id, seq, task_type);
    t.workflow_type = "Shipping".into();
    t.correlation_id = Some("Order-77".into());
    t
}

pub async fn task_free_text_matches_the_search_document(store: Arc<dyn Store>) {
    let d = Arc::new(def("Shipping", 1));
    // t-1 and t-2 in wf-t1, then t-3 in wf-t2: newest first is t-3, t-2, t-1.
    let mut t1 = shipping_task("wf-t1", "t-1", 0, "pack");
    t1.input_data.insert(
        "files".into(),
        serde_json::json!(["Needle.c", "it's", "50% off_sale", "ünïcödé 😀"]),
    );
    let t2 = shipping_task("wf-t1", "t-2", 1, "label");
    let mut t3 = task("wf-t2", "t-3", 0, "pack");
    t3.workflow_type = "Billing".into();
    t3.input_data.insert("n".into(), serde_json::json!(7));
    store
        .commit(one(insert(workflow("wf-t1", "Shipping"), &d, vec![t1, t2])))
        .await
        .unwrap();
    store
        .commit(one(insert(workflow("wf-t2", "Billing"), &d, vec![t3])))
        .await
        .unwrap();

    for (needle, expected) in [
        ("needle.c", v(&["t-1"])),         // input, any case
        ("ORDER-77", v(&["t-2", "t-1"])),  // correlation id
        ("shipping", v(&["t-2", "t-1"])),  // workflow type
        ("pack_ref", v(&["t-3", "t-1"])),  // reference name; `_` is literal
        ("label", v(&["t-2"])),            // type and definition name
        ("wf-t2", v(&["t-3"])),            // a whole workflow id
        ("t-3", v(&["t-3"])),              // a whole task id
        ("wf-t", v(&[])),                  // ids match whole, not in part
        ("re", v(&["t-3", "t-2", "t-1"])), // shorter than a trigram: scanned
        ("%", v(&["t-1"])),                // one character, literal
        ("50% o", v(&["t-1"])),            // `%` is literal
        ("5_%", v(&[])),                   // `_` is literal
        ("_s", v(&["t-1"])),               // two characters with `_`
        ("it's", v(&["t-1"])),             // a single quote
        ("\"files\":[", v(&["t-1"])),      // double quotes (the input's JSON)
        ("\"\"\"", v(&[])),                // quotes only
        ("\"n\":7", v(&["t-3"])),          // the input's JSON text
        ("ünïcödé", v(&["t-1"])),          // unicode
        ("ÜNÏCÖDÉ", v(&["t-1"])),          // any case, beyond ASCII (3 or more)
        ("😀", v(&["t-1"])),               // one character outside the BMP
        ("scheduled", v(&[])),             // the status is not in the document
        ("needle.cc", v(&[])),
    ] {
        assert_eq!(
            found(&store, text(needle)).await,
            (to_i64(expected.len()), expected),
            "{needle:?}"
        );
    }

    // Pages in the order asked, with other filters.
    let page = TaskQuery {
        offset: 1,
        limit: 1,
        ..text("re")
    };
    assert_eq!(found(&store, page).await, (3, v(&["t-2"])));
    let past = TaskQuery {
        offset: 3,
        limit: 1,
        ..text("re")
    };
    assert_eq!(found(&store, past).await, (3, v(&[])), "keeps the number");
    let oldest_first = TaskQuery {
        sort: Some(("startTime".into(), false)),
        ..text("ref")
    };
    assert_eq!(
        found(&store, oldest_first).await,
        (3, v(&["t-1", "t-2", "t-3"]))
    );
    let of_a_type = TaskQuery {
        task_def_names: vec!["pack".into()],
        ..text("order-77")
    };
    assert_eq!(found(&store, of_a_type).await, (1, v(&["t-1"])));

    // Claims change the status and the worker, which the document leaves out.
    let claimed = store.poll(poll_req("pack", 2, "worker-xyz", NOW)).await;
    let mut claimed = claimed.unwrap().tasks;
    claimed.retain(|t| t.task_id == "t-1");
    let mut t1 = claimed.pop().expect("t-1 claimed");
    assert_eq!(found(&store, text("needle.c")).await, (1, v(&["t-1"])));
    assert_eq!(found(&store, text("worker-xyz")).await, (0, v(&[])));

    // The completion's output and reason are searched; the input stays.
    t1.status = TaskStatus::Completed;
    t1.output_data
        .insert("result".into(), serde_json::json!("Shipped-OK"));
    t1.reason_for_incompletion = Some("late: back\\slash 100%".into());
    let mut done = update(workflow("wf-t1", "Shipping"), &d, 1);
    done.tasks = writes(vec![t1]);
    store.commit(one(done)).await.unwrap();
    // A rewritten document keeps its place: newest attempt first.
    assert_eq!(
        found(&store, text("re")).await,
        (3, v(&["t-3", "t-2", "t-1"]))
    );
    assert_eq!(
        found(&store, text("ref")).await,
        (3, v(&["t-3", "t-2", "t-1"]))
    );
    for (needle, expected) in [
        ("shipped-ok", v(&["t-1"])),
        ("k\\sl", v(&["t-1"])),
        ("100%", v(&["t-1"])),
        ("needle.c", v(&["t-1"])),
    ] {
        assert_eq!(
            found(&store, text(needle)).await,
            (to_i64(expected.len()), expected),
            "{needle:?}"
        );
    }
    let completed = TaskQuery {
        statuses: vec![TaskStatus::Completed],
        ..text("pack_ref")
    };
    assert_eq!(found(&store, completed).await, (1, v(&["t-1"])));
    let in_progress = TaskQuery {
        statuses: vec![TaskStatus::InProgress],
        ..text("pack_ref")
    };
    assert_eq!(found(&store, in_progress).await, (1, v(&["t-3"])));

    // An attempt removed (a rerun), then a whole workflow: their documents go with them.
    let mut rerun = update(workflow("wf-t1", "Shipping"), &d, 2);
    rerun.removed_tasks = vec!["t-2".into()];
    store.commit(one(rerun)).await.unwrap();
    assert_eq!(found(&store, text("label")).await, (0, v(&[])));
    store.remove_workflow("wf-t1").await.unwrap();
    assert_eq!(found(&store, text("needle")).await, (0, v(&[])));
    assert_eq!(found(&store, text("re")).await, (1, v(&["t-3"])));
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap()
}

/// Tasks in several states, written by this build; [`check_backfill_cases`] finds them by
/// their documents, before and after the documents are rebuilt by the migration.
pub async fn commit_backfill_cases(store: &Arc<dyn Store>) {
    let d = Arc::new(def("Shipping", 1));
    let mut queued = shipping_task("wf-b1", "t-b1", 0, "pack");
    queued
        .input_data
        .insert("file".into(), serde_json::json!("Needle.c"));
    let mut done = shipping_task("wf-b1", "t-b2", 1, "label");
    done.status = TaskStatus::Failed;
    done.output_data
        .insert("code".into(), serde_json::json!("E-404"));
    done.reason_for_incompletion = Some("printer jammed".into());
    // An escaped NUL character in the document (PostgreSQL's json text operators refuse it).
    let mut nul = task("wf-b2", "t-b3", 0, "pack");
    nul.input_data.insert(
        "text".into(),
        serde_json::json!({"raw": "nul \u{0000} here", "tag": "zeta-9"}),
    );
    let mut wf = workflow("wf-b1", "Shipping");
    wf.status = WorkflowStatus::Running;
    store
        .commit(one(insert(wf, &d, vec![queued, done])))
        .await
        .unwrap();
    store
        .commit(one(insert(workflow("wf-b2", "Shipping"), &d, vec![nul])))
        .await
        .unwrap();
}

pub async fn check_backfill_cases(store: &Arc<dyn Store>) {
    for (needle, expected) in [
        ("needle.c", v(&["t-b1"])),
        ("order-77", v(&["t-b2", "t-b1"])),
        ("E-404", v(&["t-b2"])),
        ("jammed", v(&["t-b2"])),
        ("zeta-9", v(&["t-b3"])),
        ("wf-b1", v(&["t-b2", "t-b1"])),
        ("t-b3", v(&["t-b3"])),
        ("pack_ref", v(&["t-b3", "t-b1"])),
    ] {
        assert_eq!(
            found(store, text(needle)).await,
            (to_i64(expected.len()), expected),
            "{needle:?}"
        );
    }
}

/// 300 tasks of the workflow `workflow_id`, each with `Ünï-<workflow id>-<n>` in its input
/// and `Old-Out-<workflow id>-<n>` as its output.
fn many_tasks(workflow_id: &str) -> Vec<Task> {
    (0..300)
        .map(|n| {
            let mut t = task(workflow_id, &format!("{workflow_id}-{n:03}"), n, "pack");
            t.input_data.insert(
                "mark".into(),
                serde_json::json!(format!("Ünï-{workflow_id}-{n:03}")),
            );
            t.output_data.insert(
                "out".into(),
                serde_json::json!(format!("Old-Out-{workflow_id}-{n:03}")),
            );
            t
        })
        .collect()
}

/// More documents than SQLite indexes at once (256, migration 16): the documents already in
/// the index and those waiting for it match alike (Unicode case), a rewritten document
/// no longer matches its old text before or after it is indexed, and removed ones go.
pub async fn task_free_text_across_index_batches(store: Arc<dyn Store>) {
    let d = Arc::new(def("Batch", 1));
    store
        .commit(one(insert(
            workflow("wf-x", "Batch"),
            &d,
            many_tasks("wf-x"),
        )))
        .await
        .unwrap();
    for (needle, expected) in [
        ("ÜNÏ-WF-X-000", v(&["wf-x-000"])), // the first written
        ("ünï-wf-x-299", v(&["wf-x-299"])), // the last written
        ("old-out-wf-x-000", v(&["wf-x-000"])),
    ] {
        assert_eq!(
            found(&store, text(needle)).await,
            (1, expected),
            "{needle:?}"
        );
    }
    assert_eq!(found(&store, text("ünï-wf-x-")).await.0, 300);

    // A completion rewrites the first and the last task's output.
    let mut rewritten = Vec::new();
    for n in [0, 299] {
        let mut t = many_tasks("wf-x").swap_remove(n);
        t.status = TaskStatus::Completed;
        t.output_data.insert(
            "out".into(),
            serde_json::json!(format!("New-Out-wf-x-{n:03}")),
        );
        rewritten.push(t);
    }
    let mut done = update(workflow("wf-x", "Batch"), &d, 1);
    done.tasks = writes(rewritten);
    store.commit(one(done)).await.unwrap();
    let check_rewritten = || async {
        for n in ["000", "299"] {
            let id = format!("wf-x-{n}");
            assert_eq!(
                found(&store, text(&format!("old-out-wf-x-{n}"))).await,
                (0, v(&[]))
            );
            assert_eq!(
                found(&store, text(&format!("NEW-OUT-WF-X-{n}"))).await,
                (1, vec![id.clone()])
            );
            assert_eq!(
                found(&store, text(&format!("ünï-wf-x-{n}"))).await,
                (1, vec![id])
            );
        }
    };
    check_rewritten().await;
    // Another 300 tasks: the rewritten documents are indexed again among them.
    store
        .commit(one(insert(
            workflow("wf-y", "Batch"),
            &d,
            many_tasks("wf-y"),
        )))
        .await
        .unwrap();
    check_rewritten().await;
    assert_eq!(found(&store, text("ünï-wf-y-")).await.0, 300);
    assert_eq!(found(&store, text("Ünï-wf-")).await.0, 600);

    store.remove_workflow("wf-x").await.unwrap();
    assert_eq!(found(&store, text("ünï-wf-x-")).await, (0, v(&[])));
    assert_eq!(found(&store, text("new-out-")).await, (0, v(&[])));
    assert_eq!(found(&store, text("Ünï-wf-")).await.0, 300);
}

/// A task whose input and output are longer than the document's bound: `Front-<n>` at
/// their start, `Back-<n>` past `padding` bytes.
fn long_task(workflow_id: &str, task_id: &str, padding: usize) -> Task {
    let mut t = task(workflow_id, task_id, 0, "pack");
    // Keys in alphabetical order, so the JSON reads in this order whatever the map type.
    let side = |n: &str| {
        serde_json::json!({
            "a": format!("Front-{n}"),
            "m": "x".repeat(padding),
            "z": format!("Back-{n}"),
        })
    };
    t.input_data.insert("in".into(), side("In"));
    t.output_data.insert("out".into(), side("Out"));
    t
}

/// The default bound (16 KiB of input and of output): text at their start matches, text
/// 20,000 bytes in does not; ids and names match whatever the size.
pub async fn task_free_text_reads_the_start_of_long_input_and_output(store: Arc<dyn Store>) {
    let d = Arc::new(def("Long", 1));
    store
        .commit(one(insert(
            workflow("wf-long", "Long"),
            &d,
            vec![long_task("wf-long", "t-long", 20_000)],
        )))
        .await
        .unwrap();
    let hits = [
        ("front-in", 1),
        ("front-out", 1),
        ("back-in", 0),
        ("back-out", 0),
        ("t-long", 1),
        ("pack_ref", 1),
    ];
    assert_hits(&store, &hits).await;
}

/// Each needle's total is the number given.
async fn assert_hits(store: &Arc<dyn Store>, hits: &[(&str, i64)]) {
    for &(needle, n) in hits {
        assert_eq!(found(store, text(needle)).await.0, n, "{needle:?}");
    }
}

/// What a store whose documents hold `bound` bytes of input and of output matches: nothing
/// of them at 0, their start at 64.
pub async fn check_text_bound(store: &Arc<dyn Store>, bound: usize) {
    let d = Arc::new(def("Long", 1));
    let task = long_task("wf-bound", "t-bound", 100);
    let mut write = insert(workflow("wf-bound", "Long"), &d, vec![]);
    // As the runtime writes it: with the bound the store reports.
    write.tasks = vec![TaskWrite::new(&task, "wf-bound", store.task_text_bytes()).unwrap()];
    write.queue_push = vec![entry(&task, 0, NOW)];
    store.commit(one(write)).await.unwrap();
    let front = i64::from(bound > 0);
    let hits = [
        ("front-in", front),
        ("front-out", front),
        ("back-in", 0),
        ("back-out", 0),
        ("t-bound", 1),
        ("wf-bound", 1),
    ];
    assert_hits(store, &hits).await;
}
