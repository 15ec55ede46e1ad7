//! The real binary: `baton keys` against the database, a non-loopback address without keys
//! refused at start, request ids in every log line of a request, and no secret in any log.

mod common;

use base64::Engine;
use common::{free_port, log_tail, KillOnDrop};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
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

fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("sec.db").display())
}

/// `baton keys create`: (key id, secret).
fn create_key(dir: &Path, role: &str) -> (String, String) {
    let out = baton(&[
        "keys",
        "--db",
        &db_url(dir),
        "create",
        "--role",
        role,
        "--name",
        "test",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["role"], role);
    (
        v["keyId"].as_str().unwrap().to_string(),
        v["keySecret"].as_str().unwrap().to_string(),
    )
}

struct Server {
    _child: KillOnDrop,
    root: String,
    log: std::path::PathBuf,
}

async fn start(dir: &Path, host: &str, extra: &[&str]) -> Server {
    start_with_env(dir, host, extra, &[]).await
}

async fn start_with_env(dir: &Path, host: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let log = dir.join("server.log");
    let child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args([
            "--log-format",
            "json",
            "server",
            "--host",
            host,
            "--port",
            &port.to_string(),
        ])
        .args(["--db", &db_url(dir)])
        .args(extra)
        .envs(env.iter().copied())
        // Everything, so a secret logged at any level is caught.
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start baton server");
    let child = KillOnDrop(child);
    let root = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{root}/health")).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "server not healthy in 20 s:\n{}",
            log_tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        _child: child,
        root,
        log,
    }
}

