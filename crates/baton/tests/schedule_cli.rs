//! `baton schedule ...` against a real `baton server` child process: create, list, get, next,
//! pause, resume, delete; data on stdout, errors on stderr with a non-zero exit.

use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, KillOnDrop as Server};

fn baton(server: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("schedule")
        .args(args)
        .env("BATON_SERVER", server)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run baton")
}

fn ok(server: &str, args: &[&str]) -> String {
    let out = baton(server, args);
    assert!(
        out.status.success(),
        "baton schedule {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(server: &str, args: &[&str], needle: &str) {
    let out = baton(server, args);
    assert!(!out.status.success(), "baton schedule {args:?} succeeded");
    assert!(out.stdout.is_empty(), "data on stdout for a failure");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "stderr should name '{needle}': {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_pause_resume_next_delete() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("server")
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .args([
                "--db",
                &format!("sqlite://{}", dir.path().join("cli.db").display()),
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start baton server"),
    );
    let server = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while client.get(format!("{server}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server not healthy in 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = client
        .post(format!("{server}/api/metadata/workflow"))
        .json(&json!({"name": "cli_wf", "version": 1, "tasks": [
            {"name": "t", "taskReferenceName": "t", "type": "SIMPLE"}]}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);

    // Server errors reach stderr, naming the field.
    fails(
        &server,
        &["create", "bad", "--cron", "nope", "--workflow", "cli_wf"],
        "cronExpression",
    );
    fails(
        &server,
        &[
            "create",
            "bad",
            "--cron",
            "0 * * * *",
            "--workflow",
            "cli_wf",
            "--input",
            "[1",
        ],
        "--input",
    );

    let created = ok(
        &server,
        &[
            "create",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--workflow",
            "cli_wf",
            "--version",
            "1",
            "--input",
            r#"{"env": "prod"}"#,
            "--catchup",
            "all",
        ],
    );
    let created: Value = serde_json::from_str(created.trim()).unwrap();
    assert_eq!(created["catchupPolicy"], json!("ALL"));
    assert_eq!(
        created["startWorkflowRequest"]["input"],
        json!({"env": "prod"})
    );
    let next = created["nextRunTime"].as_i64().unwrap();
    assert_eq!(next % 86_400_000, 3 * 3_600_000);

    let list = ok(&server, &["list"]);
    let line = list.lines().next().expect("one line");
    let cols: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        cols[..4],
        ["nightly", "active", "0 3 * * *", "cli_wf"],
        "{line}"
    );
    assert!(cols[4].ends_with("T03:00:00Z"), "{line}");

    let json_list: Value = serde_json::from_str(ok(&server, &["list", "--json"]).trim()).unwrap();
    assert_eq!(json_list[0]["nextRunTime"].as_i64(), Some(next));

    let next_times = ok(&server, &["next", "nightly", "--count", "3"]);
    let lines: Vec<&str> = next_times.lines().collect();
    assert_eq!(lines.len(), 3, "{next_times}");
    assert!(lines[0].ends_with(&format!("\t{next}")), "{next_times}");
    assert!(lines[1].ends_with(&format!("\t{}", next + 86_400_000)));

    ok(&server, &["pause", "nightly"]);
    assert!(ok(&server, &["list"]).contains("\tpaused\t"));
    ok(&server, &["resume", "nightly"]);
    assert!(ok(&server, &["list"]).contains("\tactive\t"));
    let got: Value = serde_json::from_str(ok(&server, &["get", "nightly"]).trim()).unwrap();
    assert_eq!(got["paused"], json!(false));

    ok(&server, &["delete", "nightly"]);
    assert_eq!(ok(&server, &["list"]), "");
    fails(&server, &["get", "nightly"], "404");
    fails(&server, &["delete", "nightly"], "not found");
    // An unreachable server is an error too.
    fails(
        &format!("http://127.0.0.1:{}", free_port()),
        &["list"],
        "cannot reach",
    );
}
