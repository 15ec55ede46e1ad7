//! What the web UI needs from an authenticated server, over real HTTP: `GET
//! /api/token/whoami` names the caller's role (or says authentication is off), and the change
//! stream takes the token in the `X-Authorization` header and ends when that token expires.

mod common;

use baton_server::auth::{keys, AuthConfig, AuthMode};
use baton_store::ApiKey;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

struct Key {
    id: String,
    secret: String,
}

/// Stores a key through the running server's store (works on both backends).
async fn put_key(s: &TestServer, role: &str, task_types: Option<Vec<String>>) -> Key {
    let k = keys::make_key().expect("make key");
    s.runtime
        .as_ref()
        .expect("in-process server")
        .store()
        .put_api_key(ApiKey {
            key_id: k.key_id.clone(),
            name: String::new(),
            role: role.into(),
            secret_hash: k.secret_hash.clone(),
            created_at: 1,
            revoked_at: None,
            task_types,
        })
        .await
        .expect("put key");
    Key {
        id: k.key_id,
        secret: k.secret,
    }
}

async fn token(s: &TestServer, key: &Key) -> String {
    let resp = s
        .client
        .post(s.url("/token"))
        .json(&json!({"keyId": key.id, "keySecret": key.secret}))
        .send()
        .await
        .expect("token request");
    let v = expect_json(resp, StatusCode::OK).await;
    v["token"].as_str().expect("a token").to_string()
}

async fn auth_server(token_ttl: Duration) -> TestServer {
    TestServer::with_config(baton_server::ServerConfig {
        auth: AuthConfig {
            mode: AuthMode::On,
            token_ttl,
            ..AuthConfig::default()
        },
        ..Default::default()
    })
    .await
}

async fn whoami(s: &TestServer, token: Option<&str>) -> reqwest::Response {
    let mut req = s.client.get(s.url("/token/whoami"));
    if let Some(t) = token {
        req = req.header("x-authorization", t);
    }
    req.send().await.expect("whoami")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_the_callers_role_or_says_authentication_is_off() {
    let open = TestServer::spawn().await;
    let v = expect_json(whoami(&open, None).await, StatusCode::OK).await;
    assert_eq!(v, json!({"authentication": false}));

    let s = auth_server(Duration::from_secs(3600)).await;
    let viewer = put_key(&s, "viewer", None).await;
    let worker = put_key(&s, "worker", Some(vec!["build".into()])).await;
    let v = expect_json(whoami(&s, None).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(v["error"], "UNAUTHENTICATED");

    let t = token(&s, &viewer).await;
    let v = expect_json(whoami(&s, Some(&t)).await, StatusCode::OK).await;
    assert_eq!(v["authentication"], true);
    assert_eq!(v["role"], "viewer");
    assert_eq!(v["keyId"], viewer.id.as_str());
    assert_eq!(v["taskTypes"], Value::Null);
    let expires = v["expiresAt"].as_i64().expect("expiresAt");
    let now = baton_runtime::Clock::System.now_ms();
    assert!(
        expires > now && expires <= now + 3_601_000,
        "{expires} vs {now}"
    );
    let body = v.to_string();
    assert!(!body.contains(&t) && !body.contains(&viewer.secret));

    // Every role may ask, the worker included; basic auth has no expiry.
    let t = token(&s, &worker).await;
    let v = expect_json(whoami(&s, Some(&t)).await, StatusCode::OK).await;
    assert_eq!(
        (v["role"].clone(), v["taskTypes"].clone()),
        (json!("worker"), json!(["build"]))
    );
    let basic = s
        .client
        .get(s.url("/token/whoami"))
        .basic_auth(&viewer.id, Some(&viewer.secret))
        .send()
        .await
        .unwrap();
    let v = expect_json(basic, StatusCode::OK).await;
    assert_eq!(v["expiresAt"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_stream_takes_a_header_token_and_ends_when_it_expires() {
    let s = auth_server(Duration::from_secs(3)).await;
    let viewer = put_key(&s, "viewer", None).await;
    let stream_url = format!("{}/api/events/stream", s.root);
    let anon = s.client.get(&stream_url).send().await.unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);

    let t = token(&s, &viewer).await;
    let mut resp = s
        .client
        .get(&stream_url)
        .header("x-authorization", &t)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let first = resp.chunk().await.unwrap().expect("a first event");
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));
    // The token lives 2–3 s; the stream must end by itself soon after (bounded wait).
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while resp.chunk().await.ok().flatten().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its token");
    let again = s
        .client
        .get(&stream_url)
        .header("x-authorization", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::UNAUTHORIZED,
        "the token expired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_stream_ends_soon_after_its_key_is_revoked() {
    // The token would live an hour; the key cache is short, so a revocation is seen quickly.
    let s = TestServer::with_config(baton_server::ServerConfig {
        auth: AuthConfig {
            mode: AuthMode::On,
            token_ttl: Duration::from_secs(3600),
            key_cache_ttl: Duration::from_millis(200),
            ..AuthConfig::default()
        },
        ..Default::default()
    })
    .await;
    let viewer = put_key(&s, "viewer", None).await;
    let t = token(&s, &viewer).await;
    let stream_url = format!("{}/api/events/stream", s.root);
    let mut resp = s
        .client
        .get(&stream_url)
        .header("x-authorization", &t)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let first = resp.chunk().await.unwrap().expect("a first event");
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));

    let revoked = s
        .runtime
        .as_ref()
        .expect("in-process server")
        .store()
        .revoke_api_key(&viewer.id, 2)
        .await
        .expect("revoke");
    assert!(revoked);
    // Bounded wait, far below the token's hour: the stream must end by itself.
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while resp.chunk().await.ok().flatten().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its key's revocation");
    let again = whoami(&s, Some(&t)).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}
