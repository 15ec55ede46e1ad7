//! Conformance checks, run by `conformance.rs` on every backend: task queues (claims in order,
//! domains, leases, claims against stale commits, keys and deliveries, concurrent pollers, poll
//! limits).

use super::suite::*;
use baton_model::{QueueEntry, Task, TaskStatus, WorkflowStatus};
use baton_store::{Store, StoreError, WorkflowQuery};
use std::collections::HashSet;
use std::sync::Arc;

pub async fn poll_claims_in_order(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let tasks: Vec<Task> = (0..5)
        .map(|i| task("wf-1", &format!("t-{i}"), i, "work"))
        .collect();
    let mut write = insert(workflow("wf-1", "flow"), &d, tasks.clone());
    write.queue_push = vec![
        entry(&tasks[0], 0, NOW - 10),
        entry(&tasks[1], 5, NOW - 5),      // highest priority
        entry(&tasks[2], 0, NOW - 20),     // oldest of priority 0
        entry(&tasks[3], 9, NOW + 60_000), // not yet visible
        entry(&tasks[4], 0, NOW + 30_000), // not yet visible
    ];
    store.commit(one(write)).await.unwrap();
    assert_eq!(queue_size(&store, "work").await, 5);

    let out = store.poll(poll_req("work", 2, "w1", NOW)).await.unwrap();
    let ids: Vec<&str> = out.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["t-1", "t-2"]);
    assert_eq!(out.next_visible_at, None);
    for t in &out.tasks {
        assert_eq!(t.status, TaskStatus::InProgress);
        assert_eq!(t.worker_id.as_deref(), Some("w1"));
        assert_eq!(t.poll_count, 1);
        assert_eq!(t.start_time, NOW);
        assert_eq!(t.first_start_time, NOW);
        assert_eq!(t.update_time, NOW);
        assert_eq!(t.queue_wait_time, 100);
    }
    let stored = store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(stored.status, TaskStatus::InProgress);
    assert_eq!(stored.worker_id.as_deref(), Some("w1"));

    let state = store.load_workflow("wf-1").await.unwrap().unwrap();
    assert_eq!(
        state.version, 1,
        "claims leave the workflow's version alone"
    );
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 30_000));
    let events = store.history("wf-1").await.unwrap();
    let claimed: Vec<_> = events
        .iter()
        .filter(|e| e.entity == "TASK" && e.status == "IN_PROGRESS")
        .collect();
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].worker_id.as_deref(), Some("w1"));

    let out = store.poll(poll_req("work", 10, "w1", NOW)).await.unwrap();
    assert_eq!(out.tasks.len(), 1);
    assert_eq!(out.tasks[0].task_id, "t-0");

    // Nothing visible: tells when the next entry will be.
    let out = store
        .poll(poll_req("work", 10, "w2", NOW + 1))
        .await
        .unwrap();
    assert!(out.tasks.is_empty());
    assert_eq!(out.next_visible_at, Some(NOW + 30_000));
    let out = store
        .poll(poll_req("work", 10, "w2", NOW + 2))
        .await
        .unwrap();
    assert_eq!(out.next_visible_at, Some(NOW + 30_000));

    let out = store
        .poll(poll_req("work", 10, "w2", NOW + 60_000))
        .await
        .unwrap();
    let ids: Vec<&str> = out.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["t-3", "t-4"]);
    assert_eq!(queue_size(&store, "work").await, 0);
    let out = store
        .poll(poll_req("work", 10, "w2", NOW + 60_001))
        .await
        .unwrap();
    assert!(out.tasks.is_empty());
    assert_eq!(out.next_visible_at, None);

    // Other queues and domains are separate.
    let out = store.poll(poll_req("other", 10, "w2", NOW)).await.unwrap();
    assert!(out.tasks.is_empty());

    let polls = store.poll_data().await.unwrap();
    let work = polls.iter().find(|p| p.queue_name == "work").unwrap();
    assert_eq!(work.worker_id, "w2");
    assert!(work.last_poll_time > NOW);
    assert!(polls.iter().any(|p| p.queue_name == "other"));
}

