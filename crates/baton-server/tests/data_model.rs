//! Conductor's data model round-trips: every field of a TaskDef, WorkflowDef, WorkflowTask,
//! Workflow and Task, as Conductor's classes declare them, is stored and returned as given,
//! and empty collections come back as Conductor returns them.

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
        "runtimeMetadata": ["region", "tier"],
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

    // Absent, Conductor's defaults: the listener flag is on, runtime metadata `[]`; `null`
    // for a list is taken as absent, as Jackson does.
    let resp = s
        .post_json(
            "/metadata/taskdefs",
            &json!([{"name": "dm_defaults"}, {"name": "dm_nulls", "runtimeMetadata": null}]),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    for name in ["dm_defaults", "dm_nulls"] {
        let got = s.get_json(&format!("/metadata/taskdefs/{name}")).await;
        assert_eq!(got["taskStatusListenerEnabled"], true, "{got}");
        assert_eq!(got["runtimeMetadata"], json!([]), "{got}");
    }
}

/// Every key of `sent` is in `got` with the same value; objects may carry more keys (the
/// defaults of nested nodes), arrays must have the same length.
fn assert_contains(got: &Value, sent: &Value, path: &str) {
    match (got, sent) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, v) in w {
                let at = format!("{path}.{k}");
                let Some(gv) = g.get(k) else {
                    panic!("{at} is missing: {got}")
                };
                assert_contains(gv, v, &at);
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}: {got} vs {sent}");
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                assert_contains(gv, wv, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(got, sent, "{path}"),
    }
}

/// A worker node with every scalar and list field of Conductor's `WorkflowTask` set.
fn full_simple_node() -> Value {
    json!({
        "name": "dm_worker", "taskReferenceName": "w1", "type": "SIMPLE",
        "description": "a worker", "inputParameters": {"x": "${workflow.input.x}"},
        "dynamicTaskNameParam": "dtn", "caseValueParam": "cvp", "caseExpression": "ce",
        "scriptExpression": "se", "dynamicForkTasksParam": "dft",
        "dynamicForkTasksInputParamName": "dfti", "dynamicForkJoinTasksParam": "dfj",
        "startDelay": 2, "sink": "conductor", "optional": true,
        "taskDefinition": {"name": "dm_worker", "retryCount": 1, "responseTimeoutSeconds": 30},
        "rateLimited": true, "defaultExclusiveJoinTask": ["w0"], "asyncComplete": true,
        "retryCount": 4,
        "onStateChange": {"onScheduled,onStart": [
            {"type": "dm_state_event", "payload": {"k": "${w1.status}"}}]},
        "permissive": true, "joinMode": "SYNC", "joinStatus": "COMPLETED",
        "cacheConfig": {"key": "${workflow.input.x}", "ttlInSecond": 60},
        "metadata": {"owner": "team-a"}
    })
}

/// Every field of Conductor's `WorkflowDef` (and `Auditable`), none at its default, with
/// nodes of each kind that nests others.
fn full_workflow_def() -> Value {
    json!({
        "name": "dm_wf", "description": "every field", "version": 3,
        "tasks": [
            full_simple_node(),
            {"name": "sw", "taskReferenceName": "sw", "type": "SWITCH",
             "evaluatorType": "value-param", "expression": "pick",
             "inputParameters": {"pick": "${workflow.input.x}"},
             "decisionCases": {"a": [{"name": "dm_worker", "taskReferenceName": "in_a"}]},
             "defaultCase": [{"name": "dm_worker", "taskReferenceName": "in_default"}]},
            {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
             "forkTasks": [[{"name": "dm_worker", "taskReferenceName": "b1"}],
                           [{"name": "dm_worker", "taskReferenceName": "b2"}]]},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN",
             "joinOn": ["b1", "b2"]},
            {"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
             "loopCondition": "$.loop['iteration'] < 2", "items": "${workflow.input.list}",
             "loopOver": [{"name": "dm_worker", "taskReferenceName": "body"}]},
            {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
             "subWorkflowParam": {"name": "dm_child", "version": 2,
                                  "taskToDomain": {"*": "d1"},
                                  "idempotencyKey": "k", "idempotencyStrategy": "RETURN_EXISTING",
                                  "priority": 3}}
        ],
        "inputParameters": ["x", "list"],
        "outputParameters": {"y": "${w1.output.y}"},
        "failureWorkflow": "dm_cleanup", "schemaVersion": 2, "restartable": false,
        "workflowStatusListenerEnabled": true, "workflowStatusListenerSink": "conductor:sink",
        "ownerEmail": "owner@example.com", "timeoutPolicy": "TIME_OUT_WF",
        "timeoutSeconds": 600, "variables": {"v": 1}, "inputTemplate": {"x": "default"},
        "rateLimitConfig": {"rateLimitKey": "${workflow.input.x}", "concurrentExecLimit": 2},
        "inputSchema": {"name": "wf_in", "version": 1, "type": "JSON"},
        "outputSchema": {"name": "wf_out", "version": 1, "type": "JSON"},
        "enforceSchema": false, "metadata": {"team": "payments"},
        "cacheConfig": {"key": "k", "ttlInSecond": 5}, "maskedFields": ["secret"],
        "ownerApp": "billing", "createdBy": "alice", "updatedBy": "bob"
    })
}

