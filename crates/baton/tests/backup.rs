//! `baton backup` with real processes: a SQLite backup taken while a server is under load
//! opens (served by another server, which is the restore) and holds every execution
//! acknowledged before it began; the PostgreSQL route (`pg_dump`, then `pg_restore` into an
//! empty database) restores every execution too.

mod common;

#[path = "../../baton-store/tests/support/pg.rs"]
mod pg;

use common::api::{get, post, start};
use common::server::serve_db;
use common::server::ServerProcess;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn baton_backup(db: &str, to: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["backup", "--db", db, "--to"])
        .arg(to)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .expect("run baton backup")
}

async fn register(base: &str) {
    post(
        base,
        "/api/metadata/workflow",
        json!({"name": "backed_up", "version": 1, "schemaVersion": 2, "tasks": [
            {"name": "job", "taskReferenceName": "job", "type": "SIMPLE"}
        ]}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_under_load_holds_everything_acknowledged_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path()).await;
    let base = server.base();
    register(&base).await;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    // Two clients keep starting workflows, each id recorded once the server acknowledged it.
    let mut loaders = Vec::new();
    for _ in 0..2 {
        let (base, acked, stop) = (base.clone(), acked.clone(), stop.clone());
        loaders.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let id = start(
                    &base,
                    json!({"name": "backed_up", "input": {"pad": "x".repeat(2000)}}),
                )
                .await;
                acked.lock().expect("lock").push(id);
            }
        }));
    }
    while acked.lock().expect("lock").len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before: Vec<String> = acked.lock().expect("lock").clone();
    let target = dir.path().join("backup.db");
    let db = format!("sqlite://{}", dir.path().join("baton.db").display());
    let out = tokio::task::spawn_blocking(move || baton_backup(&db, &target))
        .await
        .expect("backup thread");
    let during = acked.lock().expect("lock").len();
    stop.store(true, Ordering::SeqCst);
    for l in loaders {
        l.await.expect("loader");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("integrity ok"), "{stdout}");
    assert!(during > before.len(), "the load went on during the backup");
    drop(server);

    // Restore: serve the backup file itself.
    let backup = format!("sqlite://{}", dir.path().join("backup.db").display());
    let (restored, _child) = serve_db(&backup, dir.path(), "restored").await;
    for id in &before {
        let wf = get(&restored, &format!("/api/workflow/{id}")).await;
        assert_eq!(wf["status"], "RUNNING", "{id}: {wf}");
    }
    // A second backup to the same file is refused and leaves the first intact.
    let again = baton_backup(&backup, &dir.path().join("backup.db"));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_restores_with_pg_restore() {
    if Command::new("pg_restore")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: pg_restore is not installed");
        return;
    }
    let Some(db) = pg::PgDb::create("backup_src").await else {
        return;
    };
    let Some(empty) = pg::PgDb::create("backup_dst").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, server) = serve_db(&db.url, dir.path(), "source").await;
    register(&base).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(start(&base, json!({"name": "backed_up", "input": {"n": n}})).await);
    }
    let dump = dir.path().join("baton.dump");
    let out = baton_backup(&db.url, &dump);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
    let restore = Command::new("pg_restore")
        .args(["--no-owner", "-d", &empty.url])
        .arg(&dump)
        .output()
        .expect("run pg_restore");
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    let (restored, _child) = serve_db(&empty.url, dir.path(), "restored").await;
    for (n, id) in ids.iter().enumerate() {
        let wf = get(&restored, &format!("/api/workflow/{id}")).await;
        assert_eq!(wf["status"], "RUNNING", "{wf}");
        assert_eq!(wf["input"]["n"], n, "{wf}");
    }
}
