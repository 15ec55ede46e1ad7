//! `baton run` (direct mode) as a real process: the example pipeline (command workers, a
//! fork, a retried task, a DO_WHILE, a HUMAN task) to COMPLETED, a HUMAN stop, a FAILED
//! workflow, mocks, and usage errors, each with its exit code and final workflow JSON.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/direct-mode")
        .join(name)
}

fn baton_run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("run")
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run baton run")
}

fn workflow_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not the workflow JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn tasks_with_ref<'a>(wf: &'a Value, prefix: &str) -> Vec<&'a Value> {
    wf["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| {
            t["referenceTaskName"]
                .as_str()
                .unwrap_or("")
                .starts_with(prefix)
        })
        .collect()
}

#[test]
fn the_example_pipeline_completes_with_an_answer() {
    let pipeline = example("pipeline.json");
    let workers = example("workers.toml");
    let out = baton_run(&[
        pipeline.to_str().unwrap(),
        "--input",
        r#"{"build": 7}"#,
        "--workers",
        workers.to_str().unwrap(),
        "--answer",
        r#"approve={"by": "ada"}"#,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let wf = workflow_json(&out);
    assert_eq!(wf["status"], "COMPLETED");
    assert_eq!(
        wf["output"],
        serde_json::json!({"version": "1.4.7", "approvedBy": "ada"})
    );
    // The flaky step failed once and passed on its retry.
    let unit: Vec<&str> = tasks_with_ref(&wf, "unit_tests")
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(unit, ["FAILED", "COMPLETED"]);
    // Three loop iterations, each a real process with its own device number.
    let devices: Vec<&Value> = tasks_with_ref(&wf, "flash__")
        .iter()
        .map(|t| &t["outputData"]["device"])
        .collect();
    assert_eq!(devices, [&Value::from(1), &Value::from(2), &Value::from(3)]);
    assert_eq!(
        tasks_with_ref(&wf, "lint")[0]["outputData"]["stdout"],
        "linting 1.4.7\n"
    );
    assert!(
        stderr.contains("unit_tests (unit_tests) COMPLETED (attempt 2)"),
        "{stderr}"
    );
    assert!(stderr.contains("answer  approve (HUMAN)"), "{stderr}");
    assert!(stderr.contains("baton run: COMPLETED"), "{stderr}");
}

#[test]
fn a_human_task_without_an_answer_stops_with_exit_3() {
    let pipeline = example("pipeline.json");
    let workers = example("workers.toml");
    let out = baton_run(&[
        pipeline.to_str().unwrap(),
        "--input",
        r#"{"build": 8}"#,
        "--workers",
        workers.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("HUMAN task 'approve' waits for an outside party")
            && stderr.contains("--answer approve="),
        "{stderr}"
    );
    let wf = workflow_json(&out);
    assert_eq!(wf["status"], "RUNNING");
    assert_eq!(tasks_with_ref(&wf, "approve")[0]["status"], "IN_PROGRESS");
    assert_eq!(
        tasks_with_ref(&wf, "flash__3")[0]["status"],
        "COMPLETED",
        "the work before it was done"
    );
}

#[test]
fn a_failed_workflow_exits_1_and_writes_the_output_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let def = dir.path().join("fail.json");
    std::fs::write(
        &def,
        r#"{"name": "fails", "tasks": [
        {"name": "broken", "taskReferenceName": "broken", "type": "SIMPLE",
         "taskDefinition": {"name": "broken", "retryCount": 3, "retryDelaySeconds": 0}}]}"#,
    )
    .unwrap();
    let workers = dir.path().join("w.toml");
    std::fs::write(&workers, "[tasks.broken]\nprogram = \"sh\"\nargs = [\"-c\", \"echo 'disk full' >&2; exit 5\"]\nterminal_exit_codes = [5]\n").unwrap();
    let output = dir.path().join("result.json");
    let out = baton_run(&[
        def.to_str().unwrap(),
        "--workers",
        workers.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "the JSON goes to --output");
    let wf: Value = serde_json::from_str(&std::fs::read_to_string(&output).expect("output file"))
        .expect("JSON");
    assert_eq!(wf["status"], "FAILED");
    let tasks = wf["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "a terminal exit code is not retried");
    assert_eq!(tasks[0]["status"], "FAILED_WITH_TERMINAL_ERROR");
    assert!(
        stderr.contains("baton run: FAILED") && stderr.contains("disk full"),
        "{stderr}"
    );
}

#[test]
fn mocks_replace_the_work_of_worker_tasks() {
    let pipeline = example("pipeline.json");
    let out = baton_run(&[
        pipeline.to_str().unwrap(),
        "--mock",
        r#"prepare={"version": "0.0.1-mock"}"#,
        "--mock",
        r#"lint={}"#,
        "--mock",
        r#"unit_tests={"passed": 1}"#,
        "--mock",
        r#"flash={"device": "mocked"}"#,
        "--answer",
        r#"approve={"by": "grace"}"#,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let wf = workflow_json(&out);
    assert_eq!(
        wf["output"],
        serde_json::json!({"version": "0.0.1-mock", "approvedBy": "grace"})
    );
    assert_eq!(
        tasks_with_ref(&wf, "unit_tests").len(),
        1,
        "a mock does not fail"
    );
    assert_eq!(tasks_with_ref(&wf, "flash__").len(), 3);
    assert!(tasks_with_ref(&wf, "flash__")
        .iter()
        .all(|t| t["outputData"]["device"] == "mocked"));
}

#[test]
fn usage_errors_exit_2_naming_the_problem() {
    let pipeline = example("pipeline.json");
    let p = pipeline.to_str().unwrap();
    for (args, says) in [
        (vec![p], "task 'prepare' (type prepare) has no worker"),
        (
            vec![p, "--mock", "nope={}"],
            "--mock nope: the definition has no task",
        ),
        (
            vec![p, "--mock", "approve={}"],
            "only worker (SIMPLE) tasks can be mocked",
        ),
        (vec![p, "--mock", "prepare=[1]"], "must be a JSON object"),
        (vec![p, "--input", "{nope"], "--input: not JSON"),
        (vec!["/no/such/file.json"], "reading /no/such/file.json"),
    ] {
        let out = baton_run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn an_external_wait_needs_an_answer_but_a_timed_wait_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let def = dir.path().join("wait.json");
    std::fs::write(&def, r#"{"name": "waits", "tasks": [
        {"name": "pause", "taskReferenceName": "pause", "type": "WAIT", "inputParameters": {"duration": "1 seconds"}},
        {"name": "signal", "taskReferenceName": "signal", "type": "WAIT"}],
        "outputParameters": {"got": "${signal.output.go}"}}"#).unwrap();
    let d = def.to_str().unwrap();
    let out = baton_run(&[d]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("WAIT task 'signal' waits for an outside party"),
        "{stderr}"
    );
    assert_eq!(
        tasks_with_ref(&workflow_json(&out), "pause")[0]["status"],
        "COMPLETED"
    );

    let out = baton_run(&[d, "--answer", r#"signal={"go": "now"}"#]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(workflow_json(&out)["output"]["got"], "now");
}
