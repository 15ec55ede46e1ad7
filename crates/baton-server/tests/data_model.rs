//! Conductor's data model round-trips: every field of a TaskDef, as Conductor's class
//! declares it, is stored and returned as given.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Every field of Conductor's `TaskDef` (and its `Auditable` owner fields), none at its
/// default, so a dropped field cannot pass by coincidence.
fn full_task_def() -> Value {
    json!({
        "name": "dm_every_field",
        "description": "all of them",
        "retryCount": 7,
        "timeoutSeconds": 900,
        "inputKeys": ["a", "b"],
        "outputKeys": ["c"],
        "timeoutPolicy": "ALERT_ONLY",
        "retryLogic": "LINEAR_BACKOFF",
        "retryDelaySeconds": 4,
        "responseTimeoutSeconds": 120,
        "concurrentExecLimit": 3,
        "inputTemplate": {"k": "v", "n": [1, 2]},
        "rateLimitPerFrequency": 50,
        "rateLimitFrequencyInSeconds": 10,
        "isolationGroupId": "iso-1",
        "executionNameSpace": "ns-1",
        "ownerEmail": "owner@example.com",
        "pollTimeoutSeconds": 30,
        "backoffScaleFactor": 3,
        "maxRetryDelaySeconds": 600,
        "backoffJitterMs": 250,
        "baseType": "SIMPLE",
        "totalTimeoutSeconds": 3600,
        "taskStatusListenerEnabled": false,
        "inputSchema": {"name": "in", "version": 2, "type": "JSON", "data": {"type": "object"}},
        "outputSchema": {"name": "out", "version": 1, "type": "JSON", "externalRef": "x"},
        "enforceSchema": true,
        "metadata": {"team": "payments", "tier": 1},
        "version": 4,
        "ownerApp": "billing",
        "createdBy": "alice",
        "updatedBy": "bob"
    })
}

#[tokio::test]
async fn every_task_def_field_is_returned_as_given() {
    let s = TestServer::spawn().await;
    let sent = full_task_def();
    let resp = s.post_json("/metadata/taskdefs", &json!([sent])).await;
    expect_status(resp, StatusCode::OK).await;
    let got = s.get_json("/metadata/taskdefs/dm_every_field").await;
    for (key, value) in sent.as_object().unwrap() {
        assert_eq!(&got[key], value, "field {key}: {got}");
    }

    // Absent, Conductor's defaults: the listener flag is on, metadata empty.
    let resp = s
        .post_json("/metadata/taskdefs", &json!([{"name": "dm_defaults"}]))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let got = s.get_json("/metadata/taskdefs/dm_defaults").await;
    assert_eq!(got["taskStatusListenerEnabled"], true, "{got}");
}
