//! Conformance checks, run by `conformance.rs` on every backend: workflow search (filters,
//! pages, documents, free text, kept counts).

use super::suite::*;
use baton_model::{Task, Workflow, WorkflowStatus};
use baton_store::{Store, WorkflowQuery};
use std::sync::Arc;

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
    let text = |v: &serde_json::Map<String, serde_json::Value>| serde_json::to_string(v).unwrap();
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

pub async fn free_text_total(store: &Arc<dyn Store>, text: &str) -> i64 {
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