#[test]
fn a_non_loopback_address_without_keys_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let out = baton(&[
        "server",
        "--host",
        "0.0.0.0",
        "--port",
        &port,
        "--db",
        &db_url(dir.path()),
    ]);
    assert!(!out.status.success(), "it started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--insecure") && err.contains("without authentication"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_says_so_in_health() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "0.0.0.0", &["--insecure"]).await;
    let health: Value = reqwest::get(format!("{}/health", s.root))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let warnings = health["warnings"].to_string();
    assert!(warnings.contains("insecure"), "{health}");
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        log.contains("INSECURE"),
        "a warning at start:\n{}",
        log_tail(&s.log)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_cli_tokens_request_ids_and_no_secret_in_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (admin_id, admin_secret) = create_key(dir.path(), "admin");
    let (viewer_id, viewer_secret) = create_key(dir.path(), "viewer");
    let list = baton(&["keys", "--db", &db_url(dir.path()), "list"]);
    let listed = String::from_utf8(list.stdout).unwrap();
    assert_eq!(listed.lines().count(), 2);
    assert!(listed.contains(&admin_id) && listed.contains(&viewer_id));
    assert!(
        !listed.contains(&admin_secret) && !listed.contains(&viewer_secret),
        "list shows no secrets"
    );

    // Keys exist: a non-loopback address is fine now (auth is on).
    let s = start(dir.path(), "0.0.0.0", &[]).await;
    let c = reqwest::Client::new();
    let token_of = |id: &str, secret: &str| {
        c.post(format!("{}/api/token", s.root))
            .json(&json!({"keyId": id, "keySecret": secret}))
            .send()
    };
    let admin_token = token_of(&admin_id, &admin_secret)
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let viewer_token = token_of(&viewer_id, &viewer_secret)
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    // A failed attempt with a wrong secret, and one with basic auth, are logged without them.
    assert_eq!(
        token_of(&admin_id, "wrong-secret-xyz")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let basic = c
        .get(format!("{}/api/metadata/taskdefs", s.root))
        .basic_auth(&admin_id, Some(&admin_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);
    let wrong_basic = c
        .get(format!("{}/api/metadata/taskdefs", s.root))
        .basic_auth(&admin_id, Some("wrong-basic-secret-xyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_basic.status(), StatusCode::UNAUTHORIZED);
    // The Authorization headers as sent: a log line with the header would hold these.
    let b64 = |id: &str, secret: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    };
    let basic_header = b64(&admin_id, &admin_secret);
    let wrong_basic_header = b64(&admin_id, "wrong-basic-secret-xyz");

    // `baton schedule` against the authenticated server: refused without a key, fine with one.
    let schedule = |key: Option<(&str, &str)>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
        cmd.args(["schedule", "--server", &s.root, "list", "--json"])
            .stdin(Stdio::null());
        cmd.env_remove("BATON_KEY_ID")
            .env_remove("BATON_KEY_SECRET");
        if let Some((id, secret)) = key {
            cmd.env("BATON_KEY_ID", id).env("BATON_KEY_SECRET", secret);
        }
        cmd.output().expect("run baton schedule")
    };
    let anon = schedule(None);
    assert!(!anon.status.success());
    assert!(
        String::from_utf8_lossy(&anon.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&anon.stderr)
    );
    let keyed = schedule(Some((&viewer_id, &viewer_secret)));
    assert!(
        keyed.status.success(),
        "{}",
        String::from_utf8_lossy(&keyed.stderr)
    );

    // A request refused for its role: its id is in the log line that reports it.
    let refused = c
        .post(format!("{}/api/metadata/taskdefs", s.root))
        .header("x-authorization", &viewer_token)
        .header("x-request-id", "trace-me-403")
        .json(&json!([{"name": "x"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.headers()["x-request-id"], "trace-me-403");
    // A request that does work (a start of an unknown workflow: 404 from the engine).
    let failed = c
        .post(format!("{}/api/workflow/no_such_flow", s.root))
        .header("x-authorization", &admin_token)
        .header("x-request-id", "trace-me-404")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::NOT_FOUND);

    // Revoking with the CLI (while the server runs) ends the admin's token.
    let revoke = baton(&["keys", "--db", &db_url(dir.path()), "revoke", &admin_id]);
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c
            .get(format!("{}/api/metadata/taskdefs", s.root))
            .header("x-authorization", &admin_token)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the revoked key's token still works: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = baton(&["keys", "--db", &db_url(dir.path()), "revoke", &admin_id]);
    assert!(!again.status.success(), "revoking twice is an error");

    let log = std::fs::read_to_string(&s.log).unwrap();
    for (what, secret) in [
        ("admin secret", admin_secret.as_str()),
        ("viewer secret", viewer_secret.as_str()),
        ("admin token", admin_token.as_str()),
        ("viewer token", viewer_token.as_str()),
        ("wrong secret", "wrong-secret-xyz"),
        ("wrong basic secret", "wrong-basic-secret-xyz"),
        ("basic Authorization header", basic_header.as_str()),
        (
            "wrong basic Authorization header",
            wrong_basic_header.as_str(),
        ),
    ] {
        assert!(!log.contains(secret), "the {what} reached the log");
    }
    for id in ["trace-me-403", "trace-me-404"] {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(id)).collect();
        assert!(
            !lines.is_empty(),
            "no log line names request {id}:\n{}",
            log_tail(&s.log)
        );
        for l in &lines {
            let v: Value = serde_json::from_str(l).expect("JSON log line");
            assert_eq!(v["span"]["request_id"], id, "{l}");
        }
    }
    // The failure is logged once, with its id.
    let work: Vec<&str> = log.lines().filter(|l| l.contains("trace-me-404")).collect();
    assert!(
        work.iter().any(|l| l.contains("request refused")),
        "the refusal is logged once with its id: {work:?}"
    );
    assert_eq!(
        work.iter()
            .filter(|l| l.contains("request refused"))
            .count(),
        1,
        "logged once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_secrets_and_signatures_stay_out_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = dir.path().join("hooks.toml");
    std::fs::write(
        &hooks,
        "[hooks.github]\nsecret_env = \"BATON_TEST_HOOK_SECRET\"\n\n\
         [[hooks.github.rules]]\nevent = \"push\"\nworkflow = \"no_such_flow\"\n",
    )
    .unwrap();
    let secret = "hook-secret-5f2c9a";
    let s = start_with_env(
        dir.path(),
        "127.0.0.1",
        &["--webhooks", hooks.to_str().unwrap()],
        &[("BATON_TEST_HOOK_SECRET", secret)],
    )
    .await;
    let body = br#"{"ref": "refs/heads/main", "after": "abc"}"#;
    let sign = |key: &str| {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let c = reqwest::Client::new();
    let deliver = |signature: String, delivery: &'static str| {
        c.post(format!("{}/api/webhook/github", s.root))
            .header("x-github-event", "push")
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", signature)
            .body(body.to_vec())
            .send()
    };
    let wrong = deliver(sign("a-guessed-secret"), "d-wrong").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(!wrong.text().await.unwrap().contains(secret));
    // Signed right; the mapped workflow does not exist, so the start fails and is logged.
    let right = deliver(sign(secret), "d-right").await.unwrap();
    assert_ne!(right.status(), StatusCode::UNAUTHORIZED);
    assert!(!right.text().await.unwrap().contains(secret));

    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        log.contains("d-wrong") || log.contains("webhook"),
        "the deliveries were logged at all:\n{}",
        log_tail(&s.log)
    );
    for (what, needle) in [
        ("webhook secret", secret.to_string()),
        ("valid signature", sign(secret)),
        ("wrong signature", sign("a-guessed-secret")),
    ] {
        assert!(!log.contains(&needle), "the {what} reached the log");
    }
}
