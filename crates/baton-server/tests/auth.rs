//! Authentication and roles over real HTTP: each role is refused what it may not do (401
//! without a credential, 403 with the wrong role) and nothing changes; it is allowed what it
//! may. Tokens come from `POST /api/token`, expire, and end when their key is revoked; failed
//! attempts from one address are backed off.

mod common;

use baton_server::auth::{keys, AuthConfig, AuthMode, BackoffConfig};
use baton_store::{ApiKey, SqliteStore, Store};
use common::*;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

struct Key {
    id: String,
    secret: String,
}

/// Stores a key of `role` in the database of `dir` (as `baton keys create` does).
async fn create_key(dir: &std::path::Path, role: &str) -> Key {
    let store = SqliteStore::open_path(TestServer::db_path(dir)).expect("open store");
    let k = keys::make_key().expect("make key");
    store
        .put_api_key(ApiKey {
            key_id: k.key_id.clone(),
            name: format!("{role} key"),
            role: role.into(),
            secret_hash: k.secret_hash.clone(),
            created_at: 1,
            revoked_at: None,
            task_types: None,
        })
        .await
        .expect("put key");
    Key {
        id: k.key_id,
        secret: k.secret,
    }
}

fn auth_on() -> AuthConfig {
    AuthConfig {
        mode: AuthMode::On,
        // Every request re-reads its key, so a revocation shows at once in these tests.
        key_cache_ttl: Duration::ZERO,
        ..AuthConfig::default()
    }
}

async fn server(dir: tempfile::TempDir, auth: AuthConfig) -> TestServer {
    let config = baton_server::ServerConfig {
        auth,
        ..Default::default()
    };
    TestServer::open(dir, config, baton_runtime::RuntimeConfig::default()).await
}

async fn token(s: &TestServer, key: &Key) -> reqwest::Response {
    s.client
        .post(s.url("/token"))
        .json(&json!({"keyId": key.id, "keySecret": key.secret}))
        .send()
        .await
        .unwrap()
}

/// A client that sends `key`'s token as `X-Authorization`, as the SDKs do.
async fn client_for(s: &TestServer, key: &Key) -> reqwest::Client {
    let body = expect_json(token(s, key).await, StatusCode::OK).await;
    let t = body["token"].as_str().expect("token").to_string();
    assert!(
        !t.contains(&key.secret),
        "the token does not carry the secret"
    );
    let mut h = HeaderMap::new();
    h.insert("x-authorization", HeaderValue::from_str(&t).unwrap());
    reqwest::Client::builder()
        .default_headers(h)
        .build()
        .unwrap()
}

async fn send(
    c: &reqwest::Client,
    s: &TestServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let url = s.url(path);
    let req = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        "PUT" => c.put(url),
        "DELETE" => c.delete(url),
        other => panic!("method {other}"),
    };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    req.send().await.unwrap()
}

