//! Two `baton server` processes on one PostgreSQL database run workflows together: starts
//! and workers are spread across both nodes (each task is polled from one node and
//! completed through the other), every workflow completes, and no task attempt is handed
//! to two workers.

mod common;

#[path = "../../baton-store/tests/support/pg.rs"]
mod pg;

use common::{free_port, log_tail, KillOnDrop};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKFLOWS: i64 = 40;
const CHAIN: usize = 4;
const WORKERS: usize = 4;
const FINISH_DEADLINE: Duration = Duration::from_secs(120);

struct Node {
    base: String,
    log: PathBuf,
    _child: KillOnDrop,
}

async fn start_node(db: &str, dir: &std::path::Path, name: &str, client: &reqwest::Client) -> Node {
    let log = dir.join(format!("{name}.log"));
    for _ in 0..5 {
        let port = free_port();
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--db", db])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("spawn baton server");
        let mut child = KillOnDrop(child);
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = child.0.try_wait() {
                break; // exited (the port was taken?): try another port
            }
            if let Ok(resp) = client.get(format!("{base}/health")).send().await {
                if resp.status().is_success() {
                    return Node {
                        base,
                        log,
                        _child: child,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("{name} never became healthy:\n{}", log_tail(&log));
}

async fn ok(resp: Result<reqwest::Response, reqwest::Error>, what: &str) -> String {
    let resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{what}: HTTP {status}: {text}");
    text
}

/// Polls one node, completes through the other; records every task it was handed.
async fn worker(
    client: reqwest::Client,
    nodes: Vec<String>,
    id: usize,
    stop: Arc<AtomicBool>,
    handed: Arc<Mutex<Vec<String>>>,
) {
    let mut turn = id;
    while !stop.load(Ordering::SeqCst) {
        turn += 1;
        let poll_node = &nodes[turn % 2];
        let update_node = &nodes[(turn + 1) % 2];
        let url =
            format!("{poll_node}/api/tasks/poll/batch/two_task?count=4&timeout=100&workerid=w{id}");
        let tasks = match client.get(&url).send().await {
            Ok(resp) if resp.status().is_success() => {
                resp.json::<Vec<Value>>().await.unwrap_or_default()
            }
            _ => continue,
        };
        for task in tasks {
            let task_id = task["taskId"].as_str().unwrap_or_default().to_string();
            handed.lock().unwrap().push(task_id.clone());
            let n = task["inputData"]["n"].as_i64().unwrap_or(-1_000_000);
            let body = json!({
                "workflowInstanceId": task["workflowInstanceId"],
                "taskId": task_id,
                "status": "COMPLETED",
                "outputData": {"n": n + 1},
                "workerId": format!("w{id}"),
            });
            ok(
                client
                    .post(format!("{update_node}/api/tasks"))
                    .json(&body)
                    .send()
                    .await,
                "update task",
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_hand_each_task_out_once() {
    let Some(db) = pg::PgDb::create("two_nodes").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let a = start_node(&db.url, dir.path(), "node-a", &client).await;
    let b = start_node(&db.url, dir.path(), "node-b", &client).await;
    let nodes = vec![a.base.clone(), b.base.clone()];

    // Definitions through node A; node B reads them from the shared database.
    ok(
        client
            .post(format!("{}/api/metadata/taskdefs", a.base))
            .json(
                &json!([{"name": "two_task", "retryCount": 2, "responseTimeoutSeconds": 30,
                           "ownerEmail": "two@example.com"}]),
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
            json!({"name": "two_task", "taskReferenceName": format!("t{i}"), "type": "SIMPLE",
                   "inputParameters": {"n": input}})
        })
        .collect();
    ok(
        client
            .post(format!("{}/api/metadata/workflow", a.base))
            .json(
                &json!({"name": "two_chain", "version": 1, "schemaVersion": 2,
                          "ownerEmail": "two@example.com", "tasks": tasks,
                          "outputParameters": {"n": format!("${{t{CHAIN}.output.n}}")}}),
            )
            .send()
            .await,
        "register workflow",
    )
    .await;

    // Starts alternate between the nodes.
    let mut expected = BTreeMap::new();
    for i in 0..WORKFLOWS {
        let node = &nodes[i as usize % 2];
        let id = ok(
            client
                .post(format!("{node}/api/workflow/two_chain"))
                .json(&json!({"n": i * 10}))
                .send()
                .await,
            "start workflow",
        )
        .await;
        expected.insert(
            id.trim().trim_matches('"').to_string(),
            i * 10 + CHAIN as i64,
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    let handed = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            tokio::spawn(worker(
                client.clone(),
                nodes.clone(),
                i,
                stop.clone(),
                handed.clone(),
            ))
        })
        .collect();

    // Wait until every workflow has ended (read through either node).
    let started = Instant::now();
    let mut pending: HashSet<String> = expected.keys().cloned().collect();
    while !pending.is_empty() && started.elapsed() < FINISH_DEADLINE {
        let mut ended = Vec::new();
        for (i, id) in pending.iter().enumerate() {
            let url = format!("{}/api/workflow/{id}?includeTasks=false", nodes[i % 2]);
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
    assert!(
        pending.is_empty(),
        "{} workflows did not finish\nnode A:\n{}\nnode B:\n{}",
        pending.len(),
        log_tail(&a.log),
        log_tail(&b.log)
    );

    let handed = handed.lock().unwrap().clone();
    let unique: HashSet<&String> = handed.iter().collect();
    assert_eq!(unique.len(), handed.len(), "a task was handed out twice");
    for (id, want) in &expected {
        let wf: Value = serde_json::from_str(
            &ok(
                client
                    .get(format!("{}/api/workflow/{id}?includeTasks=true", b.base))
                    .send()
                    .await,
                "get workflow",
            )
            .await,
        )
        .expect("workflow JSON");
        assert_eq!(wf["status"], "COMPLETED", "workflow {id}: {wf}");
        assert_eq!(wf["output"], json!({"n": want}), "workflow {id}");
        let history: Vec<Value> = serde_json::from_str(
            &ok(
                client
                    .get(format!("{}/api/workflow/{id}/history", a.base))
                    .send()
                    .await,
                "history",
            )
            .await,
        )
        .expect("history JSON");
        let mut claims: BTreeMap<String, usize> = BTreeMap::new();
        for e in history.iter().filter(|e| e["status"] == "IN_PROGRESS") {
            *claims
                .entry(e["taskId"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
        assert_eq!(claims.len(), CHAIN, "workflow {id}: {claims:?}");
        assert!(
            claims.values().all(|n| *n == 1),
            "workflow {id}: {claims:?}"
        );
    }
    eprintln!(
        "two nodes: {} workflows, {} tasks handed out, in {:?}",
        expected.len(),
        handed.len(),
        started.elapsed()
    );
}
