//! Script bombs cannot take the server down (issue 9, defects 1 and 7).
//!
//! A real `baton server` runs under an address-space limit (so a regression fails this test
//! instead of exhausting the machine) and is fed jq and JavaScript that allocate without bound
//! or spin inside a native built-in. Each workflow must FAIL with a reason naming the limit, a
//! retried task must fail again the same way, the server must stay up and keep completing
//! normal workflows, and stopping it must leave no sandbox worker behind.

mod common;

use rustix::process::{prlimit, Pid, Resource, Rlimit};
use serde_json::{json, Value};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Address space the server process may use: far above what it needs (workers are separate
/// processes), far below what the bombs would take without the sandbox.
const SERVER_ADDRESS_SPACE: u64 = 3 * 1024 * 1024 * 1024;
const MEMORY_LIMIT_MESSAGE: &str = "script exceeded its memory limit of 33554432 bytes";
const TIME_LIMIT_MESSAGE: &str = "script exceeded its time limit of 4s";
const HEALTH_DEADLINE: Duration = Duration::from_secs(20);
const WORKFLOW_DEADLINE: Duration = Duration::from_secs(60);
const EXIT_DEADLINE: Duration = Duration::from_secs(20);
const POLL_PAUSE: Duration = Duration::from_millis(100);

/// The server child; dropping it SIGKILLs the process so none outlives the test.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = common::free_port();
        let log = dir.join("server.log");
        let out = File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("server")
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .args(["--db", &format!("sqlite://{}", dir.join("s.db").display())])
            .args(["--script-workers", "2"])
            .env_remove("BATON_SCRIPT_TIMEOUT_MS")
            .env_remove("BATON_SCRIPT_MEMORY_MB")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("spawn baton server");
        // Applied right after the start, before any script runs; sandbox workers inherit it.
        let limit = Rlimit {
            current: Some(SERVER_ADDRESS_SPACE),
            maximum: Some(SERVER_ADDRESS_SPACE),
        };
        prlimit(Some(Pid::from_child(&child)), Resource::As, limit)
            .expect("limit the server's address space");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn pid(&self) -> i32 {
        Pid::from_child(&self.child).as_raw_pid()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log_tail(&self) -> String {
        common::log_tail(&self.log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn healthy(client: &reqwest::Client, base: &str) -> bool {
    match client.get(format!("{base}/health")).send().await {
        Ok(resp) if resp.status().is_success() => resp
            .json::<Value>()
            .await
            .is_ok_and(|body| body["healthy"] == json!(true)),
        _ => false,
    }
}

async fn send(req: reqwest::RequestBuilder, what: &str) -> String {
    let resp = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{what}: HTTP {status}: {text}");
    text
}

async fn start_workflow(client: &reqwest::Client, base: &str, name: &str) -> String {
    let id = send(
        client
            .post(format!("{base}/api/workflow/{name}"))
            .json(&json!({})),
        &format!("start {name}"),
    )
    .await;
    id.trim().trim_matches('"').to_string()
}

/// Polls the workflow until it is no longer RUNNING; returns it (with its tasks).
async fn finished(server: &mut Server, client: &reqwest::Client, id: &str) -> Value {
    let started = Instant::now();
    while started.elapsed() < WORKFLOW_DEADLINE {
        assert!(
            server.alive(),
            "the server died while running {id}:\n{}",
            server.log_tail()
        );
        let url = format!("{}/api/workflow/{id}?includeTasks=true", server.base);
        if let Ok(resp) = client.get(&url).send().await {
            if let Ok(workflow) = resp.json::<Value>().await {
                if workflow["status"] != json!("RUNNING") && workflow["status"].is_string() {
                    return workflow;
                }
            }
        }
        tokio::time::sleep(POLL_PAUSE).await;
    }
    panic!(
        "workflow {id} still running after {WORKFLOW_DEADLINE:?}:\n{}",
        server.log_tail()
    );
}

fn assert_failed_naming(workflow: &Value, message: &str) {
    assert_eq!(workflow["status"], json!("FAILED"), "{workflow:#}");
    let reason = workflow["reasonForIncompletion"].as_str().unwrap_or("");
    assert!(
        reason.contains(message),
        "reason {reason:?} lacks {message:?}"
    );
}

/// Pids of the server's children running as script workers.
fn script_workers_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the parenthesised command name: state, ppid, ...
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok());
            ppid == Some(parent) && is_running_worker(*pid)
        })
        .collect()
}

