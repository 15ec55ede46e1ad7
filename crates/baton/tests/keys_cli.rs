//! `baton keys create|list|revoke` against PostgreSQL as well as SQLite, and worker keys
//! limited to task types: created by the real binary, honoured by a real server started on
//! the same database.

mod common;

#[path = "../../baton-store/tests/support/pg.rs"]
mod pg;

use common::{free_port, log_tail, KillOnDrop};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn baton(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run baton")
}

/// `baton keys --db DB ARGS…`, which must succeed; its stdout as JSON lines.
fn keys_ok(db: &str, args: &[&str]) -> Vec<Value> {
    let out = baton(&[&["keys", "--db", db], args].concat());
    assert!(
        out.status.success(),
        "baton keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// `baton keys --db DB ARGS…`, which must fail; its stderr.
fn keys_err(db: &str, args: &[&str]) -> String {
    let out = baton(&[&["keys", "--db", db], args].concat());
    assert!(!out.status.success(), "baton keys {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A server on `db` (keys exist, so auth is on); answers its root URL.
async fn start_server(db: &str, dir: &Path) -> (KillOnDrop, String) {
    let log = dir.join("server.log");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--db", db])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start baton server");
    let child = KillOnDrop(child);
    let root = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{root}/health")).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "server not healthy in 20 s:\n{}",
            log_tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, root)
}

async fn token(c: &reqwest::Client, root: &str, key: &Value) -> reqwest::Response {
    c.post(format!("{root}/api/token"))
        .json(&json!({"keyId": key["keyId"], "keySecret": key["keySecret"]}))
        .send()
        .await
        .expect("token request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_on_postgresql_are_created_listed_honoured_and_revoked() {
    let Some(db) = pg::PgDb::create("keys_cli").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let admin = keys_ok(&db.url, &["create", "--role", "admin", "--name", "ops"]).remove(0);
    let worker = keys_ok(
        &db.url,
        &["create", "--role", "worker", "--task-types", "build, flash"],
    )
    .remove(0);
    assert_eq!(worker["taskTypes"], json!(["build", "flash"]));

    let listed = keys_ok(&db.url, &["list"]);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["keyId"], admin["keyId"]);
    assert_eq!(listed[0]["taskTypes"], Value::Null);
    assert_eq!(listed[1]["taskTypes"], json!(["build", "flash"]));
    let listing = serde_json::to_string(&listed).unwrap();
    for k in [&admin, &worker] {
        let secret = k["keySecret"].as_str().unwrap();
        assert!(!listing.contains(secret), "list never shows a secret");
    }

    // A server on the same database accepts the keys and honours the worker's types.
    let (_server, root) = start_server(&db.url, dir.path()).await;
    let c = reqwest::Client::new();
    let body: Value = token(&c, &root, &worker).await.json().await.unwrap();
    let worker_token = body["token"].as_str().expect("a token").to_string();
    let poll = |task_type: &str| {
        c.get(format!("{root}/api/tasks/poll/batch/{task_type}?timeout=0"))
            .header("x-authorization", &worker_token)
            .send()
    };
    assert_eq!(poll("build").await.unwrap().status(), StatusCode::OK);
    let refused = poll("deploy").await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("'deploy'"));

    // Revoking with the CLI ends the admin key (the server's key cache lasts a second).
    assert_eq!(token(&c, &root, &admin).await.status(), StatusCode::OK);
    let admin_id = admin["keyId"].as_str().unwrap();
    let revoked = keys_ok(&db.url, &["revoke", admin_id]);
    assert_eq!(revoked[0]["revoked"], true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while token(&c, &root, &admin).await.status() != StatusCode::UNAUTHORIZED {
        assert!(
            Instant::now() < deadline,
            "the revoked key still gets tokens"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(keys_err(&db.url, &["revoke", admin_id]).contains("already revoked"));
    assert!(keys_err(&db.url, &["revoke", "no-such-key"]).contains("no key"));
    let after = keys_ok(&db.url, &["list"]);
    assert!(after[0]["revokedAt"].is_i64(), "{after:?}");
}

#[test]
fn task_types_are_checked_before_anything_is_stored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let err = keys_err(&db, &["create", "--role", "admin", "--task-types", "build"]);
    assert!(
        err.contains("--task-types") && err.contains("worker"),
        "{err}"
    );
    let err = keys_err(
        &db,
        &["create", "--role", "worker", "--task-types", "build,,flash"],
    );
    assert!(err.contains("empty"), "{err}");
    let err = keys_err(&db, &["create", "--role", "worker", "--task-types", "a b"]);
    assert!(err.contains("'a b'"), "{err}");
    assert!(keys_ok(&db, &["list"]).is_empty(), "nothing was stored");
    let k = keys_ok(
        &db,
        &[
            "create",
            "--role",
            "worker",
            "--task-types",
            "build,build,flash",
        ],
    );
    assert_eq!(
        k[0]["taskTypes"],
        json!(["build", "flash"]),
        "duplicates dropped"
    );
    assert_eq!(
        keys_ok(&db, &["list"])[0]["taskTypes"],
        json!(["build", "flash"])
    );
}
