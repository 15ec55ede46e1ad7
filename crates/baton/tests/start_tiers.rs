//! `baton start` chooses its tier with real processes: PostgreSQL when it answers (tier 1),
//! the SQLite file when it does not (tier 2, said loudly and in `/health`), a hard error with
//! `--no-fallback`, the `baton run` hint when nothing can start, and the background check that
//! notices PostgreSQL coming back.

mod common;

#[path = "../../baton-store/tests/support/pg.rs"]
mod pg;

use common::{free_port, log_tail, KillOnDrop};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A URL nothing listens on (port 1), with a password that must never be printed.
const DEAD_PG: &str = "postgres://postgres:hunter2@127.0.0.1:1/baton";
const DEAD_PG_SHOWN: &str = "postgres://postgres:***@127.0.0.1:1/baton";

fn baton(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
    cmd.current_dir(dir)
        .env_remove("BATON_DB")
        .env_remove("BATON_POSTGRES")
        .env_remove("BATON_CONFIG")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    cmd
}

/// Runs `baton start` expecting it to exit on its own (within a minute).
fn start_and_exit(dir: &Path, args: &[&str]) -> Output {
    let mut child = baton(dir)
        .arg("start")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn baton start");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("baton start {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

struct Served {
    base: String,
    log: std::path::PathBuf,
    _child: KillOnDrop,
}

/// Starts `baton start ARGS --port P` in `dir` and waits for `/health`.
async fn serve(dir: &Path, args: &[&str]) -> Served {
    let client = reqwest::Client::new();
    let log = dir.join("start.log");
    for _ in 0..5 {
        let port = free_port();
        let out = std::fs::File::create(&log).expect("log file");
        let child = baton(dir)
            .arg("start")
            .args(args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("spawn baton start");
        let mut child = KillOnDrop(child);
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = child.0.try_wait() {
                break;
            }
            if let Ok(resp) = client.get(format!("{base}/health")).send().await {
                if resp.status().is_success() {
                    return Served {
                        base,
                        log,
                        _child: child,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("baton start never became healthy:\n{}", log_tail(&log));
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

async fn get_text(url: &str) -> String {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_postgres_from_baton_toml_falls_back_to_sqlite_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The PostgreSQL URL and the wait come from the default configuration file.
    std::fs::write(
        dir.path().join("baton.toml"),
        format!(
            "postgres = \"{DEAD_PG}\"\npostgres_wait_secs = 0\ndb = \"sqlite://fallback.db\"\n"
        ),
    )
    .expect("write baton.toml");
    let s = serve(dir.path(), &[]).await;
    let health = get_json(&format!("{}/health", s.base)).await;
    assert_eq!(health["tier"], 2, "{health}");
    assert_eq!(health["backend"], "sqlite", "{health}");
    assert_eq!(health["healthy"], true, "{health}");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"), "{health}");
    assert!(health["uptimeSeconds"].is_u64(), "{health}");
    assert_eq!(health["fallback"]["primary"], DEAD_PG_SHOWN, "{health}");
    assert_eq!(health["fallback"]["primaryReachable"], false, "{health}");
    let reason = health["fallback"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("Connection refused"), "{health}");
    assert!(
        dir.path().join("fallback.db").exists(),
        "the file from baton.toml"
    );
    let log = std::fs::read_to_string(&s.log).expect("log");
    assert!(log.contains("FALLBACK TO TIER 2"), "{log}");
    assert!(log.contains(DEAD_PG_SHOWN), "{log}");
    assert!(
        log.contains("baton migrate --from sqlite://fallback.db"),
        "{log}"
    );
    assert!(!log.contains("hunter2") && !health.to_string().contains("hunter2"));
    let metrics = get_text(&format!("{}/metrics", s.base)).await;
    assert!(
        metrics.contains(r#"baton_storage_info{backend="sqlite",tier="2"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("baton_fallback_primary_reachable 0"),
        "{metrics}"
    );
}

#[test]
fn no_fallback_makes_an_unreachable_postgres_an_error_naming_the_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = start_and_exit(
        dir.path(),
        &[
            "--postgres",
            DEAD_PG,
            "--postgres-wait-secs",
            "0",
            "--no-fallback",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(DEAD_PG_SHOWN), "{stderr}");
    assert!(stderr.contains("--no-fallback"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(
        !dir.path().join("baton.db").exists(),
        "no SQLite file was opened"
    );
}

#[test]
fn neither_backend_starting_exits_with_the_baton_run_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    // /dev/null is a file, so no database can be created under it.
    let out = start_and_exit(
        dir.path(),
        &[
            "--postgres",
            DEAD_PG,
            "--postgres-wait-secs",
            "0",
            "--db",
            "sqlite:///dev/null/baton.db",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(DEAD_PG_SHOWN), "{stderr}");
    assert!(stderr.contains("/dev/null/baton.db"), "{stderr}");
    assert!(stderr.contains("baton run WORKFLOW.json"), "{stderr}");
}

#[test]
fn a_bad_configuration_file_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("custom.toml"), "prot = 9090\n").expect("write");
    let out = start_and_exit(dir.path(), &["--config", "custom.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("unknown key `prot`"), "{stderr}");
    std::fs::write(dir.path().join("custom.toml"), "port = \"many\"\n").expect("write");
    let out = start_and_exit(dir.path(), &["--config", "custom.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--port") && stderr.contains("many"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_wins_over_the_configuration_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("baton.toml"),
        format!(
            "postgres = \"{DEAD_PG}\"\npostgres-wait-secs = 0\ndb = \"sqlite://from-file.db\"\n"
        ),
    )
    .expect("write baton.toml");
    let s = serve(dir.path(), &["--db", "sqlite://from-flag.db"]).await;
    let health = get_json(&format!("{}/health", s.base)).await;
    assert_eq!(
        health["fallback"]["servingFrom"], "sqlite://from-flag.db",
        "{health}"
    );
    assert!(!dir.path().join("from-file.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reachable_postgres_is_tier_1() {
    let Some(db) = pg::PgDb::create("start_tier1").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let s = serve(dir.path(), &["--postgres", &db.url]).await;
    let health = get_json(&format!("{}/health", s.base)).await;
    assert_eq!(health["tier"], 1, "{health}");
    assert_eq!(health["backend"], "postgres", "{health}");
    assert!(health.get("fallback").is_none(), "{health}");
    assert!(
        !dir.path().join("baton.db").exists(),
        "no SQLite file on tier 1"
    );
    let metrics = get_text(&format!("{}/metrics", s.base)).await;
    assert!(
        metrics.contains(r#"baton_storage_info{backend="postgres",tier="1"} 1"#),
        "{metrics}"
    );
}

/// Forwards every connection accepted on `listener` to `target` (PostgreSQL "coming back").
async fn forward(listener: tokio::net::TcpListener, target: String) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        let target = target.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_notices_postgres_coming_back_and_points_to_migrate() {
    let Some(db) = pg::PgDb::create("start_back").await else {
        return;
    };
    // The test's URL, through a port where nothing listens yet.
    let port = free_port();
    let real = db
        .url
        .split('@')
        .nth(1)
        .and_then(|r| r.split('/').next())
        .map(str::to_string);
    let Some(real) = real else {
        panic!("unexpected test URL {}", db.url);
    };
    let via_port = db.url.replacen(&real, &format!("127.0.0.1:{port}"), 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let s = serve(
        dir.path(),
        &[
            "--postgres",
            &via_port,
            "--postgres-wait-secs",
            "0",
            "--postgres-recheck-secs",
            "1",
        ],
    )
    .await;
    let health = get_json(&format!("{}/health", s.base)).await;
    assert_eq!(health["tier"], 2, "{health}");
    assert_eq!(health["fallback"]["primaryReachable"], false, "{health}");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the forwarding port");
    tokio::spawn(forward(listener, real));
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let health = get_json(&format!("{}/health", s.base)).await;
        if health["fallback"]["primaryReachable"] == true {
            break health;
        }
        assert!(Instant::now() < deadline, "never noticed: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["tier"], 2, "still serving from SQLite: {health}");
    let advice = health["fallback"]["advice"].as_str().unwrap_or_default();
    assert!(
        advice.contains("baton migrate --from sqlite://baton.db --to"),
        "{health}"
    );
    let metrics = get_text(&format!("{}/metrics", s.base)).await;
    assert!(
        metrics.contains("baton_fallback_primary_reachable 1"),
        "{metrics}"
    );
    let log = std::fs::read_to_string(&s.log).expect("log");
    assert!(log.contains("is reachable again"), "{log}");
}
