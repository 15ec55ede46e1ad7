//! The database going away under load: a `baton server` on PostgreSQL (through a TCP proxy
//! the test can cut) serves workers completing chains of tasks; the proxy cuts every
//! connection for three seconds and then lets them through again. Meanwhile the server
//! answers 503 with `retryable: true`; afterwards it recovers by itself, every workflow
//! completes, and every task completion it acknowledged with a 200 is in the store.
//! Skipped, saying so, where no PostgreSQL answers (unless BATON_REQUIRE_PG is set).

mod common;

#[path = "../../baton-store/tests/support/pg.rs"]
mod pg;

use common::server::ServerProcess;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKFLOWS: usize = 30;
const CHAIN: usize = 3;
const WORKERS: usize = 3;
const OUTAGE: Duration = Duration::from_secs(3);
const FINISH_DEADLINE: Duration = Duration::from_secs(120);

/// Completions the server acknowledged, and how many answers were 503 + retryable.
#[derive(Default)]
struct Tally {
    acked: Vec<(String, String)>,
    unavailable: usize,
}

async fn worker(
    client: reqwest::Client,
    base: String,
    id: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) {
    while !stop.load(Ordering::SeqCst) {
        let url =
            format!("{base}/api/tasks/poll/batch/outage_task?count=4&timeout=200&workerid=w{id}");
        let tasks = match client.get(&url).send().await {
            Ok(resp) if resp.status().is_success() => {
                resp.json::<Vec<Value>>().await.unwrap_or_default()
            }
            Ok(resp) => {
                note_unavailable(resp, &tally).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(_) => continue,
        };
        for task in tasks {
            let body = json!({
                "workflowInstanceId": task["workflowInstanceId"],
                "taskId": task["taskId"],
                "status": "COMPLETED",
                "outputData": {"n": task["inputData"]["n"].as_i64().unwrap_or(0) + 1},
            });
            // Retried while the server says "retryable"; an attempt never acknowledged times
            // out and is retried by the server.
            for _ in 0..50 {
                match client
                    .post(format!("{base}/api/tasks"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(resp) if resp.status().is_success() => {
                        let workflow = task["workflowInstanceId"].as_str().unwrap_or_default();
                        let task_id = task["taskId"].as_str().unwrap_or_default();
                        tally
                            .lock()
                            .unwrap()
                            .acked
                            .push((workflow.to_string(), task_id.to_string()));
                        break;
                    }
                    Ok(resp) => {
                        if !note_unavailable(resp, &tally).await {
                            break;
                        }
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Counts a 503 that says `retryable: true`; answers whether it was one.
async fn note_unavailable(resp: reqwest::Response, tally: &Mutex<Tally>) -> bool {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let retryable = status == reqwest::StatusCode::SERVICE_UNAVAILABLE && body["retryable"] == true;
    if retryable {
        tally.lock().unwrap().unavailable += 1;
    }
    retryable
}

/// The workflow `id` with its tasks.
async fn read_workflow(client: &reqwest::Client, base: &str, id: &str) -> Value {
    client
        .get(format!("{base}/api/workflow/{id}?includeTasks=true"))
        .send()
        .await
        .expect("get workflow")
        .json()
        .await
        .expect("workflow JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_under_load_loses_no_acknowledged_update() {
    let Some(db) = pg::PgDb::create("outage").await else {
        return;
    };
    let Some((proxy, url)) = pg::Proxy::in_front_of(&db).await else {
        eprintln!("SKIPPED: the PostgreSQL server is not reached over TCP");
        return;
    };
    let target = proxy.target;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start_on(&url, &dir.path().join("server.log")).await;
    let base = server.base();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("http client");

    let defs = client
        .post(format!("{base}/api/metadata/taskdefs"))
        .json(
            &json!([{"name": "outage_task", "retryCount": 5, "retryDelaySeconds": 0,
                       "responseTimeoutSeconds": 3, "ownerEmail": "o@example.com"}]),
        )
        .send()
        .await
        .expect("register taskdef");
    assert!(defs.status().is_success());
    let tasks: Vec<Value> = (1..=CHAIN)
        .map(|i| {
            let n = if i == 1 {
                "${workflow.input.n}".to_string()
            } else {
                format!("${{t{}.output.n}}", i - 1)
            };
            json!({"name": "outage_task", "taskReferenceName": format!("t{i}"),
                   "type": "SIMPLE", "inputParameters": {"n": n}})
        })
        .collect();
    let wf = client
        .post(format!("{base}/api/metadata/workflow"))
        .json(
            &json!({"name": "outage_chain", "version": 1, "tasks": tasks,
                      "ownerEmail": "o@example.com",
                      "outputParameters": {"n": format!("${{t{CHAIN}.output.n}}")}}),
        )
        .send()
        .await
        .expect("register workflow");
    assert!(wf.status().is_success());
    let mut ids = Vec::new();
    for i in 0..WORKFLOWS {
        let resp = client
            .post(format!("{base}/api/workflow/outage_chain"))
            .json(&json!({"n": i * 100}))
            .send()
            .await
            .expect("start");
        assert!(resp.status().is_success());
        ids.push(resp.text().await.expect("id").trim_matches('"').to_string());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            tokio::spawn(worker(
                client.clone(),
                base.clone(),
                i,
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();

    // Mid-load (a third of the tasks acknowledged), the database goes away.
    let deadline = Instant::now() + FINISH_DEADLINE;
    while tally.lock().unwrap().acked.len() < WORKFLOWS * CHAIN / 3 {
        assert!(Instant::now() < deadline, "the load never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let port = proxy.cut().await;
    let cut_at = Instant::now();
    let reads = AtomicUsize::new(0);
    let mut saw_503 = false;
    while cut_at.elapsed() < OUTAGE {
        let resp = client
            .get(format!(
                "{base}/api/workflow/{}",
                ids[reads.fetch_add(1, Ordering::Relaxed) % ids.len()]
            ))
            .send()
            .await
            .expect("the server answers while the database is away");
        if resp.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            let body: Value = resp.json().await.expect("JSON error");
            assert_eq!(body["retryable"], true, "{body}");
            saw_503 = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_503, "no 503 while the database was away");
    let _proxy = pg::Proxy::start(port, target).await;

    // The server recovers by itself: every workflow completes.
    let mut pending: HashSet<String> = ids.iter().cloned().collect();
    while !pending.is_empty() && Instant::now() < deadline {
        let mut ended = Vec::new();
        for id in &pending {
            if let Ok(resp) = client
                .get(format!("{base}/api/workflow/{id}?includeTasks=false"))
                .send()
                .await
            {
                if let Ok(wf) = resp.json::<Value>().await {
                    if wf["status"].as_str().is_some_and(|s| s != "RUNNING") {
                        ended.push(id.clone());
                    }
                }
            }
        }
        for id in ended {
            pending.remove(&id);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.expect("worker");
    }
    assert!(
        pending.is_empty(),
        "{} workflows never ended\n{}",
        pending.len(),
        server.log_tail()
    );

    // Every acknowledged completion is stored.
    let (acked, unavailable) = {
        let tally = tally.lock().unwrap();
        (tally.acked.clone(), tally.unavailable)
    };
    let mut stored = HashSet::new();
    for id in &ids {
        let wf = read_workflow(&client, &base, id).await;
        assert_eq!(wf["status"], "COMPLETED", "{wf}");
        for t in wf["tasks"].as_array().into_iter().flatten() {
            if t["status"] == "COMPLETED" {
                stored.insert(t["taskId"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    let lost: Vec<&(String, String)> = acked
        .iter()
        .filter(|(_, task)| !stored.contains(task))
        .collect();
    // An acknowledgement of an attempt the server had already timed out is "stale" (200,
    // nothing changed, ADR 3); every other one must be stored.
    for (workflow, task) in &lost {
        let wf = read_workflow(&client, &base, workflow).await;
        let status = wf["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["taskId"] == task.as_str())
            .map(|t| t["status"].clone());
        assert_eq!(
            status,
            Some(json!("TIMED_OUT")),
            "acknowledged completion of {task} in {workflow} was lost"
        );
    }
    eprintln!(
        "outage: {} completions acknowledged, {} answered 503 retryable, {} stale",
        acked.len(),
        unavailable,
        lost.len()
    );
}