async fn error_code(resp: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status);
    let v: Value = resp.json().await.unwrap();
    v["error"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_gets_what_it_may_and_nothing_else() {
    if common::on_postgres() {
        // The keys are written into the test's SQLite file before the server starts; the
        // PostgreSQL store's key methods are covered by the store's own tests.
        eprintln!("SKIPPED on PostgreSQL: keys are seeded through the SQLite file");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let admin = create_key(dir.path(), "admin").await;
    let operator = create_key(dir.path(), "operator").await;
    let worker = create_key(dir.path(), "worker").await;
    let viewer = create_key(dir.path(), "viewer").await;
    let s = server(dir, auth_on()).await;
    let anon = reqwest::Client::new();
    let (admin_c, op_c, worker_c, viewer_c) = (
        client_for(&s, &admin).await,
        client_for(&s, &operator).await,
        client_for(&s, &worker).await,
        client_for(&s, &viewer).await,
    );

    // Health stays public.
    assert_eq!(
        send(&anon, &s, "GET", "/health", None).await.status(),
        StatusCode::OK
    );

    // Metadata: only admin writes; everybody but the worker reads.
    let def = json!([{"name": "auth_task", "retryCount": 0, "responseTimeoutSeconds": 30}]);
    let code = error_code(
        send(&anon, &s, "POST", "/metadata/taskdefs", Some(def.clone())).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "UNAUTHENTICATED");
    for c in [&op_c, &worker_c, &viewer_c] {
        let code = error_code(
            send(c, &s, "POST", "/metadata/taskdefs", Some(def.clone())).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(code, "FORBIDDEN");
    }
    let missing = send(&admin_c, &s, "GET", "/metadata/taskdefs/auth_task", None).await;
    assert_eq!(
        missing.status(),
        StatusCode::NOT_FOUND,
        "the refused writes stored nothing"
    );
    assert_eq!(
        send(&admin_c, &s, "POST", "/metadata/taskdefs", Some(def))
            .await
            .status(),
        StatusCode::OK
    );
    let wf = simple_workflow("auth_flow", &["auth_task"]);
    assert_eq!(
        send(&op_c, &s, "POST", "/metadata/workflow", Some(wf.clone()))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&admin_c, &s, "POST", "/metadata/workflow", Some(wf))
            .await
            .status(),
        StatusCode::OK
    );
    for c in [&op_c, &viewer_c] {
        assert_eq!(
            send(c, &s, "GET", "/metadata/taskdefs/auth_task", None)
                .await
                .status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        send(&worker_c, &s, "GET", "/metadata/taskdefs/auth_task", None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // Starting: operator and admin; the others are refused and start nothing.
    let start = json!({"name": "auth_flow", "input": {}});
    for (c, status) in [
        (&anon, StatusCode::UNAUTHORIZED),
        (&worker_c, StatusCode::FORBIDDEN),
        (&viewer_c, StatusCode::FORBIDDEN),
    ] {
        assert_eq!(
            send(c, &s, "POST", "/workflow", Some(start.clone()))
                .await
                .status(),
            status
        );
    }
    let search = |c: reqwest::Client| {
        let url = s.url("/workflow/search?query=workflowType%3D%27auth_flow%27");
        async move {
            c.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        search(viewer_c.clone()).await["totalHits"],
        0,
        "refused starts started nothing"
    );
    let started = send(&op_c, &s, "POST", "/workflow", Some(start)).await;
    assert_eq!(started.status(), StatusCode::OK);
    let wf_id = started.text().await.unwrap();
    assert_eq!(search(viewer_c.clone()).await["totalHits"], 1);

    // The worker protocol: worker (and above) polls and updates; viewer and anon may not.
    for (c, status) in [
        (&anon, StatusCode::UNAUTHORIZED),
        (&viewer_c, StatusCode::FORBIDDEN),
    ] {
        assert_eq!(
            send(
                c,
                &s,
                "GET",
                "/tasks/poll/batch/auth_task?count=1&timeout=0",
                None
            )
            .await
            .status(),
            status
        );
    }
    let polled: Vec<Value> = send(
        &worker_c,
        &s,
        "GET",
        "/tasks/poll/batch/auth_task?count=1&timeout=1000",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(polled.len(), 1, "the refused polls claimed nothing");
    let task_id = polled[0]["taskId"].as_str().unwrap();
    let result = json!({"taskId": task_id, "workflowInstanceId": wf_id, "status": "COMPLETED", "outputData": {"by": "worker"}});
    assert_eq!(
        send(&viewer_c, &s, "POST", "/tasks", Some(result.clone()))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&worker_c, &s, "GET", &format!("/tasks/{task_id}"), None)
            .await
            .status(),
        StatusCode::OK
    );
    let still = send(&viewer_c, &s, "GET", &format!("/workflow/{wf_id}"), None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        still["status"], "RUNNING",
        "the refused update changed nothing"
    );
    assert_eq!(
        send(&worker_c, &s, "POST", "/tasks", Some(result))
            .await
            .status(),
        StatusCode::OK
    );
    let done = send(&viewer_c, &s, "GET", &format!("/workflow/{wf_id}"), None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(done["status"], "COMPLETED");
    // Workers do not manage workflows; viewers read only.
    assert_eq!(
        send(&worker_c, &s, "GET", &format!("/workflow/{wf_id}"), None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(
            &viewer_c,
            &s,
            "DELETE",
            &format!("/workflow/{wf_id}/remove"),
            None
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&viewer_c, &s, "GET", &format!("/workflow/{wf_id}"), None)
            .await
            .status(),
        StatusCode::OK,
        "still there"
    );
    assert_eq!(
        send(
            &op_c,
            &s,
            "DELETE",
            &format!("/workflow/{wf_id}/remove"),
            None
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&viewer_c, &s, "GET", &format!("/workflow/{wf_id}"), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Metrics need a credential too (viewer may), also as basic auth with id and secret.
    assert_eq!(
        anon.get(format!("{}/metrics", s.root))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        worker_c
            .get(format!("{}/metrics", s.root))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let basic = anon
        .get(format!("{}/metrics", s.root))
        .basic_auth(&viewer.id, Some(&viewer.secret))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);
    assert!(basic
        .text()
        .await
        .unwrap()
        .contains("baton_workflow_starts_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_tokens_and_revoked_keys_are_refused() {
    if common::on_postgres() {
        // The keys are written into the test's SQLite file before the server starts; the
        // PostgreSQL store's key methods are covered by the store's own tests.
        eprintln!("SKIPPED on PostgreSQL: keys are seeded through the SQLite file");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let admin = create_key(dir.path(), "admin").await;
    let other = create_key(dir.path(), "viewer").await;
    let store_path = TestServer::db_path(dir.path());
    let s = server(dir, auth_on()).await;

    let wrong = Key {
        id: admin.id.clone(),
        secret: "not-the-secret".into(),
    };
    assert_eq!(
        error_code(token(&s, &wrong).await, StatusCode::UNAUTHORIZED).await,
        "INVALID_CREDENTIALS"
    );
    let unknown = Key {
        id: "no-such-key".into(),
        secret: admin.secret.clone(),
    };
    assert_eq!(
        error_code(token(&s, &unknown).await, StatusCode::UNAUTHORIZED).await,
        "INVALID_CREDENTIALS"
    );
    let bad_body = s
        .client
        .post(s.url("/token"))
        .body(format!(
            "{{\"keyId\": 5, \"keySecret\": \"{}\"}}",
            admin.secret
        ))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status(), StatusCode::BAD_REQUEST);
    assert!(
        !bad_body.text().await.unwrap().contains(&admin.secret),
        "errors never echo the secret"
    );

    // A made-up or altered token.
    let mut h = HeaderMap::new();
    h.insert(
        "x-authorization",
        HeaderValue::from_static("bt1.x.99999999999.AAAA"),
    );
    let forged = reqwest::Client::builder()
        .default_headers(h)
        .build()
        .unwrap();
    assert_eq!(
        error_code(
            send(&forged, &s, "GET", "/metadata/taskdefs", None).await,
            StatusCode::UNAUTHORIZED
        )
        .await,
        "INVALID_TOKEN"
    );

    // Revoking a key ends the tokens it already has.
    let admin_c = client_for(&s, &admin).await;
    let other_c = client_for(&s, &other).await;
    assert_eq!(
        send(&admin_c, &s, "GET", "/metadata/taskdefs", None)
            .await
            .status(),
        StatusCode::OK
    );
    let store = SqliteStore::open_path(&store_path).unwrap();
    assert!(store.revoke_api_key(&admin.id, 2).await.unwrap());
    assert_eq!(
        error_code(
            send(&admin_c, &s, "GET", "/metadata/taskdefs", None).await,
            StatusCode::UNAUTHORIZED
        )
        .await,
        "INVALID_TOKEN"
    );
    assert_eq!(
        error_code(token(&s, &admin).await, StatusCode::UNAUTHORIZED).await,
        "INVALID_CREDENTIALS"
    );
    assert_eq!(
        send(&other_c, &s, "GET", "/metadata/taskdefs", None)
            .await
            .status(),
        StatusCode::OK,
        "other keys still work"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_say_so_so_the_sdks_renew() {
    if common::on_postgres() {
        // The keys are written into the test's SQLite file before the server starts; the
        // PostgreSQL store's key methods are covered by the store's own tests.
        eprintln!("SKIPPED on PostgreSQL: keys are seeded through the SQLite file");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let admin = create_key(dir.path(), "admin").await;
    let s = server(
        dir,
        AuthConfig {
            token_ttl: Duration::ZERO,
            ..auth_on()
        },
    )
    .await;
    let c = client_for(&s, &admin).await;
    let code = error_code(
        send(&c, &s, "GET", "/metadata/taskdefs", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "EXPIRED_TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_from_one_address_are_backed_off() {
    let dir = tempfile::tempdir().unwrap();
    let admin = create_key(dir.path(), "admin").await;
    let config = AuthConfig {
        backoff: BackoffConfig {
            free_failures: 3,
            first_block: Duration::from_secs(60),
            ..BackoffConfig::default()
        },
        ..auth_on()
    };
    let s = server(dir, config).await;
    let wrong = Key {
        id: admin.id.clone(),
        secret: "guess".into(),
    };
    for _ in 0..3 {
        assert_eq!(token(&s, &wrong).await.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right secret is not looked at until the block ends.
    let blocked = token(&s, &admin).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 60, "{wait}");
}

#[tokio::test]
async fn without_keys_on_loopback_everything_is_open_and_token_is_404() {
    let s = TestServer::spawn().await;
    assert_eq!(s.get("/metadata/taskdefs").await.status(), StatusCode::OK);
    // The SDKs take a 404 from /token as "open server" and carry on without a token.
    let resp = s
        .client
        .post(s.url("/token"))
        .json(&json!({"keyId": "a", "keySecret": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_non_loopback_address_without_keys_needs_insecure() {
    use baton_server::auth::decide_mode;
    let public: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let local: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let err = decide_mode(0, &public, false).unwrap_err();
    assert!(
        err.contains("--insecure") && err.contains("baton keys create"),
        "{err}"
    );
    assert_eq!(decide_mode(0, &public, true), Ok(AuthMode::Off));
    assert_eq!(decide_mode(0, &local, false), Ok(AuthMode::Off));
    assert_eq!(decide_mode(1, &local, false), Ok(AuthMode::On));
    assert_eq!(decide_mode(1, &public, true), Ok(AuthMode::On));
}