pub async fn poll_with_domain(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let mut t = task("wf-1", "t-0", 0, "work");
    t.domain = Some("blue".into());
    store
        .commit(one(insert(workflow("wf-1", "flow"), &d, vec![t])))
        .await
        .unwrap();
    let out = store.poll(poll_req("work", 1, "w", NOW)).await.unwrap();
    assert!(out.tasks.is_empty());
    let mut req = poll_req("blue:work", 1, "w", NOW);
    req.domain = Some("blue".into());
    let out = store.poll(req).await.unwrap();
    assert_eq!(out.tasks.len(), 1);
    let polls = store.poll_data().await.unwrap();
    assert!(polls
        .iter()
        .any(|p| p.queue_name == "work" && p.domain.as_deref() == Some("blue")));
}

pub async fn poll_without_response_timeout_keeps_wake(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let mut t = task("wf-1", "t-0", 0, "work");
    t.response_timeout_seconds = 0;
    let mut write = insert(workflow("wf-1", "flow"), &d, vec![t]);
    write.next_wake_at = Some(NOW + 5_000_000);
    store.commit(one(write)).await.unwrap();
    let out = store.poll(poll_req("work", 1, "w", NOW)).await.unwrap();
    assert_eq!(out.tasks.len(), 1);
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 5_000_000));
    assert_eq!(version_of(&store, "wf-1").await, 1);
}

