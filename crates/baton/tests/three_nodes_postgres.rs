//! Three `baton server` processes on one PostgreSQL database run workflows together, and one
//! of them is SIGKILLed in the middle and restarted. Starts and workers are spread across
//! the nodes (each task is polled from one node and completed through the next); every
//! workflow completes with the right output, no task attempt is handed out or completed
//! twice, and every attempt's history is whole. Before the load, a long poll on one node
//! is woken by a task started through another, well before its timeout.
//! Skipped, saying so, where no PostgreSQL answers (unless BATON_REQUIRE_PG is set).

mod common;

#[path = "../../baton-store/tests/support/pg.rs"]
mod pg;

use common::server::ServerProcess;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NODES: usize = 3;
const WORKFLOWS: i64 = 60;
const CHAIN: usize = 4;
const WORKERS: usize = 6;
const FINISH_DEADLINE: Duration = Duration::from_secs(150);

async fn ok(resp: Result<reqwest::Response, reqwest::Error>, what: &str) -> String {
    let resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{what}: HTTP {status}: {text}");
    text
}

/// What the workers saw: every task handed to them, and every completion a node accepted.
#[derive(Default)]
struct Seen {
    handed: Vec<String>,
    completed: Vec<String>,
}

/// Polls one node and completes through the next (or, while that one is down, another);
/// a node that does not answer is skipped. A completion no node accepted is dropped: the
/// attempt then times out and is retried, as with a worker that died.
async fn worker(
    client: reqwest::Client,
    nodes: Vec<String>,
    id: usize,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let mut turn = id;
    while !stop.load(Ordering::SeqCst) {
        turn += 1;
        let poll_node = &nodes[turn % NODES];
        let url = format!(
            "{poll_node}/api/tasks/poll/batch/three_task?count=4&timeout=200&workerid=w{id}"
        );
        let tasks = match client.get(&url).send().await {
            Ok(resp) if resp.status().is_success() => {
                resp.json::<Vec<Value>>().await.unwrap_or_default()
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        for task in tasks {
            let task_id = task["taskId"].as_str().unwrap_or_default().to_string();
            seen.lock().unwrap().handed.push(task_id.clone());
            let n = task["inputData"]["n"].as_i64().unwrap_or(-1_000_000);
            let body = json!({
                "workflowInstanceId": task["workflowInstanceId"],
                "taskId": task_id,
                "status": "COMPLETED",
                "outputData": {"n": n + 1},
                "workerId": format!("w{id}"),
            });
            for k in 1..=NODES {
                let node = &nodes[(turn + k) % NODES];
                let sent = client
                    .post(format!("{node}/api/tasks"))
                    .json(&body)
                    .send()
                    .await;
                if let Ok(resp) = sent {
                    if resp.status().is_success() {
                        seen.lock().unwrap().completed.push(task_id.clone());
                        break;
                    }
                }
            }
        }
    }
}

async fn register(client: &reqwest::Client, base: &str) {
    // Short response timeout: an attempt whose poll answer or completion died with a node
    // is timed out and retried within seconds.
    ok(
        client
            .post(format!("{base}/api/metadata/taskdefs"))
            .json(
                &json!([{"name": "three_task", "retryCount": 5, "retryDelaySeconds": 0,
                           "responseTimeoutSeconds": 3, "ownerEmail": "three@example.com"}]),
            )
            .send()
            .await,
        "register taskdef",
    )
    .await;
    let tasks: Vec<Value> = (1..=CHAIN)
        .map(|i| {
            let input = if i == 1 {
                "${workflow.input.n}".to_string()
            } else {
                format!("${{t{}.output.n}}", i - 1)
            };
            json!({"name": "three_task", "taskReferenceName": format!("t{i}"), "type": "SIMPLE",
                   "inputParameters": {"n": input}})
        })
        .collect();
    ok(
        client
            .post(format!("{base}/api/metadata/workflow"))
            .json(
                &json!({"name": "three_chain", "version": 1, "schemaVersion": 2,
                          "ownerEmail": "three@example.com", "tasks": tasks,
                          "outputParameters": {"n": format!("${{t{CHAIN}.output.n}}")}}),
            )
            .send()
            .await,
        "register workflow",
    )
    .await;
}

async fn start(client: &reqwest::Client, base: &str, n: i64) -> String {
    let id = ok(
        client
            .post(format!("{base}/api/workflow/three_chain"))
            .json(&json!({"n": n}))
            .send()
            .await,
        "start workflow",
    )
    .await;
    id.trim().trim_matches('"').to_string()
}

async fn get_json(client: &reqwest::Client, url: String, what: &str) -> Value {
    serde_json::from_str(&ok(client.get(url).send().await, what).await).expect("JSON")
}

/// A long poll on node C (5 s, the most HTTP allows) answers with a task started through
/// node A well before its timeout: node A's commit woke it.
async fn long_poll_wakes_across_nodes(client: &reqwest::Client, nodes: &[String]) {
    let url = format!(
        "{}/api/tasks/poll/batch/three_task?count=1&timeout=5000&workerid=probe",
        nodes[2]
    );
    let poll = tokio::spawn({
        let client = client.clone();
        async move {
            let asked = Instant::now();
            let tasks: Vec<Value> = client
                .get(url)
                .send()
                .await
                .expect("poll")
                .json()
                .await
                .expect("poll answer");
            (tasks, asked.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = start(client, &nodes[0], 0).await;
    let (tasks, waited) = poll.await.expect("poll task");
    assert_eq!(tasks.len(), 1, "the long poll on node C got {tasks:?}");
    assert_eq!(tasks[0]["workflowInstanceId"], id.as_str());
    assert!(
        waited < Duration::from_millis(2500),
        "node C's 5 s poll answered after {waited:?}: not woken by node A's commit"
    );
    // End the probe's workflow through node B, so it does not disturb the load below.
    ok(
        client
            .delete(format!("{}/api/workflow/{id}?reason=probe", nodes[1]))
            .send()
            .await,
        "terminate probe",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_survive_one_killed_and_hand_each_attempt_out_once() {
    let Some(db) = pg::PgDb::create("three_nodes").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let mut servers = Vec::new();
    for i in 0..NODES {
        let log = dir.path().join(format!("node-{i}.log"));
        servers.push(ServerProcess::start_on(&db.url, &log).await);
    }
    let nodes: Vec<String> = servers.iter().map(ServerProcess::base).collect();
    let logs = |servers: &[ServerProcess]| {
        servers
            .iter()
            .enumerate()
            .map(|(i, s)| format!("node {i}:\n{}", s.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Definitions through node A; the others read them from the shared database.
    register(&client, &nodes[0]).await;
    long_poll_wakes_across_nodes(&client, &nodes).await;

    // Starts rotate over the nodes.
    let mut expected = BTreeMap::new();
    for i in 0..WORKFLOWS {
        let id = start(&client, &nodes[i as usize % NODES], i * 10).await;
        expected.insert(id, i * 10 + CHAIN as i64);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            tokio::spawn(worker(
                client.clone(),
                nodes.clone(),
                i,
                stop.clone(),
                seen.clone(),
            ))
        })
        .collect();

    // Wait until every workflow has ended, reading through the nodes in turn; once a third
    // of the tasks are done, SIGKILL node B and start it again on the same port.
    let started = Instant::now();
    let mut pending: HashSet<String> = expected.keys().cloned().collect();
    let mut killed = false;
    let reads = AtomicUsize::new(0);
    while !pending.is_empty() && started.elapsed() < FINISH_DEADLINE {
        if !killed && seen.lock().unwrap().completed.len() >= (WORKFLOWS as usize * CHAIN) / 3 {
            servers[1].kill9();
            tokio::time::sleep(Duration::from_millis(500)).await;
            servers[1].restart().await;
            killed = true;
        }
        let mut ended = Vec::new();
        for id in &pending {
            let node = &nodes[reads.fetch_add(1, Ordering::Relaxed) % NODES];
            let url = format!("{node}/api/workflow/{id}?includeTasks=false");
            if let Ok(resp) = client.get(&url).send().await {
                if let Ok(wf) = resp.json::<Value>().await {
                    if !matches!(wf["status"].as_str(), Some("RUNNING") | Some("PAUSED")) {
                        ended.push(id.clone());
                    }
                }
            }
        }
        for id in ended {
            pending.remove(&id);
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.expect("worker");
    }
    assert!(killed, "the load ended before node B was killed");
    assert!(
        pending.is_empty(),
        "{} workflows did not finish\n{}",
        pending.len(),
        logs(&servers)
    );

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let handed: HashSet<&String> = seen.handed.iter().collect();
    assert_eq!(
        handed.len(),
        seen.handed.len(),
        "an attempt was handed out twice"
    );
    let completed: HashSet<&String> = seen.completed.iter().collect();
    assert_eq!(
        completed.len(),
        seen.completed.len(),
        "an attempt was completed twice"
    );
    for (id, want) in &expected {
        let wf = get_json(
            &client,
            format!("{}/api/workflow/{id}?includeTasks=true", nodes[1]),
            "get workflow",
        )
        .await;
        assert_eq!(wf["status"], "COMPLETED", "workflow {id}: {wf}");
        assert_eq!(wf["output"], json!({"n": want}), "workflow {id}");
        let history = get_json(
            &client,
            format!("{}/api/workflow/{id}/history", nodes[2]),
            "history",
        )
        .await;
        let events = history.as_array().cloned().unwrap_or_default();
        let count = |task_id: &str, status: &str| {
            events
                .iter()
                .filter(|e| e["taskId"] == task_id && e["status"] == status)
                .count()
        };
        // Every attempt: scheduled once; claimed at most once; a completed one was claimed
        // once and completed once, in that order of its history.
        let attempts = wf["tasks"].as_array().cloned().unwrap_or_default();
        assert!(attempts.len() >= CHAIN, "workflow {id}: {attempts:?}");
        for t in &attempts {
            let task_id = t["taskId"].as_str().unwrap_or_default();
            assert_eq!(
                count(task_id, "SCHEDULED"),
                1,
                "workflow {id} task {task_id}"
            );
            assert!(
                count(task_id, "IN_PROGRESS") <= 1,
                "workflow {id} task {task_id}"
            );
            if t["status"] == "COMPLETED" {
                assert_eq!(
                    count(task_id, "IN_PROGRESS"),
                    1,
                    "workflow {id} task {task_id}"
                );
                assert_eq!(
                    count(task_id, "COMPLETED"),
                    1,
                    "workflow {id} task {task_id}"
                );
                assert!(
                    handed.contains(&task_id.to_string()),
                    "workflow {id}: task {task_id} completed but never handed to a worker"
                );
            } else {
                assert_eq!(
                    count(task_id, "COMPLETED"),
                    0,
                    "workflow {id} task {task_id}"
                );
            }
        }
        let done = attempts
            .iter()
            .filter(|t| t["status"] == "COMPLETED")
            .count();
        assert_eq!(done, CHAIN, "workflow {id}: {attempts:?}");
    }
    eprintln!(
        "three nodes: {} workflows, {} attempts handed out, {} completed, in {:?}",
        expected.len(),
        seen.handed.len(),
        seen.completed.len(),
        started.elapsed()
    );
}
