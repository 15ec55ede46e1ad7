//! `baton migrate` with real stores and processes: a SQLite database written by a real
//! server (finished workflows, running ones with a task queued and one claimed, definitions,
//! a schedule and an event handler) is moved into PostgreSQL; a server on PostgreSQL then
//! completes the running workflows. A second run changes nothing, an interrupted run
//! (`--limit`) resumes, a target that progressed is not overwritten, and the way back
//! (PostgreSQL to SQLite) copies everything too.

mod common;

#[path = "../../baton-store/tests/support/pg.rs"]
mod pg;

use common::api::get;
use common::seed::{complete, drive, fill_sqlite};
use common::server::serve_db;
use serde_json::Value;
use std::process::{Command, Stdio};

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

/// Runs `baton ARGS`, which must succeed; answers its stdout.
fn run_baton(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .env_remove("BATON_DB")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .expect("run baton");
    assert!(
        out.status.success(),
        "baton {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The line of a migrate report that starts with `what:`.
fn line<'a>(report: &'a str, what: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(&format!("{what}:")))
        .unwrap_or_else(|| panic!("no `{what}` line in:\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_and_back_resumable_and_idempotent() {
    let Some(db) = pg::PgDb::create("migrate").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let src = fill_sqlite(dir.path()).await;
    let sqlite = format!("sqlite://{}", dir.path().join("baton.db").display());

    // A key (revoked, so the servers below keep authentication off) moves too, and
    // `baton keys` reads it from PostgreSQL.
    let created = run_baton(&["keys", "create", "--role", "viewer", "--db", &sqlite]);
    let key: Value = serde_json::from_str(&created).expect("key JSON");
    let key_id = key["keyId"].as_str().expect("keyId").to_string();
    run_baton(&["keys", "revoke", &key_id, "--db", &sqlite]);

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
    assert!(
        line(&first, "API keys").starts_with("API keys: 1 moved, 1 verified"),
        "{first}"
    );
    let listed = run_baton(&["keys", "list", "--db", &db.url]);
    assert!(
        listed.contains(&key_id) && !listed.contains("\"revokedAt\":null"),
        "{listed}"
    );
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
    let (base, server) = serve_db(&db.url, dir.path(), "on-postgres").await;
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
    let (base, _server) = serve_db(&db.url, dir.path(), "on-postgres").await;
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
