//! `baton migrate` with real stores and processes: a SQLite database written by a real
//! server (finished workflows, running ones with a task queued and one claimed, definitions,
//! a schedule and an event handler) is moved into PostgreSQL; a server on PostgreSQL then
//! completes the running workflows. A second run changes nothing, an interrupted run
//! (`--limit`) resumes, a target that progressed is not overwritten, and the way back
//! (PostgreSQL to SQLite) copies everything too.

mod common;

#[path = "../../baton-store/tests/support/pg.rs"]
mod pg;

use common::api::{get, post, start, wait_ended};
use common::server::ServerProcess;
use common::{free_port, log_tail, KillOnDrop};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WF: &str = "migrate_chain";

fn migrate(from: &str, to: &str, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["migrate", "--from", from, "--to", to])
        .args(extra)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .expect("run baton migrate");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "baton migrate failed:\n{stderr}");
    stderr
}

/// The line of a migrate report that starts with `what:`.
fn line<'a>(report: &'a str, what: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(&format!("{what}:")))
        .unwrap_or_else(|| panic!("no `{what}` line in:\n{report}"))
}

async fn serve_db(db: &str, dir: &Path) -> (String, KillOnDrop) {
    let client = reqwest::Client::new();
    let log = dir.join("pg-server.log");
    for _ in 0..5 {
        let port = free_port();
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--db", db])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("spawn baton server");
        let mut child = KillOnDrop(child);
        let base = format!("http://127.0.0.1:{port}");
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = child.0.try_wait() {
                break;
            }
            if let Ok(r) = client.get(format!("{base}/health")).send().await {
                if r.status().is_success() {
                    return (base, child);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("server on {db} never healthy:\n{}", log_tail(&log));
}

/// Polls one task of `task_type` (waiting up to 5 s).
async fn poll(base: &str, task_type: &str) -> Option<Value> {
    let client = reqwest::Client::new();
    let resp = client
        .get(format!(
            "{base}/api/tasks/poll/{task_type}?workerid=t&timeout=5000"
        ))
        .send()
        .await
        .expect("poll");
    if resp.status() == reqwest::StatusCode::NO_CONTENT {
        return None;
    }
    let text = resp.text().await.unwrap_or_default();
    serde_json::from_str(&text)
        .ok()
        .filter(|v: &Value| v.is_object())
}

async fn complete(base: &str, task: &Value) {
    post(
        base,
        "/api/tasks",
        json!({
            "workflowInstanceId": task["workflowInstanceId"],
            "taskId": task["taskId"],
            "status": "COMPLETED",
            "outputData": {"by": "test"},
        }),
    )
    .await;
}

/// Works the `step_*` queues until `ids` have all ended.
async fn drive(base: &str, ids: &[String]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut worked = false;
        for t in ["step_a", "step_b"] {
            while let Some(task) = poll(base, t).await {
                complete(base, &task).await;
                worked = true;
            }
        }
        let mut open = 0;
        for id in ids {
            let wf = get(base, &format!("/api/workflow/{id}")).await;
            if wf["status"] == "RUNNING" {
                open += 1;
            }
        }
        if open == 0 {
            return wait_ended(base, ids, Duration::from_secs(5)).await;
        }
        assert!(Instant::now() < deadline, "{open} still running");
        if !worked {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

struct Source {
    finished: Vec<String>,
    running: Vec<String>,
    /// A task claimed on SQLite and not yet completed: its worker completes it after the move.
    claimed: Value,
}

/// Writes the source store through a real server on `dir/baton.db`, then stops it.
async fn fill_sqlite(dir: &Path) -> Source {
    let server = ServerProcess::start(dir).await;
    let base = server.base();
    post(
        &base,
        "/api/metadata/taskdefs",
        json!([{"name": "step_a", "retryCount": 0, "responseTimeoutSeconds": 3600},
               {"name": "step_b", "retryCount": 0, "responseTimeoutSeconds": 3600}]),
    )
    .await;
    post(
        &base,
        "/api/metadata/workflow",
        json!({"name": WF, "version": 1, "schemaVersion": 2, "tasks": [
            {"name": "step_a", "taskReferenceName": "a", "type": "SIMPLE"},
            {"name": "step_b", "taskReferenceName": "b", "type": "SIMPLE"}
        ]}),
    )
    .await;
    post(
        &base,
        "/api/scheduler/schedules",
        json!({"name": "nightly", "cronExpression": "0 0 3 * * ?", "paused": true,
               "startWorkflowRequest": {"name": WF, "version": 1}}),
    )
    .await;
    post(
        &base,
        "/api/event",
        json!({"name": "on_ping", "event": "conductor:ping", "active": true,
               "actions": [{"action": "start_workflow", "start_workflow": {"name": WF}}]}),
    )
    .await;
    let mut finished = Vec::new();
    for n in 0..3 {
        finished.push(start(&base, json!({"name": WF, "input": {"n": n}})).await);
    }
    drive(&base, &finished).await;
    let mut running = Vec::new();
    for n in 0..3 {
        running.push(start(&base, json!({"name": WF, "input": {"n": 10 + n}})).await);
    }
    let claimed = poll(&base, "step_a").await.expect("a task to claim");
    drop(server);
    Source {
        finished,
        running,
        claimed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_and_back_resumable_and_idempotent() {
    let Some(db) = pg::PgDb::create("migrate").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let src = fill_sqlite(dir.path()).await;
    let sqlite = format!("sqlite://{}", dir.path().join("baton.db").display());

    // Interrupted after two executions, then resumed.
    let first = migrate(&sqlite, &db.url, &["--limit", "2"]);
    assert_eq!(
        line(&first, "executions"),
        "executions: 2 moved, 2 verified, 0 already there, 0 newer in the target (kept)",
        "{first}"
    );
    assert!(first.contains("stopped at --limit 2"), "{first}");
    assert!(line(&first, "workflow definitions")
        .starts_with("workflow definitions: 1 moved, 1 verified"));
    assert!(line(&first, "task definitions").starts_with("task definitions: 2 moved, 2 verified"));
    assert!(line(&first, "schedules").starts_with("schedules: 1 moved, 1 verified"));
    assert!(line(&first, "event handlers").starts_with("event handlers: 1 moved, 1 verified"));
    let resumed = migrate(&sqlite, &db.url, &[]);
    assert_eq!(
        line(&resumed, "executions"),
        "executions: 4 moved, 4 verified, 2 already there, 0 newer in the target (kept)",
        "{resumed}"
    );
    assert!(line(&resumed, "task definitions")
        .starts_with("task definitions: 0 moved, 0 verified, 2 already there"));

    // A second full run changes nothing.
    let again = migrate(&sqlite, &db.url, &[]);
    for what in [
        "task definitions",
        "workflow definitions",
        "schedules",
        "event handlers",
        "executions",
    ] {
        assert!(
            line(&again, what).starts_with(&format!("{what}: 0 moved, 0 verified")),
            "{again}"
        );
    }
    assert!(
        line(&again, "executions").contains("6 already there"),
        "{again}"
    );

    // A server on PostgreSQL finishes the running workflows, including the claimed task.
    let (base, server) = serve_db(&db.url, dir.path()).await;
    for id in &src.finished {
        let wf = get(&base, &format!("/api/workflow/{id}")).await;
        assert_eq!(wf["status"], "COMPLETED", "{wf}");
        let history = get(&base, &format!("/api/workflow/{id}/history")).await;
        assert!(
            history.as_array().is_some_and(|h| h.len() >= 5),
            "{history}"
        );
    }
    let claimed = get(
        &base,
        &format!(
            "/api/tasks/{}",
            src.claimed["taskId"].as_str().unwrap_or("?")
        ),
    )
    .await;
    assert_eq!(claimed["status"], "IN_PROGRESS", "{claimed}");
    complete(&base, &src.claimed).await;
    let ended = drive(&base, &src.running).await;
    for wf in &ended {
        assert_eq!(wf["status"], "COMPLETED", "{wf}");
        assert_eq!(wf["tasks"].as_array().map(Vec::len), Some(2), "{wf}");
    }
    let schedule = get(&base, "/api/scheduler/schedules/nightly").await;
    assert_eq!(schedule["paused"], true, "{schedule}");
    drop(server);

    // The target progressed: the older SQLite copies do not overwrite it.
    let stale = migrate(&sqlite, &db.url, &[]);
    assert_eq!(
        line(&stale, "executions"),
        "executions: 0 moved, 0 verified, 3 already there, 3 newer in the target (kept)",
        "{stale}"
    );
    let (base, _server) = serve_db(&db.url, dir.path()).await;
    for id in &src.running {
        let wf = get(&base, &format!("/api/workflow/{id}")).await;
        assert_eq!(wf["status"], "COMPLETED", "not overwritten: {wf}");
    }

    // And back: PostgreSQL into a new SQLite file.
    let back = format!("sqlite://{}", dir.path().join("back.db").display());
    let report = migrate(&db.url, &back, &[]);
    assert_eq!(
        line(&report, "executions"),
        "executions: 6 moved, 6 verified, 0 already there, 0 newer in the target (kept)",
        "{report}"
    );
}

#[test]
fn a_missing_source_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args([
            "migrate",
            "--from",
            "sqlite://nope.db",
            "--to",
            "sqlite://target.db",
        ])
        .current_dir(dir.path())
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("no such SQLite file"), "{stderr}");
    assert!(!dir.path().join("target.db").exists(), "nothing created");
}
