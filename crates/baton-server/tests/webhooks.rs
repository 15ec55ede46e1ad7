//! Webhooks over real HTTP: a valid GitHub signature starts exactly one workflow with input
//! taken from the payload; a wrong or missing signature, a truncated body, a replayed
//! delivery (also after a restart) and an unmapped event start none.

mod common;

use baton_server::webhook::WebhookConfig;
use common::*;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "k1-webhook-secret";

const CONFIG: &str = r#"
[hooks.github]
secret_env = "GH_SECRET"

[[hooks.github.rules]]
event = "push"
repository = "acme/k1-firmware"
branch = "main"
workflow = "k1_ci"
input = { repository = "${payload.repository.full_name}", branch = "${webhook.branch}", commit = "${payload.after}", author = "${payload.head_commit.author.name}", delivery = "${webhook.deliveryId}" }

[[hooks.github.rules]]
event = "pull_request"
action = "opened"
workflow = "k1_ci"
input = { pr = "${payload.pull_request.number}" }
"#;

fn sign(body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn open(dir: impl Into<common::StoreDir>) -> TestServer {
    let hooks =
        WebhookConfig::parse(CONFIG, |n| (n == "GH_SECRET").then(|| SECRET.to_string())).unwrap();
    let config = baton_server::ServerConfig {
        webhooks: Arc::new(hooks),
        ..Default::default()
    };
    let s = TestServer::open(dir, config, baton_runtime::RuntimeConfig::default()).await;
    s.register_task_def(json!({"name": "build", "responseTimeoutSeconds": 60}))
        .await;
    let def = simple_workflow("k1_ci", &["build"]);
    let resp = s.post_json("/metadata/workflow?overwrite=true", &def).await;
    expect_status(resp, StatusCode::OK).await;
    s
}

fn push(commit: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "after": commit,
        "repository": {"full_name": "acme/k1-firmware"},
        "head_commit": {"author": {"name": "Ada"}},
    }))
    .unwrap()
}

async fn deliver(
    s: &TestServer,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: Option<&str>,
) -> reqwest::Response {
    let mut req = s
        .client
        .post(s.url("/webhook/github"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    req.send().await.unwrap()
}

async fn started(s: &TestServer) -> Vec<Value> {
    let found = s
        .get_json("/workflow/search?query=workflowType%3D%27k1_ci%27&size=100")
        .await;
    found["results"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_starts_one_workflow_and_nothing_else_does() {
    let s = open(tempfile::tempdir().unwrap()).await;
    let body = push("abc123");

    // Missing and wrong signatures, and a body changed after signing: 401, nothing started.
    let missing = deliver(&s, "push", "d-1", &body, None).await;
    expect_error(missing, StatusCode::UNAUTHORIZED, &["X-Hub-Signature-256"]).await;
    let wrong = deliver(&s, "push", "d-1", &body, Some(&sign(b"something else"))).await;
    expect_error(wrong, StatusCode::UNAUTHORIZED, &["does not match"]).await;
    let truncated = &body[..body.len() - 5];
    let cut = deliver(&s, "push", "d-1", truncated, Some(&sign(&body))).await;
    assert_eq!(cut.status(), StatusCode::UNAUTHORIZED);
    assert!(
        started(&s).await.is_empty(),
        "refused deliveries started nothing"
    );

    // The valid delivery starts exactly one workflow, input from the payload.
    let ok = deliver(&s, "push", "d-1", &body, Some(&sign(&body))).await;
    let answer = expect_json(ok, StatusCode::OK).await;
    let ids = answer["workflowIds"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 1, "{answer}");
    assert_eq!(answer["duplicate"], false);
    let wf = s.workflow(ids[0].as_str().unwrap()).await;
    assert_eq!(
        wf["input"],
        json!({"repository": "acme/k1-firmware", "branch": "main", "commit": "abc123", "author": "Ada", "delivery": "d-1"})
    );
    assert_eq!(started(&s).await.len(), 1);

    // Replayed: the same answer, nothing new.
    let again = expect_json(
        deliver(&s, "push", "d-1", &body, Some(&sign(&body))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["workflowIds"], json!(ids));
    assert_eq!(again["duplicate"], true);
    assert_eq!(started(&s).await.len(), 1);

    // Unmapped: another branch, another event, an action no rule names: 202, nothing.
    let mut dev: Value = serde_json::from_slice(&push("def")).unwrap();
    dev["ref"] = json!("refs/heads/dev");
    let dev = serde_json::to_vec(&dev).unwrap();
    for (event, delivery, body) in [
        ("push", "d-2", dev),
        ("issues", "d-3", push("x")),
        (
            "pull_request",
            "d-4",
            serde_json::to_vec(&json!({"action": "closed", "pull_request": {"number": 7}}))
                .unwrap(),
        ),
    ] {
        let r = deliver(&s, event, delivery, &body, Some(&sign(&body))).await;
        let a = expect_json(r, StatusCode::ACCEPTED).await;
        assert_eq!(a["workflowIds"], json!([]));
    }
    assert_eq!(started(&s).await.len(), 1);
    // A mapped pull request: its number becomes the input.
    let pr =
        serde_json::to_vec(&json!({"action": "opened", "pull_request": {"number": 42}})).unwrap();
    let a = expect_json(
        deliver(&s, "pull_request", "d-5", &pr, Some(&sign(&pr))).await,
        StatusCode::OK,
    )
    .await;
    let pr_wf = s.workflow(a["workflowIds"][0].as_str().unwrap()).await;
    assert_eq!(pr_wf["input"], json!({"pr": 42}));

    // An unknown hook.
    let unknown = s
        .client
        .post(s.url("/webhook/gitlab"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_after_a_restart_starts_nothing() {
    let s = open(tempfile::tempdir().unwrap()).await;
    let body = push("abc");
    let first = expect_json(
        deliver(&s, "push", "d-r", &body, Some(&sign(&body))).await,
        StatusCode::OK,
    )
    .await;
    let dir = s.stop();
    let s = open(dir).await;
    let replay = expect_json(
        deliver(&s, "push", "d-r", &body, Some(&sign(&body))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replay["duplicate"], true);
    assert_eq!(replay["workflowIds"], first["workflowIds"]);
    assert_eq!(started(&s).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_in_transit_starts_nothing() {
    let s = open(tempfile::tempdir().unwrap()).await;
    let body = push("abc");
    // The headers promise the whole body; the connection ends after part of it.
    let addr = s.root.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/webhook/github HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         x-github-event: push\r\nx-github-delivery: d-cut\r\nx-hub-signature-256: {}\r\n\
         content-length: {}\r\n\r\n",
        sign(&body),
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body[..body.len() / 2]).await.unwrap();
    conn.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.starts_with("HTTP/1.1 200"),
        "a cut body was accepted: {text}"
    );
    assert!(started(&s).await.is_empty());
    // The full delivery afterwards is not taken for a replay.
    let ok = expect_json(
        deliver(&s, "push", "d-cut", &body, Some(&sign(&body))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ok["duplicate"], false);
    assert_eq!(started(&s).await.len(), 1);
}

#[test]
fn the_readme_example_configuration_loads() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme
        .find("```toml\n[hooks.github]")
        .expect("the README's webhook example")
        + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let config =
        WebhookConfig::parse(&readme[start..end], |_| Some("s".into())).expect("it parses");
    let rules = &config.hooks["github"].rules;
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].workflow, "k1_firmware_ci");
}
