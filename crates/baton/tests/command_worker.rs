//! `baton worker --config workers.toml` as a real process against a real `baton server`,
//! running real programs: JSON output, a failure then a retry, a terminal exit code, a
//! timeout that kills the whole process group, shell metacharacters that stay text,
//! megabytes of output (bounded in the task, complete in the log), a bad config, and a
//! shutdown that kills what still runs.

mod common;

use common::api::{get, post, start, wait_ended};
use common::server::ServerProcess;
use common::{log_tail, KillOnDrop};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `baton worker` with `config` (written to `dir/workers.toml`) against `base`.
fn spawn_worker(dir: &Path, base: &str, config: &str) -> (KillOnDrop, PathBuf) {
    let path = dir.join("workers.toml");
    std::fs::write(&path, config).expect("write config");
    let log = dir.join("worker.log");
    let child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["worker", "--config"])
        .arg(&path)
        .args(["--server", base])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn baton worker");
    (KillOnDrop(child), log)
}

async fn one_task_workflow(base: &str, task: &str, retries: u32) {
    post(base, "/api/metadata/taskdefs", json!([
        {"name": task, "retryCount": retries, "retryDelaySeconds": 0, "responseTimeoutSeconds": 60},
    ])).await;
    post(
        base,
        "/api/metadata/workflow?overwrite=true",
        json!({
            "name": format!("{task}_wf"), "version": 1,
            "tasks": [{"name": task, "taskReferenceName": "t", "inputParameters": {
                "text": "${workflow.input.text}", "branch": "${workflow.input.branch}",
            }}],
        }),
    )
    .await;
}

async fn run_one(base: &str, task: &str, input: Value) -> Value {
    let id = start(
        base,
        json!({"name": format!("{task}_wf"), "version": 1, "input": input}),
    )
    .await;
    wait_ended(base, &[id], Duration::from_secs(60))
        .await
        .remove(0)
}

/// True if `pid` is gone or a zombie (dead, waiting to be reaped by whoever adopted it).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

async fn read_pid(path: &Path) -> u32 {
    let t0 = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Ok(p) = s.trim().parse() {
                return p;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{} never written",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_dead(pid: u32, what: &str) {
    let t0 = Instant::now();
    while !dead(pid) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what} (pid {pid}) still alive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_complete_fail_retry_and_fail_terminally() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path()).await;
    let base = server.base();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("work dir");
    for (task, retries) in [
        ("cw_json", 0),
        ("cw_flaky", 2),
        ("cw_terminal", 2),
        ("cw_meta", 0),
    ] {
        one_task_workflow(&base, task, retries).await;
    }
    let config = r#"
[worker]
id = "cmd-test"

[tasks.cw_json]
program = "sh"
args = ["-c", "echo starting >&2; printf '{\"branch\": \"%s\", \"ok\": true}\n' \"$1\"", "sh", "{{input.branch}}"]

[tasks.cw_flaky]
program = "sh"
cwd = "work"
args = ["-c", "if [ -e marker ]; then echo second attempt; else touch marker; echo boom >&2; exit 1; fi"]

[tasks.cw_terminal]
program = "sh"
args = ["-c", "echo 'no such device' >&2; exit 3"]
terminal_exit_codes = [3, 4]

