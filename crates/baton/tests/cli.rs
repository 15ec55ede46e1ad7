//! `baton workflow|def|task|queue` against a real `baton server` child process: each
//! subcommand's table and `--json` output, and its exit codes (0 done, 2 invalid, 3 not
//! found, 4 conflict, 5 unreachable).

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, KillOnDrop as Server};

fn baton(server: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .env("BATON_SERVER", server)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run baton")
}

/// Runs and expects success; answers stdout.
fn ok(server: &str, args: &[&str]) -> String {
    let out = baton(server, args);
    assert!(
        out.status.success(),
        "baton {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ok_json(server: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = ok(server, &all);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("baton {args:?} --json: {e}: {text}"))
}

/// Runs and expects exit `code` with nothing on stdout and `needle` on stderr.
fn fails(server: &str, args: &[&str], code: i32, needle: &str) {
    let out = baton(server, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "baton {args:?}: stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "data on stdout for a failure: {:?}",
        out.stdout
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "stderr should name '{needle}': {err}");
}

async fn start_server(dir: &Path) -> (Server, String) {
    let port = free_port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("server")
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .args([
                "--db",
                &format!("sqlite://{}", dir.join("cli.db").display()),
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start baton server"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while client.get(format!("{url}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server not healthy in 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (server, url)
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn def_workflow_task_and_queue_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = start_server(dir.path()).await;
    let s = url.as_str();

    // def validate: offline, every problem with its path; exit 2.
    let bad = write(
        dir.path(),
        "bad.json",
        &json!({"name": "cli_wf", "version": 1, "tasks": [
        {"name": "a", "taskReferenceName": "x", "type": "SIMPLE"},
        {"name": "b", "taskReferenceName": "x", "type": "SIMPLE"}]}),
    );
    let out = baton("http://127.0.0.1:1", &["def", "validate", &bad]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tasks[1].taskReferenceName"), "{text}");
    let typed = write(
        dir.path(),
        "typed.json",
        &json!({"name": "t", "retryCount": "many"}),
    );
    let out = baton("http://127.0.0.1:1", &["def", "validate", &typed, "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["valid"], false);
    assert_eq!(report[0]["problems"][0]["path"], "retryCount", "{report}");

    // def apply, list, get.
    let task = write(
        dir.path(),
        "task.json",
        &json!([{"name": "cli_task", "retryCount": 0}]),
    );
    let wf = write(
        dir.path(),
        "wf.json",
        &json!({"name": "cli_wf", "version": 1, "tasks": [
        {"name": "cli_task", "taskReferenceName": "first", "type": "SIMPLE"},
        {"name": "cli_task", "taskReferenceName": "second", "type": "SIMPLE"}]}),
    );
    assert_eq!(ok(s, &["def", "validate", &wf, &task]).lines().count(), 2);
    let applied = ok(s, &["def", "apply", &task, &wf]);
    assert_eq!(applied.trim(), "task cli_task\nworkflow cli_wf v1");
    let list = ok(s, &["def", "list"]);
    assert!(
        list.starts_with("NAME") && list.contains("cli_wf"),
        "{list}"
    );
    let list = ok_json(s, &["def", "list", "--tasks"]);
    assert_eq!(list[0]["name"], "cli_task");
    let got = ok_json(s, &["def", "get", "cli_wf", "--version", "1"]);
    assert_eq!(got["tasks"].as_array().map(Vec::len), Some(2));
    fails(s, &["def", "get", "ghost_wf"], 3, "ghost_wf");
    fails(s, &["def", "apply", &bad], 2, "taskReferenceName");

    // workflow start, status, get, search.
    let id = ok(
        s,
        &[
            "workflow",
            "start",
            "cli_wf",
            "--input",
            r#"{"who": "cli"}"#,
            "--correlation-id",
            "c-cli",
        ],
    );
    let id = id.trim().to_string();
    assert!(!id.is_empty());
    assert_eq!(ok(s, &["workflow", "status", &id]).trim(), "RUNNING");
    let st = ok_json(s, &["workflow", "status", &id]);
    assert_eq!(st["correlationId"], "c-cli");
    let shown = ok(s, &["workflow", "get", &id]);
    assert!(
        shown.contains("first") && shown.contains("SCHEDULED"),
        "{shown}"
    );
    let w = ok_json(s, &["workflow", "get", &id]);
    assert_eq!(w["input"]["who"], "cli");
    let found = ok_json(s, &["workflow", "search", "--query", "workflowType=cli_wf"]);
    assert_eq!(found["totalHits"], 1);
    let table = ok(s, &["workflow", "search", "--query", "workflowType=cli_wf"]);
    assert!(
        table.lines().nth(1).is_some_and(|l| l.starts_with(&id)),
        "{table}"
    );
    fails(
        s,
        &["workflow", "start", "cli_wf", "--input", "[1]"],
        2,
        "--input",
    );
    fails(s, &["workflow", "start", "ghost_wf"], 3, "ghost_wf");
    fails(s, &["workflow", "get", "ghost-id"], 3, "ghost-id");

    // queue, task poll, complete, logs.
    let q = ok_json(s, &["queue"]);
    assert_eq!(q["cli_task"], 1, "{q}");
    assert!(ok(s, &["queue"]).contains("cli_task"));
    let polled = ok_json(s, &["task", "poll", "cli_task"]);
    let task_id = polled[0]["taskId"].as_str().unwrap().to_string();
    assert_eq!(polled[0]["referenceTaskName"], "first");
    let done = ok(
        s,
        &["task", "complete", &id, &task_id, "--output", r#"{"n": 1}"#],
    );
    assert_eq!(done.trim(), task_id);
    let table = ok(s, &["task", "poll", "cli_task", "--timeout-ms", "2000"]);
    assert!(table.contains("second"), "{table}");
    assert_eq!(ok_json(s, &["task", "logs", &task_id]), json!([]));
    fails(
        s,
        &["task", "complete", &id, "no-such-task"],
        3,
        "no-such-task",
    );

    // pause, resume, terminate, restart, retry, rerun: each prints the new status.
    assert_eq!(
        ok(s, &["workflow", "pause", &id]).trim(),
        format!("{id}  PAUSED")
    );
    assert_eq!(
        ok_json(s, &["workflow", "resume", &id])["status"],
        "RUNNING"
    );
    assert_eq!(
        ok(
            s,
            &["workflow", "terminate", &id, "--reason", "cli says stop"]
        )
        .trim(),
        format!("{id}  TERMINATED")
    );
    fails(s, &["workflow", "pause", &id], 4, "");
    assert_eq!(ok_json(s, &["workflow", "retry", &id])["status"], "RUNNING");
    ok(s, &["workflow", "terminate", &id]);
    assert_eq!(
        ok_json(s, &["workflow", "restart", &id])["status"],
        "RUNNING"
    );
    ok(s, &["workflow", "terminate", &id]);
    assert_eq!(ok_json(s, &["workflow", "rerun", &id])["status"], "RUNNING");
    fails(s, &["workflow", "restart", &id], 4, "");
    fails(s, &["workflow", "resume", "ghost-id"], 3, "ghost-id");

    // An unreachable server: exit 5.
    fails(
        "http://127.0.0.1:1",
        &["workflow", "status", &id],
        5,
        "cannot reach",
    );
}

/// The bulk and scan limits are `baton server` flags, range-checked before anything starts.
#[test]
fn server_takes_the_bulk_and_scan_limit_flags() {
    let help = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["server", "--help"])
        .output()
        .expect("run baton");
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--max-bulk-ids",
        "--max-correlated-executions",
        "--search-by-tasks-scan-limit",
        "--max-requeue-tasks",
        "--search-count-limit",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["server", "--max-bulk-ids", "0"])
        .stdin(Stdio::null())
        .output()
        .expect("run baton");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--max-bulk-ids"), "{err}");
}
