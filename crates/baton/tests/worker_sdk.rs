//! The Rust worker SDK (`baton-worker`) against a real `baton server` process over loopback
//! HTTP: chains of tasks, concurrency, task logs, terminal failures, IN_PROGRESS callbacks,
//! lease extension, domains, graceful and deadline shutdown, and SIGKILL restarts of the
//! server while the runner works.

mod common;

use baton_worker::{worker_fn, AbandonedAt, Client, Outcome, Runner, RunnerConfig, WorkerOptions};
use common::api::{get, post, start, wait_ended};
use common::server::ServerProcess;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn quiet_config(worker_id: &str) -> RunnerConfig {
    RunnerConfig {
        worker_id: worker_id.to_string(),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        ..RunnerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_completes_chains_logs_and_reports_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path()).await;
    let base = server.base();
    post(&base, "/api/metadata/taskdefs", json!([
        {"name": "sdk_add", "retryCount": 0, "responseTimeoutSeconds": 30},
        {"name": "sdk_strict", "retryCount": 3, "retryDelaySeconds": 0, "responseTimeoutSeconds": 30},
        {"name": "sdk_slow", "retryCount": 0, "responseTimeoutSeconds": 30},
    ])).await;
    post(&base, "/api/metadata/workflow?overwrite=true", json!({
        "name": "sdk_chain", "version": 1,
        "tasks": [
            {"name": "sdk_add", "taskReferenceName": "a1", "inputParameters": {"n": "${workflow.input.n}"}},
            {"name": "sdk_add", "taskReferenceName": "a2", "inputParameters": {"n": "${a1.output.n}"}},
            {"name": "sdk_slow", "taskReferenceName": "s", "inputParameters": {"n": "${a2.output.n}"}},
            {"name": "sdk_add", "taskReferenceName": "a3", "inputParameters": {"n": "${s.output.n}"}},
        ],
        "outputParameters": {"n": "${a3.output.n}", "steps": "${s.output.steps}"},
    })).await;
    post(&base, "/api/metadata/workflow?overwrite=true", json!({
        "name": "sdk_strict_wf", "version": 1,
        "tasks": [{"name": "sdk_strict", "taskReferenceName": "x", "inputParameters": {"n": "${workflow.input.n}"}}],
    })).await;

    // Record how many executions run at once, to see the concurrency limit hold.
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let add = {
        let (running, peak) = (running.clone(), peak.clone());
        worker_fn(move |task, ctx| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                let n = task.input_data.get("n").and_then(Value::as_i64);
                running.fetch_sub(1, Ordering::SeqCst);
                match n {
                    Some(n) => {
                        ctx.log(format!("adding one to {n}")).await;
                        Outcome::completed_value(json!({"n": n + 1}))
                    }
                    None => Outcome::failed_terminal("input n is not an integer"),
                }
            }
        })
    };
    // Two steps: IN_PROGRESS with a callback first, then COMPLETED on the second hand-out.
    let slow = worker_fn(|task, _ctx| async move {
        let n = task
            .input_data
            .get("n")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if task.output_data.get("step").is_none() {
            let mut progress = baton_worker::JsonMap::new();
            progress.insert("step".into(), json!(1));
            Outcome::in_progress(progress, Duration::from_secs(1))
        } else {
            Outcome::completed_value(json!({"n": n, "steps": 2}))
        }
    });
    let strict =
        worker_fn(
            |_task, _ctx| async move { Outcome::failed_terminal("the input is not acceptable") },
        );
    let runner = Runner::new(Client::new(&base).expect("client"))
        .config(quiet_config("sdk-test"))
        .register("sdk_add", WorkerOptions::with_concurrency(3), add)
        .register("sdk_slow", WorkerOptions::with_concurrency(4), slow)
        .register("sdk_strict", WorkerOptions::default(), strict);
    let stop = CancellationToken::new();
    let handle = tokio::spawn({
        let stop = stop.clone();
        async move { runner.run(stop.cancelled_owned()).await }
    });

    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(
            start(
                &base,
                json!({"name": "sdk_chain", "version": 1, "input": {"n": n * 10}}),
            )
            .await,
        );
    }
    let strict_id = start(
        &base,
        json!({"name": "sdk_strict_wf", "version": 1, "input": {"n": 1}}),
    )
    .await;
    let wfs = wait_ended(&base, &ids, Duration::from_secs(60)).await;
    for (n, wf) in wfs.iter().enumerate() {
        assert_eq!(wf["status"], "COMPLETED", "{wf}");
        assert_eq!(
            wf["output"],
            json!({"n": n as i64 * 10 + 3, "steps": 2}),
            "{}",
            wf["workflowId"]
        );
        for t in wf["tasks"].as_array().expect("tasks") {
            assert_eq!(t["workerId"], "sdk-test", "{t}");
        }
        // The slow step was handed out twice: once IN_PROGRESS, once to complete.
        let s = wf["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["referenceTaskName"] == "s")
            .expect("s");
        assert_eq!(s["pollCount"], 2, "{s}");
        let a1 = wf["tasks"][0]["taskId"].as_str().expect("a1 id");
        let logs = get(&base, &format!("/api/tasks/{a1}/log")).await;
        assert_eq!(
            logs[0]["log"],
            format!("adding one to {}", n * 10),
            "{logs}"
        );
    }
    let strict_wf = &wait_ended(
        &base,
        std::slice::from_ref(&strict_id),
        Duration::from_secs(30),
    )
    .await[0];
    assert_eq!(strict_wf["status"], "FAILED", "{strict_wf}");
    let tasks = strict_wf["tasks"].as_array().expect("tasks");
    assert_eq!(
        tasks.len(),
        1,
        "a terminal failure is not retried: {strict_wf}"
    );
    assert_eq!(tasks[0]["status"], "FAILED_WITH_TERMINAL_ERROR");
    assert_eq!(
        tasks[0]["reasonForIncompletion"],
        "the input is not acceptable"
    );

    stop.cancel();
    let report = handle.await.expect("runner");
    assert!(report.abandoned.is_empty(), "{report:?}");
    // 12 × (3 adds + 2 slow) + 1 strict
    assert_eq!(report.results_delivered, 12 * 5 + 1, "{report:?}");
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 3, "sdk_add ran {peak} at once with concurrency 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_extension_keeps_a_long_task_alive_and_domains_are_polled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path()).await;
    let base = server.base();
    post(&base, "/api/metadata/taskdefs", json!([
        {"name": "sdk_long", "retryCount": 2, "retryDelaySeconds": 0, "responseTimeoutSeconds": 2},
    ])).await;
    post(
        &base,
        "/api/metadata/workflow?overwrite=true",
        json!({
            "name": "sdk_long_wf", "version": 1,
            "tasks": [{"name": "sdk_long", "taskReferenceName": "l"}],
        }),
    )
    .await;
    // 5 s of work against a 2 s response timeout: only heartbeats keep the attempt alive.
    let long = worker_fn(|_task, ctx| async move {
        // No log lines in between: log shipping also extends the lease.
        ctx.log("starting").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        ctx.log("done").await;
        Outcome::completed_value(json!({"done": true}))
    });
    let runner = Runner::new(Client::new(&base).expect("client"))
        .config(quiet_config("lab-worker"))
        .register(
            "sdk_long",
            WorkerOptions {
                domain: Some("lab".into()),
                ..WorkerOptions::default()
            },
            long,
        );
    let stop = CancellationToken::new();
    let handle = tokio::spawn({
        let stop = stop.clone();
        async move { runner.run(stop.cancelled_owned()).await }
    });
    let id = start(
        &base,
        json!({
            "name": "sdk_long_wf", "version": 1, "input": {}, "taskToDomain": {"sdk_long": "lab"},
        }),
    )
    .await;
    let wf = &wait_ended(&base, std::slice::from_ref(&id), Duration::from_secs(60)).await[0];
    assert_eq!(wf["status"], "COMPLETED", "{wf}");
    let tasks = wf["tasks"].as_array().expect("tasks");
    assert_eq!(
        tasks.len(),
        1,
        "the attempt must not time out and be retried: {wf}"
    );
    assert_eq!(tasks[0]["domain"], "lab");
    let logs = get(
        &base,
        &format!("/api/tasks/{}/log", tasks[0]["taskId"].as_str().unwrap()),
    )
    .await;
    let lines: Vec<&str> = logs
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["log"].as_str())
        .collect();
    assert_eq!(lines, ["starting", "done"]);
    stop.cancel();
    let report = handle.await.expect("runner");
    assert_eq!(report.results_delivered, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_short_work_and_reports_what_it_abandons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path()).await;
    let base = server.base();
    post(&base, "/api/metadata/taskdefs", json!([
        {"name": "sdk_short", "retryCount": 0, "responseTimeoutSeconds": 60},
        {"name": "sdk_stuck", "retryCount": 1, "retryDelaySeconds": 0, "responseTimeoutSeconds": 600},
    ])).await;
    for name in ["sdk_short", "sdk_stuck"] {
        post(
            &base,
            "/api/metadata/workflow?overwrite=true",
            json!({
                "name": format!("{name}_wf"), "version": 1,
                "tasks": [{"name": name, "taskReferenceName": "t"}],
            }),
        )
        .await;
    }
    let started = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let note = |started: &Arc<Mutex<HashMap<String, usize>>>, ty: &str| {
        *started.lock().unwrap().entry(ty.to_string()).or_default() += 1;
    };
    let short = {
        let started = started.clone();
        worker_fn(move |_t, _c| {
            note(&started, "short");
            async move {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                Outcome::completed_value(json!({"ok": true}))
            }
        })
    };
    let stuck = {
        let started = started.clone();
        worker_fn(move |_t, _c| {
            note(&started, "stuck");
            async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Outcome::completed_value(json!({}))
            }
        })
    };
    let runner = Runner::new(Client::new(&base).expect("client"))
        .config(RunnerConfig {
            shutdown_timeout: Duration::from_secs(4),
            ..quiet_config("stopper")
        })
        .register("sdk_short", WorkerOptions::default(), short)
        .register("sdk_stuck", WorkerOptions::default(), stuck);
    let short_id = start(
        &base,
        json!({"name": "sdk_short_wf", "version": 1, "input": {}}),
    )
    .await;
    let stuck_id = start(
        &base,
        json!({"name": "sdk_stuck_wf", "version": 1, "input": {}}),
    )
    .await;
    let stop = CancellationToken::new();
    let handle = tokio::spawn({
        let stop = stop.clone();
        async move { runner.run(stop.cancelled_owned()).await }
    });
    // Signal the shutdown once both tasks are running.
    let t0 = Instant::now();
    while started.lock().unwrap().len() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "workers never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    let report = handle.await.expect("runner");
    assert_eq!(
        report.results_delivered, 1,
        "the short task finishes within the deadline: {report:?}"
    );
    assert_eq!(report.abandoned.len(), 1, "{report:?}");
    let a = &report.abandoned[0];
    assert_eq!(
        (a.task_type.as_str(), a.workflow_id.as_str(), a.at),
        ("sdk_stuck", stuck_id.as_str(), AbandonedAt::Executing)
    );
    assert!(a.failure_reported, "{a:?}");

    let short_wf = get(&base, &format!("/api/workflow/{short_id}")).await;
    assert_eq!(short_wf["status"], "COMPLETED", "{short_wf}");
    // The abandoned attempt was failed at once (not left to its 600 s response timeout) and
    // its retry waits for a worker; the stopped runner took nothing more.
    let stuck_wf = get(&base, &format!("/api/workflow/{stuck_id}")).await;
    let tasks = stuck_wf["tasks"].as_array().expect("tasks");
    assert_eq!(tasks[0]["status"], "FAILED", "{stuck_wf}");
    let reason = tasks[0]["reasonForIncompletion"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("shut down"), "{reason}");
    assert_eq!(tasks.len(), 2, "{stuck_wf}");
    assert_eq!(tasks[1]["status"], "SCHEDULED", "{stuck_wf}");
    assert_eq!(started.lock().unwrap()["stuck"], 1);
}