[tasks.cw_meta]
program = "sh"
cwd = "work"
args = ["-c", "printf '%s' \"$1\"; printf '%s' \"$META\" >&2", "sh", "{{input.text}}"]
env = { META = "{{input.text}}" }
"#;
    let (_worker, log) = spawn_worker(dir.path(), &base, config);

    let wf = run_one(&base, "cw_json", json!({"branch": "main"})).await;
    assert_eq!(wf["status"], "COMPLETED", "{wf}\n{}", log_tail(&log));
    assert_eq!(
        wf["tasks"][0]["outputData"],
        json!({"branch": "main", "ok": true})
    );
    assert_eq!(wf["tasks"][0]["workerId"], "cmd-test");
    let logs = get(
        &base,
        &format!(
            "/api/tasks/{}/log",
            wf["tasks"][0]["taskId"].as_str().unwrap()
        ),
    )
    .await;
    let lines: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["log"].as_str())
        .collect();
    assert!(
        lines[0].starts_with("$ ") && lines[0].contains("\"main\""),
        "{lines:?}"
    );
    assert!(lines.contains(&"[stderr] starting"), "{lines:?}");
    assert!(
        lines.contains(&"{\"branch\": \"main\", \"ok\": true}"),
        "{lines:?}"
    );

    let wf = run_one(&base, "cw_flaky", json!({})).await;
    assert_eq!(wf["status"], "COMPLETED", "{wf}");
    let tasks = wf["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{wf}");
    assert_eq!(tasks[0]["status"], "FAILED");
    assert_eq!(tasks[0]["outputData"]["exitCode"], 1);
    assert_eq!(tasks[0]["outputData"]["stderr"], "boom\n");
    let reason = tasks[0]["reasonForIncompletion"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("exited with code 1: boom"), "{reason}");
    assert_eq!(tasks[1]["status"], "COMPLETED");
    assert_eq!(tasks[1]["outputData"]["exitCode"], 0);
    assert_eq!(tasks[1]["outputData"]["stdout"], "second attempt\n");

    let wf = run_one(&base, "cw_terminal", json!({})).await;
    assert_eq!(wf["status"], "FAILED", "{wf}");
    let tasks = wf["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "a terminal exit code is not retried: {wf}");
    assert_eq!(tasks[0]["status"], "FAILED_WITH_TERMINAL_ERROR");
    assert_eq!(tasks[0]["outputData"]["exitCode"], 3);
    assert!(tasks[0]["reasonForIncompletion"]
        .as_str()
        .unwrap_or("")
        .contains("code 3: no such device"));

    // Everything a shell would act on; it must arrive as plain text, and nothing may run.
    let nasty = "x\"; touch pwned1; echo $(touch pwned2) `touch pwned3` $HOME ' && touch pwned4 | tee pwned5 > pwned6 \\ \n; exit 7";
    let wf = run_one(&base, "cw_meta", json!({"text": nasty})).await;
    assert_eq!(wf["status"], "COMPLETED", "{wf}");
    assert_eq!(wf["tasks"][0]["outputData"]["stdout"], nasty);
    assert_eq!(wf["tasks"][0]["outputData"]["stderr"], nasty);
    let made: Vec<String> = std::fs::read_dir(&work)
        .expect("work")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n != "marker")
        .collect();
    assert!(made.is_empty(), "input was interpreted: {made:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path()).await;
    let base = server.base();
    one_task_workflow(&base, "cw_hang", 0).await;
    // Both the script and its background child ignore SIGTERM: only the SIGKILL after the
    // grace period ends them.
    let config = r#"
[tasks.cw_hang]
program = "sh"
args = ["-c", "trap '' TERM; sleep 300 & echo $! > child.pid; echo $$ > main.pid; wait"]
cwd = "."
timeout_secs = 1
kill_grace_ms = 300
"#;
    let (_worker, log) = spawn_worker(dir.path(), &base, config);
    let wf = run_one(&base, "cw_hang", json!({})).await;
    assert_eq!(wf["status"], "FAILED", "{wf}\n{}", log_tail(&log));
    let t = &wf["tasks"][0];
    assert_eq!(t["status"], "FAILED");
    assert_eq!(t["outputData"]["timedOut"], true);
    let reason = t["reasonForIncompletion"].as_str().unwrap_or_default();
    assert!(
        reason.contains("timed out after 1s") && reason.contains("process group"),
        "{reason}"
    );
    let main = read_pid(&dir.path().join("main.pid")).await;
    let child = read_pid(&dir.path().join("child.pid")).await;
    wait_dead(main, "the timed-out script").await;
    wait_dead(child, "its background child").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabytes_of_output_are_bounded_in_the_task_and_complete_in_the_log() {
    const LINES: usize = 40_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path()).await;
    let base = server.base();
    one_task_workflow(&base, "cw_loud", 0).await;
    let config = r#"
[tasks.cw_loud]
program = "seq"
args = ["-f", "line %06g of a loud build step, padded out to about one hundred bytes ...........", "40000"]
tail_bytes = 1000
"#;
    let (_worker, log) = spawn_worker(dir.path(), &base, config);
    let wf = run_one(&base, "cw_loud", json!({})).await;
    assert_eq!(wf["status"], "COMPLETED", "{wf}\n{}", log_tail(&log));
    let expected: Vec<String> = (1..=LINES)
        .map(|i| format!("line {i:06} of a loud build step, padded out to about one hundred bytes ..........."))
        .collect();
    let total: usize = expected.iter().map(|l| l.len() + 1).sum();
    assert!(
        total > 3_000_000,
        "the test should write megabytes, wrote {total}"
    );
    let out = &wf["tasks"][0]["outputData"];
    let tail = out["stdout"].as_str().expect("stdout tail");
    assert!(tail.len() <= 1000, "tail of {} bytes", tail.len());
    assert!(
        tail.ends_with(&format!("{}\n", expected[LINES - 1])),
        "{tail}"
    );
    assert_eq!(out["stdoutBytes"], total);
    let logs = get(
        &base,
        &format!(
            "/api/tasks/{}/log",
            wf["tasks"][0]["taskId"].as_str().unwrap()
        ),
    )
    .await;
    let lines: Vec<&str> = logs
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["log"].as_str())
        .collect();
    assert!(lines[0].starts_with("$ "), "{:?}", &lines[..1]);
    assert_eq!(lines.len(), LINES + 1, "every line in the log once");
    for (i, (got, want)) in lines[1..].iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "log line {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_running_commands_and_fails_their_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path()).await;
    let base = server.base();
    one_task_workflow(&base, "cw_long", 0).await;
    let config = r#"
[worker]
shutdown_timeout_secs = 1

[tasks.cw_long]
program = "sh"
args = ["-c", "sleep 300 & echo $! > child.pid; wait"]
cwd = "."
"#;
    let (mut worker, log) = spawn_worker(dir.path(), &base, config);
    let id = start(
        &base,
        json!({"name": "cw_long_wf", "version": 1, "input": {}}),
    )
    .await;
    let child = read_pid(&dir.path().join("child.pid")).await;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(worker.0.id() as i32).expect("pid"),
        rustix::process::Signal::TERM,
    )
    .expect("SIGTERM");
    let status = worker.0.wait().expect("wait worker");
    assert!(status.success(), "{status}\n{}", log_tail(&log));
    wait_dead(child, "the command still running at shutdown").await;
    let wf = get(&base, &format!("/api/workflow/{id}")).await;
    let t = &wf["tasks"][0];
    assert_eq!(t["status"], "FAILED", "{wf}");
    assert!(
        t["reasonForIncompletion"]
            .as_str()
            .unwrap_or("")
            .contains("shut down"),
        "{t}"
    );
    assert!(
        log_tail(&log).contains("abandoned at the shutdown deadline"),
        "{}",
        log_tail(&log)
    );
}

#[test]
fn a_bad_config_is_refused_at_start_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[tasks.a]\nprogram = \"sh\"\nshell = \"echo {{input.x}}\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["worker", "--config"])
        .arg(&path)
        .args(["--server", "http://127.0.0.1:9"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run baton worker");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:3:") && err.contains("unknown field `shell`"),
        "{err}"
    );
}
