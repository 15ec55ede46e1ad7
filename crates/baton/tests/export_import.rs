//! `baton export` / `baton import`: a database written by a real server (definitions, a
//! schedule, an event handler, finished and running executions) round-trips through the
//! files into an empty database; the definition files are what the metadata API accepts;
//! invalid files are refused before anything is written.

mod common;

use common::api::{call, get};
use common::seed::{complete, drive, fill_sqlite};
use common::server::serve_db;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn baton(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .env_remove("BATON_DB")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .expect("run baton")
}

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed:\n{stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_into_an_empty_store_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = fill_sqlite(dir.path()).await;
    let db = format!("sqlite://{}", dir.path().join("baton.db").display());
    let first = dir.path().join("first");
    let out = ok(baton(&[
        "export",
        "--db",
        &db,
        "--to",
        first.to_str().unwrap_or_default(),
        "--executions",
    ]));
    assert!(
        out.contains(
            "exported 2 task definitions, 1 workflow definitions, 1 event handlers, 1 schedules"
        ),
        "{out}"
    );
    assert!(out.contains("exported 6 executions"), "{out}");

    let empty = format!("sqlite://{}", dir.path().join("imported.db").display());
    let out = ok(baton(&[
        "import",
        "--db",
        &empty,
        "--from",
        first.to_str().unwrap_or_default(),
        "--executions",
    ]));
    assert!(
        out.contains("imported 6 executions (0 already there"),
        "{out}"
    );
    // Importing again leaves every execution as it was.
    let out = ok(baton(&[
        "import",
        "--db",
        &empty,
        "--from",
        first.to_str().unwrap_or_default(),
        "--executions",
    ]));
    assert!(
        out.contains("imported 0 executions (6 already there"),
        "{out}"
    );

    // Exporting the imported database gives the same files.
    let second = dir.path().join("second");
    ok(baton(&[
        "export",
        "--db",
        &empty,
        "--to",
        second.to_str().unwrap_or_default(),
        "--executions",
    ]));
    for name in ["event-handlers.json", "schedules.json", "executions.jsonl"] {
        assert_eq!(read(&first, name), read(&second, name), "{name} differs");
    }
    // Definitions compare without their times: the store stamps its own when it writes one.
    let defs = |dir: &Path, name: &str| -> Vec<Value> {
        let mut v: Vec<Value> = serde_json::from_str(&read(dir, name)).expect("json");
        for d in &mut v {
            if let Some(o) = d.as_object_mut() {
                o.remove("createTime");
                o.remove("updateTime");
            }
        }
        v
    };
    for name in ["task-definitions.json", "workflow-definitions.json"] {
        assert_eq!(defs(&first, name), defs(&second, name), "{name} differs");
    }

    // The imported running executions complete on a server over the imported database.
    let (base, _server) = serve_db(&empty, dir.path(), "imported").await;
    complete(&base, &src.claimed).await;
    for wf in drive(&base, &src.running).await {
        assert_eq!(wf["status"], "COMPLETED", "{wf}");
    }
    let history = get(&base, &format!("/api/workflow/{}/history", src.finished[0])).await;
    assert!(
        history.as_array().is_some_and(|h| h.len() >= 5),
        "{history}"
    );

    // The definition files are the metadata API's request bodies.
    let fresh = tempfile::tempdir().expect("tempdir");
    let fresh_db = format!("sqlite://{}", fresh.path().join("f.db").display());
    let (api, _fresh_server) = serve_db(&fresh_db, fresh.path(), "fresh").await;
    let task_defs: Value =
        serde_json::from_str(&read(&first, "task-definitions.json")).expect("json");
    call(
        reqwest::Method::POST,
        format!("{api}/api/metadata/taskdefs"),
        Some(task_defs),
    )
    .await;
    let wf_defs: Value =
        serde_json::from_str(&read(&first, "workflow-definitions.json")).expect("json");
    call(
        reqwest::Method::PUT,
        format!("{api}/api/metadata/workflow"),
        Some(wf_defs),
    )
    .await;
    let registered = get(
        &api,
        &format!("/api/metadata/workflow/{}", common::seed::WF),
    )
    .await;
    assert_eq!(
        registered["tasks"].as_array().map(Vec::len),
        Some(2),
        "{registered}"
    );
}

#[test]
fn invalid_files_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = dir.path().join("defs");
    std::fs::create_dir_all(&from).expect("mkdir");
    std::fs::write(
        from.join("task-definitions.json"),
        r#"[{"name": "ok_task"}]"#,
    )
    .expect("write");
    std::fs::write(
        from.join("workflow-definitions.json"),
        r#"[{"name": "w", "version": 1, "tasks": [{"name": "a", "taskReferenceName": "a", "type": "SIMPLE", "inputParameters": 7}]}]"#,
    )
    .expect("write");
    let db = dir.path().join("target.db");
    let url = format!("sqlite://{}", db.display());
    let out = baton(&[
        "import",
        "--db",
        &url,
        "--from",
        from.to_str().unwrap_or_default(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("workflow-definitions.json") && stderr.contains("inputParameters"),
        "{stderr}"
    );
    assert!(!db.exists(), "nothing was written");
}