#[tokio::test]
async fn every_workflow_def_and_workflow_task_field_is_returned_as_given() {
    let s = TestServer::spawn().await;
    let sent = full_workflow_def();
    let resp = s.post_json("/metadata/workflow", &sent).await;
    expect_status(resp, StatusCode::OK).await;
    let got = s.get_json("/metadata/workflow/dm_wf?version=3").await;
    assert_contains(&got, &sent, "def");
    // The worker node exactly as sent: nothing dropped, nothing added but defaults of
    // fields it did not send.
    assert_eq!(got["tasks"][0]["joinStatus"], "COMPLETED", "{got}");
    assert_eq!(
        got["tasks"][0]["onStateChange"],
        sent["tasks"][0]["onStateChange"]
    );
}

#[tokio::test]
async fn empty_collections_of_a_node_come_back_as_conductor_returns_them() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("dm_plain", &["dm_plain_task"]))
        .await;
    let got = s.get_json("/metadata/workflow/dm_plain").await;
    let node = &got["tasks"][0];
    for (key, empty) in [
        ("decisionCases", json!({})),
        ("defaultCase", json!([])),
        ("forkTasks", json!([])),
        ("joinOn", json!([])),
        ("loopOver", json!([])),
        ("defaultExclusiveJoinTask", json!([])),
        ("onStateChange", json!({})),
        ("metadata", json!({})),
        ("inputParameters", json!({})),
        ("permissive", json!(false)),
        ("optional", json!(false)),
        ("asyncComplete", json!(false)),
        ("startDelay", json!(0)),
    ] {
        assert_eq!(node[key], empty, "{key}: {node}");
    }
    // Absent optional fields stay absent (Conductor's NON_NULL), never `null`.
    for key in [
        "joinStatus",
        "cacheConfig",
        "subWorkflowParam",
        "retryCount",
    ] {
        assert!(node.get(key).is_none(), "{key}: {node}");
    }
    // The definition's own collections and the execution's.
    for key in ["inputParameters", "maskedFields"] {
        assert_eq!(got[key], json!([]), "{key}: {got}");
    }
    for key in ["outputParameters", "variables", "inputTemplate", "metadata"] {
        assert_eq!(got[key], json!({}), "{key}: {got}");
    }
    let id = s.start("dm_plain", json!({})).await;
    let wf = s.workflow(&id).await;
    for key in ["failedReferenceTaskNames", "failedTaskNames", "history"] {
        assert_eq!(wf[key], json!([]), "{key}: {wf}");
    }
    for key in ["output", "variables", "taskToDomain"] {
        assert_eq!(wf[key], json!({}), "{key}: {wf}");
    }
    assert_eq!(wf["rateLimited"], false, "{wf}");
    let task = &wf["tasks"][0];
    assert_eq!(task["workflowTask"]["forkTasks"], json!([]), "{task}");
    assert_eq!(task["outputData"], json!({}), "{task}");
    // Omitted while empty, as Conductor does; an SDK's empty ExecutionMetadata (serialised
    // with its `empty` flag) leaves it empty.
    for key in ["runtimeMetadata", "executionMetadata"] {
        assert!(task.get(key).is_none(), "{key}: {task}");
    }
    let polled = s.poll_one("dm_plain_task").await;
    let resp = s
        .update(&json!({
            "workflowInstanceId": id, "taskId": polled["taskId"], "status": "COMPLETED",
            "executionMetadata": {"empty": true, "additionalContext": {},
                                  "additionalContextMap": {}, "serverSendTime": null}
        }))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let wf = s
        .wait_for_status(&id, "COMPLETED", std::time::Duration::from_secs(15))
        .await;
    let task = &wf["tasks"][0];
    assert!(task.get("executionMetadata").is_none(), "{task}");
}

