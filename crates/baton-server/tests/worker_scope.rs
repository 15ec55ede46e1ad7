//! Worker keys limited to some task types, over real HTTP: polls (single and batch), updates,
//! logs, task reads, queue reads and task searches for other types answer 403 naming the type
//! and change nothing; the key's own types work as for any worker. Keys are written through
//! the server's own store, so this runs on SQLite and on PostgreSQL.

mod common;

use baton_server::auth::{keys, AuthConfig, AuthMode};
use baton_store::ApiKey;
use common::*;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Stores a key through the running server's store; answers a client sending its token.
async fn client_with_key(
    s: &TestServer,
    role: &str,
    task_types: Option<&[&str]>,
) -> reqwest::Client {
    let k = keys::make_key().expect("make key");
    let store = s.runtime.as_ref().expect("in-process server").store();
    store
        .put_api_key(ApiKey {
            key_id: k.key_id.clone(),
            name: format!("{role} key"),
            role: role.into(),
            secret_hash: k.secret_hash.clone(),
            created_at: 1,
            revoked_at: None,
            task_types: task_types.map(|t| t.iter().map(|s| s.to_string()).collect()),
        })
        .await
        .expect("put key");
    let resp = s
        .client
        .post(s.url("/token"))
        .json(&json!({"keyId": k.key_id, "keySecret": k.secret}))
        .send()
        .await
        .expect("token request");
    let body = expect_json(resp, StatusCode::OK).await;
    let token = body["token"].as_str().expect("token");
    let mut h = HeaderMap::new();
    h.insert(
        "x-authorization",
        HeaderValue::from_str(token).expect("token is a header value"),
    );
    reqwest::Client::builder()
        .default_headers(h)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// A 403 whose message names `task_type`.
async fn refused_naming(resp: reqwest::Response, task_type: &str) {
    expect_error(resp, StatusCode::FORBIDDEN, &[&format!("'{task_type}'")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_key_limited_to_task_types_is_refused_the_others() {
    let config = baton_server::ServerConfig {
        auth: AuthConfig {
            mode: AuthMode::On,
            ..AuthConfig::default()
        },
        ..Default::default()
    };
    let mut s = TestServer::with_config(config).await;
    // The helpers of the test server act as an admin from here on.
    s.client = client_with_key(&s, "admin", None).await;
    let worker = client_with_key(&s, "worker", Some(&["scope_mine"])).await;

    s.register_workflow(simple_workflow("scope_mine_flow", &["scope_mine"]))
        .await;
    s.register_workflow(simple_workflow("scope_other_flow", &["scope_other"]))
        .await;
    let mine = s.start("scope_mine_flow", json!({})).await;
    s.start("scope_mine_flow", json!({})).await;
    let other = s.start("scope_other_flow", json!({})).await;
    s.start("scope_other_flow", json!({})).await;

    // Polls for another type, single and batch, are refused and claim nothing.
    let get = |path: String| worker.get(s.url(&path)).send();
    refused_naming(
        get("/tasks/poll/scope_other".into()).await.unwrap(),
        "scope_other",
    )
    .await;
    refused_naming(
        get("/tasks/poll/batch/scope_other?count=5&timeout=0".into())
            .await
            .unwrap(),
        "scope_other",
    )
    .await;
    let depth = s.get_json("/tasks/queue/size?taskType=scope_other").await;
    assert_eq!(depth, 2, "the refused polls claimed nothing");

    // Its own type works.
    let polled: Vec<Value> = expect_json(
        get("/tasks/poll/batch/scope_mine?count=1&timeout=1000".into())
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
    .as_array()
    .cloned()
    .unwrap_or_default();
    assert_eq!(polled.len(), 1);
    let my_task = polled[0]["taskId"].as_str().unwrap().to_string();

    // A task of the other type, claimed by the admin: the worker may not update, log or
    // read it.
    let theirs = s.poll_one("scope_other").await;
    let their_id = theirs["taskId"].as_str().unwrap().to_string();
    let their_wf = theirs["workflowInstanceId"].as_str().unwrap().to_string();
    let result = json!({"taskId": their_id, "workflowInstanceId": their_wf, "status": "COMPLETED"});
    for path in ["/tasks", "/tasks/update-v2"] {
        let resp = worker.post(s.url(path)).json(&result).send().await.unwrap();
        refused_naming(resp, "scope_other").await;
    }
    let resp = worker
        .post(s.url(&format!("/tasks/{their_id}/log")))
        .body("from the wrong worker")
        .send()
        .await
        .unwrap();
    refused_naming(resp, "scope_other").await;
    refused_naming(
        get(format!("/tasks/{their_id}/log")).await.unwrap(),
        "scope_other",
    )
    .await;
    refused_naming(
        get(format!("/tasks/{their_id}")).await.unwrap(),
        "scope_other",
    )
    .await;
    let wf = s.workflow(&their_wf).await;
    assert_eq!(
        wf["status"], "RUNNING",
        "the refused update changed nothing"
    );
    assert_eq!(
        s.get(&format!("/tasks/{their_id}/log")).await.status(),
        StatusCode::NO_CONTENT,
        "the refused log line was not written"
    );

    // Queue reads: naming the other type is refused; listing all shows only its own.
    for path in [
        "/tasks/queue/size?taskType=scope_other",
        "/tasks/queue/sizes?taskType=scope_mine&taskType=scope_other",
        "/tasks/queue/polldata?taskType=scope_other",
        "/tasks/search?query=taskType%3Dscope_other",
        "/tasks/search-v2?query=taskType%3Dscope_other",
    ] {
        refused_naming(get(path.into()).await.unwrap(), "scope_other").await;
    }
    let all = expect_json(
        get("/tasks/queue/all".into()).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(all, json!({"scope_mine": 1}));
    let admin_all = s.get_json("/tasks/queue/all").await;
    assert_eq!(admin_all["scope_other"], 1, "{admin_all}");
    let stats = expect_json(
        get("/tasks/queue/stats".into()).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = stats
        .as_array()
        .map(|a| a.iter().filter_map(|q| q["queueName"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["scope_mine"], "{stats}");
    let verbose = expect_json(
        get("/tasks/queue/all/verbose".into()).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(verbose.get("scope_other").is_none(), "{verbose}");
    let found = expect_json(
        get("/tasks/search-v2".into()).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let results = found["results"].as_array().cloned().unwrap_or_default();
    assert!(!results.is_empty());
    assert!(
        results.iter().all(|t| t["taskType"] == "scope_mine"),
        "a search without types is narrowed to the key's: {found}"
    );

    // Its own task: read, log, update.
    assert_eq!(
        get(format!("/tasks/{my_task}")).await.unwrap().status(),
        StatusCode::OK
    );
    let logged = worker
        .post(s.url(&format!("/tasks/{my_task}/log")))
        .body("building")
        .send()
        .await
        .unwrap();
    assert_eq!(logged.status(), StatusCode::OK);
    let done = json!({"taskId": my_task, "workflowInstanceId": mine, "status": "COMPLETED"});
    let resp = worker
        .post(s.url("/tasks"))
        .json(&done)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    s.wait_for_status(&mine, "COMPLETED", Duration::from_secs(10))
        .await;
    assert_eq!(s.workflow(&other).await["status"], "RUNNING");
}