/// A copy read before a claim cannot undo it: writing the claimed task from that copy is
/// a conflict that changes nothing, while a commit that leaves the task alone passes
/// but cannot move the workflow's wake-up past the claim's lease.
pub async fn commits_from_before_a_claim_cannot_undo_it(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let t = task("wf-1", "t-0", 0, "work"); // responseTimeoutSeconds 30
    let other = task("wf-1", "t-1", 1, "other");
    store
        .commit(one(insert(
            workflow("wf-1", "flow"),
            &d,
            vec![t.clone(), other.clone()],
        )))
        .await
        .unwrap();
    let out = store.poll(poll_req("work", 1, "w", NOW)).await.unwrap();
    assert_eq!(out.tasks.len(), 1);
    let lease_end = NOW + 30_000;
    assert_eq!(out.wake_by, Some(lease_end));

    // The stale copy (t-0 still SCHEDULED, poll count 0) cancels t-0: refused.
    let mut stale = t.clone();
    stale.status = TaskStatus::Canceled;
    let mut write = update(workflow("wf-1", "flow"), &d, 1);
    write.tasks = writes(vec![stale]);
    write.next_wake_at = Some(NOW + 999_000);
    let err = store.commit(one(write)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let kept = store.get_task("t-0").await.unwrap().unwrap();
    assert_eq!(kept.status, TaskStatus::InProgress);
    assert_eq!(version_of(&store, "wf-1").await, 1, "nothing changed");

    // The same copy changing only t-1 passes, and the wake-up stays at the lease end.
    let mut other_done = other.clone();
    other_done.status = TaskStatus::Completed;
    let mut write = update(workflow("wf-1", "flow"), &d, 1);
    write.tasks = writes(vec![other_done]);
    write.next_wake_at = Some(NOW + 999_000);
    store.commit(one(write)).await.unwrap();
    assert_eq!(store.next_wake_at().await.unwrap(), Some(lease_end));
    assert_eq!(store.due_workflows(lease_end, 10).await.unwrap(), ["wf-1"]);

    // A copy that saw the claim writes t-0 (a heartbeat); its own wake-up now rules.
    let mut seen = out.tasks[0].clone();
    seen.update_time = NOW + 10_000;
    let mut write = update(workflow("wf-1", "flow"), &d, 2);
    write.tasks = writes(vec![seen]);
    write.next_wake_at = Some(NOW + 40_000);
    store.commit(one(write)).await.unwrap();
    assert_eq!(store.next_wake_at().await.unwrap(), Some(NOW + 40_000));
}

/// The input is written at the start and when an update gives it, and kept otherwise;
/// every read (load, get, search, free text) sees it.
pub async fn updates_keep_the_input_unless_they_replace_it(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let mut wf = workflow("wf-1", "flow");
    wf.input
        .insert("files".into(), serde_json::json!(["a.c", "needle.c"]));
    store
        .commit(one(insert(wf.clone(), &d, vec![])))
        .await
        .unwrap();

    let mut kept = update(workflow("wf-1", "flow"), &d, 1); // input left empty
    kept.keep_input = true;
    kept.workflow.status = WorkflowStatus::Paused;
    store.commit(one(kept)).await.unwrap();
    let state = store.load_workflow("wf-1").await.unwrap().unwrap();
    assert_eq!(state.workflow.status, WorkflowStatus::Paused);
    assert_eq!(state.workflow.input, wf.input);
    let got = store.get_workflow("wf-1").await.unwrap().unwrap();
    assert_eq!(got.input, wf.input);
    let q = WorkflowQuery {
        free_text: Some("needle".into()),
        ..Default::default()
    };
    let (n, found) = store.search_workflows(&q).await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(found[0].input, wf.input);

    let mut replaced = update(workflow("wf-1", "flow"), &d, 2);
    replaced
        .workflow
        .input
        .insert("files".into(), serde_json::json!(["b.c"]));
    store.commit(one(replaced)).await.unwrap();
    let got = store.get_workflow("wf-1").await.unwrap().unwrap();
    assert_eq!(got.input.get("files"), Some(&serde_json::json!(["b.c"])));
}

/// API keys (created once, revoked once), the shared server secret (the first candidate
/// wins) and webhook deliveries (the first record wins).
pub async fn keys_secrets_and_deliveries(store: Arc<dyn Store>) {
    let key = baton_store::ApiKey {
        key_id: "k1".into(),
        name: "ci".into(),
        role: "worker".into(),
        secret_hash: "$argon2id$x".into(),
        created_at: NOW,
        revoked_at: None,
        task_types: None,
    };
    store.put_api_key(key.clone()).await.unwrap();
    let scoped = baton_store::ApiKey {
        key_id: "k2".into(),
        task_types: Some(vec!["build".into(), "flash".into()]),
        ..key.clone()
    };
    store.put_api_key(scoped.clone()).await.unwrap();
    assert_eq!(store.get_api_key("k2").await.unwrap(), Some(scoped));
    let again = store.put_api_key(key.clone()).await.unwrap_err();
    assert!(matches!(again, StoreError::AlreadyExists(_)), "{again:?}");
    assert_eq!(store.get_api_key("k1").await.unwrap(), Some(key.clone()));
    assert_eq!(store.get_api_key("nope").await.unwrap(), None);
    assert!(store.revoke_api_key("k1", NOW + 5).await.unwrap());
    assert!(!store.revoke_api_key("k1", NOW + 6).await.unwrap());
    let listed = store.list_api_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].revoked_at, Some(NOW + 5));
    assert_eq!(listed[0].task_types, None);
    assert_eq!(
        listed[1].task_types.as_deref(),
        Some(&["build".to_string(), "flash".to_string()][..])
    );

    let first = store.server_secret("tokens", vec![1, 2, 3]).await.unwrap();
    let second = store.server_secret("tokens", vec![9, 9]).await.unwrap();
    assert_eq!(
        (first.as_slice(), second.as_slice()),
        (&[1u8, 2, 3][..], &[1u8, 2, 3][..])
    );

    let d = baton_store::WebhookDelivery {
        hook: "github".into(),
        delivery_id: "d-1".into(),
        received_at: NOW,
        workflow_ids: vec!["wf-a".into()],
    };
    assert_eq!(
        store.record_webhook_delivery(d.clone()).await.unwrap(),
        None
    );
    let mut replay = d.clone();
    replay.workflow_ids = vec!["wf-b".into()];
    assert_eq!(
        store.record_webhook_delivery(replay).await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(
        store.webhook_delivery("github", "d-1").await.unwrap(),
        Some(d)
    );
    assert_eq!(store.webhook_delivery("github", "d-2").await.unwrap(), None);
}

