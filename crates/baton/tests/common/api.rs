//! Small JSON-over-HTTP helpers for tests that drive a real server.

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> Value {
    let client = reqwest::Client::new();
    let mut req = client.request(method, &url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{url}: HTTP {status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

pub async fn post(base: &str, path: &str, body: Value) -> Value {
    call(reqwest::Method::POST, format!("{base}{path}"), Some(body)).await
}

pub async fn get(base: &str, path: &str) -> Value {
    call(reqwest::Method::GET, format!("{base}{path}"), None).await
}

pub async fn start(base: &str, body: Value) -> String {
    match post(base, "/api/workflow", body).await {
        Value::String(id) => id,
        other => panic!("start answered {other}"),
    }
}

/// Waits until every workflow has ended (or `limit` passes) and returns them with tasks.
pub async fn wait_ended(base: &str, ids: &[String], limit: Duration) -> Vec<Value> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut done: BTreeMap<String, Value> = BTreeMap::new();
    while done.len() < ids.len() && started.elapsed() < limit {
        let open: Vec<String> = ids
            .iter()
            .filter(|id| !done.contains_key(*id))
            .cloned()
            .collect();
        for id in &open {
            let Ok(resp) = client
                .get(format!("{base}/api/workflow/{id}?includeTasks=true"))
                .send()
                .await
            else {
                continue;
            };
            let Ok(wf) = resp.json::<Value>().await else {
                continue;
            };
            if wf["status"] != "RUNNING" && wf["status"] != "PAUSED" {
                done.insert(id.clone(), wf);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing: Vec<&String> = ids.iter().filter(|id| !done.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "still running after {limit:?}: {missing:?}"
    );
    ids.iter().map(|id| done[id].clone()).collect()
}