/// DESIGN.md: the runner survives `kill -9` of the server. While workers run chains, the
/// server is SIGKILLed and restarted on the same file and port several times; the runner is
/// never restarted. Every workflow must complete, each step completed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_rides_out_server_sigkills_without_losing_or_doubling_tasks() {
    const WORKFLOWS: i64 = 30;
    const CHAIN: usize = 4;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = ServerProcess::start(dir.path()).await;
    let base = server.base();
    post(&base, "/api/metadata/taskdefs", json!([
        // A claim lost with a killed server comes back through the response timeout.
        {"name": "sdk_dur", "retryCount": 10, "retryDelaySeconds": 0, "responseTimeoutSeconds": 2},
    ])).await;
    let tasks: Vec<Value> = (1..=CHAIN)
        .map(|i| {
            let n = if i == 1 { "${workflow.input.n}".to_string() } else { format!("${{t{}.output.n}}", i - 1) };
            json!({"name": "sdk_dur", "taskReferenceName": format!("t{i}"), "inputParameters": {"n": n}})
        })
        .collect();
    post(
        &base,
        "/api/metadata/workflow?overwrite=true",
        json!({
            "name": "sdk_dur_wf", "version": 1, "tasks": tasks,
            "outputParameters": {"n": format!("${{t{CHAIN}.output.n}}")},
        }),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..WORKFLOWS {
        ids.push(
            start(
                &base,
                json!({"name": "sdk_dur_wf", "version": 1, "input": {"n": i * 100}}),
            )
            .await,
        );
    }
    let work = worker_fn(|task, _ctx| async move {
        // Long enough that tasks are in flight when the server dies.
        tokio::time::sleep(Duration::from_millis(30)).await;
        match task.input_data.get("n").and_then(Value::as_i64) {
            Some(n) => Outcome::completed_value(json!({"n": n + 1})),
            None => Outcome::failed_terminal("no integer n"),
        }
    });
    let runner = Runner::new(
        Client::new(&base)
            .expect("client")
            .request_timeout(Duration::from_secs(3)),
    )
    .config(quiet_config("chaos-worker"))
    .register("sdk_dur", WorkerOptions::with_concurrency(6), work);
    let stop = CancellationToken::new();
    let handle = tokio::spawn({
        let stop = stop.clone();
        async move { runner.run(stop.cancelled_owned()).await }
    });
    for kill in 0..3 {
        tokio::time::sleep(Duration::from_millis(400 + kill * 300)).await;
        server.kill9();
        // Down for a while: the runner's polls and deliveries back off meanwhile.
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.restart().await;
    }
    let wfs = wait_ended(&base, &ids, Duration::from_secs(120)).await;
    stop.cancel();
    let report = handle.await.expect("runner");
    assert!(report.abandoned.is_empty(), "{report:?}");
    let client = reqwest::Client::new();
    for (i, wf) in wfs.iter().enumerate() {
        let id = wf["workflowId"].as_str().unwrap_or_default();
        assert_eq!(wf["status"], "COMPLETED", "{wf}\n{}", server.log_tail());
        assert_eq!(
            wf["output"],
            json!({"n": i as i64 * 100 + CHAIN as i64}),
            "{id}"
        );
        let history: Vec<Value> = client
            .get(format!("{base}/api/workflow/{id}/history"))
            .send()
            .await
            .expect("history")
            .json()
            .await
            .expect("history json");
        let mut completed: BTreeMap<String, usize> = BTreeMap::new();
        let mut completions_per_attempt: HashMap<String, usize> = HashMap::new();
        for e in history
            .iter()
            .filter(|e| e["entity"] == "TASK" && e["status"] == "COMPLETED")
        {
            *completed
                .entry(e["referenceTaskName"].as_str().unwrap_or("").to_string())
                .or_default() += 1;
            *completions_per_attempt
                .entry(e["taskId"].as_str().unwrap_or("").to_string())
                .or_default() += 1;
        }
        let want: BTreeMap<String, usize> = (1..=CHAIN).map(|i| (format!("t{i}"), 1)).collect();
        assert_eq!(
            completed, want,
            "workflow {id}: each step completed exactly once"
        );
        assert!(completions_per_attempt.values().all(|n| *n == 1));
    }
}

