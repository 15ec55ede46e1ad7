//! Retention on the manual clock: exactly the ended executions past the age leave the store
//! (never a running one, never a younger one), in batches; archived ones read back from the
//! day files; the background loop of a serving server does the same on its own.

mod common;

use baton_server::retention::{self, RetentionConfig, RetentionPolicy};
use common::{simple_workflow, TestServer};
use flate2::read::MultiGzDecoder;
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

const DAY: Duration = Duration::from_secs(86_400);

fn config(policy: RetentionPolicy, batch: usize) -> RetentionConfig {
    RetentionConfig {
        max_age: DAY,
        policy,
        batch,
        pause: Duration::from_millis(10),
        interval: Duration::from_millis(50),
    }
}

/// Starts a one-task workflow and, unless `keep_running`, completes it now.
async fn run_one(s: &TestServer, n: i64, keep_running: bool) -> String {
    let id = s.start("kept_or_not", json!({"n": n})).await;
    if !keep_running {
        let task = s.poll_one("ret_task").await;
        s.complete(&task, json!({"done": n})).await;
        s.wait_for_status(&id, "COMPLETED", Duration::from_secs(10))
            .await;
    }
    id
}

struct Scene {
    old: Vec<String>,
    young: Vec<String>,
    running: String,
}

/// Three executions ended two days ago, one running since then, two ended now.
async fn scene(s: &TestServer) -> Scene {
    s.register_workflow(simple_workflow("kept_or_not", &["ret_task"]))
        .await;
    let mut old = Vec::new();
    for n in 0..3 {
        old.push(run_one(s, n, false).await);
    }
    let running = run_one(s, 99, true).await;
    s.advance(2 * DAY).await;
    let mut young = Vec::new();
    for n in 10..12 {
        // Poll the one running since two days first is avoided: it is left queued.
        let id = s.start("kept_or_not", json!({"n": n})).await;
        young.push(id);
    }
    // Complete every queued task but the long-running one's.
    let mut left = young.clone();
    while !left.is_empty() {
        let task = s.poll_one("ret_task").await;
        let wf = task["workflowInstanceId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if wf == running {
            continue; // claimed, never completed: still RUNNING
        }
        s.complete(&task, json!({})).await;
        left.retain(|id| *id != wf);
    }
    for id in &young {
        s.wait_for_status(id, "COMPLETED", Duration::from_secs(10))
            .await;
    }
    Scene {
        old,
        young,
        running,
    }
}

async fn exists(s: &TestServer, id: &str) -> bool {
    s.get(&format!("/workflow/{id}"))
        .await
        .status()
        .is_success()
}

fn read_archive(path: &Path) -> Vec<Value> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::io::BufReader::new(MultiGzDecoder::new(file))
        .lines()
        .map(|l| serde_json::from_str(&l.expect("a line")).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_exactly_the_executions_past_the_age_in_batches() {
    let s = TestServer::with_manual_clock(Default::default()).await;
    let runtime = s.runtime.clone().expect("in-process");
    let sc = scene(&s).await;
    let old_end = s.workflow(&sc.old[0]).await["endTime"]
        .as_i64()
        .expect("endTime");
    let archive_dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        RetentionPolicy::Archive {
            dir: archive_dir.path().to_path_buf(),
        },
        2,
    );
    let first = retention::sweep_once(&runtime, &cfg).await.expect("sweep");
    assert_eq!((first.found, first.archived, first.deleted), (2, 2, 2));
    let second = retention::sweep_once(&runtime, &cfg).await.expect("sweep");
    assert_eq!((second.found, second.archived, second.deleted), (1, 1, 1));
    let third = retention::sweep_once(&runtime, &cfg).await.expect("sweep");
    assert_eq!(third.found, 0, "nothing else is past the age");

    for id in &sc.old {
        assert!(!exists(&s, id).await, "{id} should be gone");
        let history = runtime.store().history(id).await.expect("history");
        assert!(history.is_empty(), "its history went with it");
    }
    for id in sc.young.iter().chain([&sc.running]) {
        assert!(exists(&s, id).await, "{id} must stay");
    }

    let files: Vec<_> = std::fs::read_dir(archive_dir.path())
        .expect("archive dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(files, [retention::archive_file_name(old_end)]);
    let lines = read_archive(&archive_dir.path().join(&files[0]));
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["workflow"]["workflowId"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, sc.old.iter().map(String::as_str).collect::<Vec<_>>());
    for line in &lines {
        assert_eq!(line["workflow"]["status"], "COMPLETED", "{line}");
        assert_eq!(
            line["workflow"]["tasks"][0]["status"], "COMPLETED",
            "{line}"
        );
        assert!(
            line["history"].as_array().is_some_and(|h| h.len() >= 3),
            "{line}"
        );
    }

    // Two days on, the younger ones are past the age too: appended to their own day's file.
    s.advance(2 * DAY).await;
    let later = retention::sweep_once(&runtime, &cfg).await.expect("sweep");
    assert_eq!(later.archived, 2);
    assert!(
        exists(&s, &sc.running).await,
        "a running execution is never removed"
    );
    let total: usize = std::fs::read_dir(archive_dir.path())
        .expect("dir")
        .map(|e| read_archive(&e.expect("entry").path()).len())
        .sum();
    assert_eq!(total, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delete_policy_deletes_exactly_the_executions_past_the_age() {
    let s = TestServer::with_manual_clock(Default::default()).await;
    let runtime = s.runtime.clone().expect("in-process");
    let sc = scene(&s).await;
    let cfg = config(RetentionPolicy::Delete, 100);
    let report = retention::sweep_once(&runtime, &cfg).await.expect("sweep");
    assert_eq!((report.found, report.archived, report.deleted), (3, 0, 3));
    for id in &sc.old {
        assert!(!exists(&s, id).await);
    }
    for id in sc.young.iter().chain([&sc.running]) {
        assert!(exists(&s, id).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_server_applies_retention_in_the_background() {
    let archive_dir = tempfile::tempdir().expect("tempdir");
    let server_config = baton_server::ServerConfig {
        retention: Some(config(
            RetentionPolicy::Archive {
                dir: archive_dir.path().to_path_buf(),
            },
            1,
        )),
        ..Default::default()
    };
    let runtime_config = baton_runtime::RuntimeConfig {
        clock: baton_runtime::Clock::manual_from_now(),
        ..Default::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::open(dir, server_config, runtime_config).await;
    let sc = scene(&s).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    for id in &sc.old {
        while exists(&s, id).await {
            assert!(Instant::now() < deadline, "{id} was never archived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for id in sc.young.iter().chain([&sc.running]) {
        assert!(exists(&s, id).await, "{id} must stay");
    }
}