#[tokio::test]
async fn workflow_and_task_fields_set_by_the_caller_and_the_worker_round_trip() {
    let s = TestServer::spawn().await;
    let resp = s
        .post_json(
            "/metadata/taskdefs",
            &json!([{"name": "dm_iso", "isolationGroupId": "iso-7", "executionNameSpace": "ns-7",
                     "responseTimeoutSeconds": 60}]),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    s.register_workflow(simple_workflow("dm_run", &["dm_iso"]))
        .await;
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "dm_run", "version": 1, "input": {"a": 1},
                    "externalInputPayloadStoragePath": "s3://bucket/in.json"}),
        )
        .await;
    let id = expect_status(resp, StatusCode::OK).await;
    let wf = s.workflow(&id).await;
    assert_eq!(
        wf["externalInputPayloadStoragePath"], "s3://bucket/in.json",
        "{wf}"
    );

    // The task carries its definition's isolation group and namespace, from the poll on.
    let task = s.poll_one("dm_iso").await;
    assert_eq!(task["isolationGroupId"], "iso-7", "{task}");
    assert_eq!(task["executionNameSpace"], "ns-7", "{task}");
    let timing = json!({
        "serverSendTime": 1_700_000_000_000_i64, "clientReceiveTime": 1_700_000_000_005_i64,
        "executionStartTime": 1_700_000_000_006_i64, "executionEndTime": 1_700_000_000_090_i64,
        "clientSendTime": 1_700_000_000_091_i64, "pollNetworkLatency": 5,
        "updateNetworkLatency": 3, "additionalContext": {"host": "w-1"}
    });
    let resp = s
        .update(&json!({
            "workflowInstanceId": id, "taskId": task["taskId"], "status": "COMPLETED",
            "outputData": {"done": true},
            "externalOutputPayloadStoragePath": "s3://bucket/out.json",
            "executionMetadata": timing
        }))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let wf = s
        .wait_for_status(&id, "COMPLETED", std::time::Duration::from_secs(15))
        .await;
    let done = &tasks_by_ref(&wf, "dm_iso_ref")[0];
    assert_eq!(done["isolationGroupId"], "iso-7", "{done}");
    assert_eq!(done["executionNameSpace"], "ns-7", "{done}");
    assert_eq!(
        done["externalOutputPayloadStoragePath"], "s3://bucket/out.json",
        "{done}"
    );
    assert_eq!(done["executionMetadata"], timing, "{done}");
    let by_id = s
        .get_json(&format!("/tasks/{}", task["taskId"].as_str().unwrap()))
        .await;
    assert_eq!(by_id["executionMetadata"], timing, "{by_id}");

    // The summaries of a search carry the payload paths too.
    let found = s
        .get_json(&format!("/workflow/search?query=workflowId%3D{id}"))
        .await;
    assert_eq!(
        found["results"][0]["externalInputPayloadStoragePath"], "s3://bucket/in.json",
        "{found}"
    );
    let found = s
        .get_json(&format!("/tasks/search?query=workflowId%3D{id}"))
        .await;
    assert_eq!(
        found["results"][0]["externalOutputPayloadStoragePath"], "s3://bucket/out.json",
        "{found}"
    );
}

#[tokio::test]
async fn definitions_filter_by_the_classifier_conductor_derives_from_metadata() {
    let s = TestServer::spawn().await;
    for (name, metadata) in [
        ("dm_plain_def", json!({})),
        ("dm_tagged", json!({"classifier": "report"})),
        ("dm_agent_sdk", json!({"agent_sdk": "py-1.0"})),
        ("dm_agent_def", json!({"agentDef": {"model": "x"}})),
        ("dm_blank", json!({"classifier": " ", "agent_sdk": null})),
    ] {
        let mut def = simple_workflow(name, &["dm_cls_task"]);
        def["metadata"] = metadata;
        s.register_workflow(def).await;
    }
    let names = |v: Value| -> Vec<String> {
        let mut n: Vec<String> = as_array(v)
            .iter()
            .map(|d| d["name"].as_str().unwrap_or_default().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(s.get_json("/metadata/workflow?classifier=agent").await),
        ["dm_agent_def", "dm_agent_sdk"]
    );
    assert_eq!(
        names(s.get_json("/metadata/workflow?classifier=workflow").await),
        ["dm_blank", "dm_plain_def"]
    );
    assert_eq!(
        names(
            s.get_json("/metadata/workflow?classifier=report,agent")
                .await
        ),
        ["dm_agent_def", "dm_agent_sdk", "dm_tagged"]
    );
    assert_eq!(
        s.get_json("/metadata/workflow")
            .await
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    assert_eq!(
        s.get_json("/metadata/workflow?classifier=")
            .await
            .as_array()
            .map(Vec::len),
        Some(5)
    );
}