pub async fn stale_queue_entry_is_dropped(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let mut done = task("wf-1", "t-0", 0, "work");
    done.status = TaskStatus::Completed;
    let live = task("wf-1", "t-1", 1, "work");
    let mut write = insert(
        workflow("wf-1", "flow"),
        &d,
        vec![done.clone(), live.clone()],
    );
    write.queue_push = vec![
        entry(&done, 9, NOW),
        entry(&live, 0, NOW),
        // An entry whose task does not exist at all.
        QueueEntry {
            queue: "work".into(),
            task_id: "ghost".into(),
            workflow_id: "wf-1".into(),
            priority: 9,
            visible_at: NOW,
        },
    ];
    store.commit(one(write)).await.unwrap();
    let out = store.poll(poll_req("work", 1, "w", NOW)).await.unwrap();
    let ids: Vec<&str> = out.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(
        ids,
        ["t-1"],
        "stale entries skipped, the live one still claimed"
    );
    assert_eq!(queue_size(&store, "work").await, 0);
    assert_eq!(
        store.get_task("t-0").await.unwrap().unwrap().status,
        TaskStatus::Completed
    );
}

pub async fn concurrent_pollers_claim_each_task_once(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    for w in 0..50 {
        let wf_id = format!("wf-{w}");
        let tasks = (0..10)
            .map(|i| task(&wf_id, &format!("{wf_id}-t-{i}"), i, "work"))
            .collect();
        store
            .commit(one(insert(workflow(&wf_id, "flow"), &d, tasks)))
            .await
            .unwrap();
    }
    assert_eq!(queue_size(&store, "work").await, 500);

    let mut pollers = Vec::new();
    for p in 0..8 {
        let store = store.clone();
        pollers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let out = store
                    .poll(poll_req("work", 7, &format!("worker-{p}"), NOW))
                    .await
                    .unwrap();
                if out.tasks.is_empty() {
                    break;
                }
                for t in out.tasks {
                    assert_eq!(t.worker_id, Some(format!("worker-{p}")));
                    mine.push(t.task_id);
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    let mut busy_pollers = 0;
    for h in pollers {
        let mine = h.await.unwrap();
        if !mine.is_empty() {
            busy_pollers += 1;
        }
        all.extend(mine);
    }
    assert_eq!(all.len(), 500, "every task claimed exactly once");
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 500);
    assert!(busy_pollers >= 1);
    assert_eq!(queue_size(&store, "work").await, 0);
    for w in 0..50 {
        let state = store
            .load_workflow(&format!("wf-{w}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            state.version, 1,
            "claims leave the workflow's version alone"
        );
        assert!(state
            .tasks
            .iter()
            .all(|t| t.status == TaskStatus::InProgress && t.poll_count == 1));
    }
}

/// `concurrentExecLimit` and rate limits bound what one poll hands out, and say when to
/// look again once they are reached.
pub async fn poll_limits(store: Arc<dyn Store>) {
    let d = Arc::new(def("flow", 1));
    let mut tasks: Vec<Task> = (0..5)
        .map(|i| task("wf-1", &format!("c-{i}"), i, "capped"))
        .collect();
    tasks.extend((0..5).map(|i| task("wf-1", &format!("r-{i}"), 10 + i, "rated")));
    store
        .commit(one(insert(workflow("wf-1", "flow"), &d, tasks)))
        .await
        .unwrap();
    let capped = |now: i64| {
        let mut r = poll_req("capped", 5, "w", now);
        r.limits = baton_store::PollLimits {
            task_def_name: "capped".into(),
            concurrent_exec_limit: Some(2),
            rate_limit: None,
        };
        r
    };
    assert_eq!(store.poll(capped(NOW)).await.unwrap().tasks.len(), 2);
    let out = store.poll(capped(NOW)).await.unwrap();
    assert!(out.tasks.is_empty(), "the limit is reached");
    assert!(out.next_visible_at.is_some_and(|t| t > NOW));
    assert_eq!(queue_size(&store, "capped").await, 3);

    let rated = |now: i64| {
        let mut r = poll_req("rated", 5, "w", now);
        r.limits = baton_store::PollLimits {
            task_def_name: "rated".into(),
            concurrent_exec_limit: None,
            rate_limit: Some((3, 10)),
        };
        r
    };
    assert_eq!(store.poll(rated(NOW)).await.unwrap().tasks.len(), 3);
    let out = store.poll(rated(NOW + 1_000)).await.unwrap();
    assert!(out.tasks.is_empty(), "3 per 10 s");
    assert_eq!(out.next_visible_at, Some(NOW + 10_001));
    // The window has passed: the rest.
    assert_eq!(
        store.poll(rated(NOW + 10_001)).await.unwrap().tasks.len(),
        2
    );
}