/// A worker that sent one heartbeat (`extendLease`) and then went silent still loses its
/// attempt to the response timeout: the heartbeat moves the deadline, it does not remove it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_then_silence_still_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path()).await;
    let base = server.base();
    post(
        &base,
        "/api/metadata/taskdefs",
        json!([
            {"name": "sdk_silent", "retryCount": 0, "responseTimeoutSeconds": 1},
        ]),
    )
    .await;
    post(
        &base,
        "/api/metadata/workflow?overwrite=true",
        json!({
            "name": "sdk_silent_wf", "version": 1,
            "tasks": [{"name": "sdk_silent", "taskReferenceName": "s"}],
        }),
    )
    .await;
    let id = start(
        &base,
        json!({"name": "sdk_silent_wf", "version": 1, "input": {}}),
    )
    .await;
    let client = Client::new(&base).expect("client");
    let tasks = client
        .batch_poll("sdk_silent", "silent", None, 1, Duration::from_secs(5))
        .await
        .expect("poll");
    assert_eq!(tasks.len(), 1);
    let mut beat = baton_worker::TaskResult::new(
        &id,
        &tasks[0].task_id,
        baton_worker::TaskResultStatus::InProgress,
    );
    beat.extend_lease = true;
    client.update(&beat).await.expect("heartbeat");
    let wf = &wait_ended(&base, std::slice::from_ref(&id), Duration::from_secs(30)).await[0];
    assert_eq!(wf["status"], "TIMED_OUT", "{wf}");
    assert_eq!(wf["tasks"][0]["status"], "TIMED_OUT", "{wf}");
}