/// Whether `pid` is a live (not zombie) process running `__script-worker`.
fn is_running_worker(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let is_worker = String::from_utf8_lossy(&cmdline).contains("__script-worker");
    is_worker && !matches!(state, None | Some("Z") | Some("X"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_bombs_fail_their_task_and_the_server_survives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let mut server = Server::start(dir.path());
    let base = server.base.clone();
    let started = Instant::now();
    while !healthy(&client, &base).await {
        assert!(
            server.alive() && started.elapsed() < HEALTH_DEADLINE,
            "server not healthy:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(POLL_PAUSE).await;
    }

    // ----- definitions -----
    let taskdefs = json!([
        {"name": "sb_simple", "retryCount": 0, "responseTimeoutSeconds": 60,
         "ownerEmail": "sandbox@example.com"},
        {"name": "sb_jq_bomb", "retryCount": 1, "retryLogic": "FIXED", "retryDelaySeconds": 0,
         "ownerEmail": "sandbox@example.com"},
    ]);
    send(
        client
            .post(format!("{base}/api/metadata/taskdefs"))
            .json(&taskdefs),
        "register taskdefs",
    )
    .await;
    let workflow = |name: &str, tasks: Value| {
        json!({
            "name": name, "version": 1, "schemaVersion": 2,
            "ownerEmail": "sandbox@example.com", "tasks": tasks,
        })
    };
    let jq = |name: &str, query: &str| {
        json!({"name": name, "taskReferenceName": name, "type": "JSON_JQ_TRANSFORM",
               "inputParameters": {"queryExpression": query}})
    };
    let definitions = json!([
        workflow(
            "sb_doubling",
            json!([
                {"name": "sb_simple", "taskReferenceName": "simple", "type": "SIMPLE"},
                jq("sb_jq_bomb", r#"reduce range(40) as $i ("x"; . + .) | length"#),
            ])
        ),
        workflow("sb_repeat", json!([jq("sb_repeat", r#""x" * 1000000000"#)])),
        workflow(
            "sb_stringify",
            json!([{
                "name": "sb_stringify", "taskReferenceName": "sb_stringify", "type": "INLINE",
                "inputParameters": {"evaluatorType": "javascript", "expression":
                    "var o = {}; for (var i = 0; i < 25; i++) o = {a: o, b: o}; JSON.stringify(o).length"},
            }])
        ),
        workflow(
            "sb_normal",
            json!([
                jq("sb_normal_jq", "[1, 2, 3] | map(. * 2) | add"),
                {"name": "sb_normal_js", "taskReferenceName": "sb_normal_js", "type": "INLINE",
                 "inputParameters": {"evaluatorType": "javascript", "n": "${sb_normal_jq.output.result}",
                                     "expression": "$.n + 1"}},
                {"name": "sb_switch", "taskReferenceName": "sb_switch", "type": "SWITCH",
                 "evaluatorType": "javascript", "expression": "$.n > 100 ? 'big' : 'small'",
                 "inputParameters": {"n": "${sb_normal_js.output.result}"},
                 "decisionCases": {"big": [jq("sb_big", "\"big\"")]},
                 "defaultCase": [jq("sb_small", "\"small\"")]},
            ])
        ),
    ]);
    for definition in definitions.as_array().into_iter().flatten() {
        send(
            client
                .post(format!("{base}/api/metadata/workflow?overwrite=true"))
                .json(definition),
            "register workflow",
        )
        .await;
    }

    // ----- jq string doubling after a SIMPLE task, retried once -----
    let doubling = start_workflow(&client, &base, "sb_doubling").await;
    let poll_started = Instant::now();
    let task = loop {
        let resp = client
            .get(format!(
                "{base}/api/tasks/poll/sb_simple?workerid=sandbox-test"
            ))
            .send()
            .await;
        if let Ok(resp) = resp {
            if let Ok(task) = resp.json::<Value>().await {
                if task["taskId"].is_string() {
                    break task;
                }
            }
        }
        assert!(
            poll_started.elapsed() < WORKFLOW_DEADLINE,
            "no sb_simple task to poll"
        );
        tokio::time::sleep(POLL_PAUSE).await;
    };
    send(
        client.post(format!("{base}/api/tasks")).json(&json!({
            "workflowInstanceId": doubling,
            "taskId": task["taskId"],
            "status": "COMPLETED",
            "workerId": "sandbox-test",
            "outputData": {},
        })),
        "complete sb_simple",
    )
    .await;
    let wf = finished(&mut server, &client, &doubling).await;
    assert_failed_naming(&wf, MEMORY_LIMIT_MESSAGE);
    let attempts: Vec<&Value> = wf["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["referenceTaskName"] == json!("sb_jq_bomb"))
        .collect();
    assert_eq!(attempts.len(), 2, "one attempt and one retry: {wf:#}");
    for attempt in attempts {
        assert_eq!(attempt["status"], json!("FAILED"), "{attempt:#}");
        let reason = attempt["reasonForIncompletion"].as_str().unwrap_or("");
        assert!(reason.contains(MEMORY_LIMIT_MESSAGE), "{reason:?}");
    }

    // ----- a gigabyte string at once, and the JSON.stringify DAG -----
    let repeat = start_workflow(&client, &base, "sb_repeat").await;
    let stringify = start_workflow(&client, &base, "sb_stringify").await;
    assert_failed_naming(
        &finished(&mut server, &client, &repeat).await,
        MEMORY_LIMIT_MESSAGE,
    );
    let wf = finished(&mut server, &client, &stringify).await;
    let reason = wf["reasonForIncompletion"].as_str().unwrap_or("");
    assert!(
        reason.contains(TIME_LIMIT_MESSAGE) || reason.contains(MEMORY_LIMIT_MESSAGE),
        "{wf:#}"
    );
    assert!(wf["status"] == json!("FAILED"), "{wf:#}");
    eprintln!("JSON.stringify DAG: {reason}");

    // ----- the server still serves, and normal scripts still work -----
    assert!(server.alive(), "server died:\n{}", server.log_tail());
    assert!(healthy(&client, &base).await, "unhealthy after the bombs");
    let normal = start_workflow(&client, &base, "sb_normal").await;
    let wf = finished(&mut server, &client, &normal).await;
    assert_eq!(wf["status"], json!("COMPLETED"), "{wf:#}");
    let small = wf["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["referenceTaskName"] == json!("sb_small"));
    assert_eq!(
        small.map(|t| &t["outputData"]["result"]),
        Some(&json!("small")),
        "{wf:#}"
    );

    // ----- stopping the server leaves no worker behind -----
    let workers = script_workers_of(server.pid());
    assert!(
        !workers.is_empty(),
        "no script worker found under the server"
    );
    rustix::process::kill_process(
        Pid::from_child(&server.child),
        rustix::process::Signal::TERM,
    )
    .expect("SIGTERM the server");
    let stopping = Instant::now();
    while server.alive() {
        assert!(
            stopping.elapsed() < EXIT_DEADLINE,
            "server ignored SIGTERM:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(POLL_PAUSE).await;
    }
    let stopped = Instant::now();
    loop {
        let left: Vec<i32> = workers
            .iter()
            .copied()
            .filter(|pid| is_running_worker(*pid))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            stopped.elapsed() < EXIT_DEADLINE,
            "script workers {left:?} outlived the server"
        );
        tokio::time::sleep(POLL_PAUSE).await;
    }
}
