//! Scenarios of Conductor's `WorkflowAndTaskConfigurationSpec`, `FailureWorkflowSpec` and
//! `SetCorrelationIdTaskSpec` that the other tests did not cover, with the same expectations,
//! written for Baton with its own definitions. Time is moved with a manual clock, never slept.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn worker(name: &str, reference: &str) -> Value {
    json!({"name": name, "taskReferenceName": reference, "type": "SIMPLE"})
}

async fn manual() -> TestServer {
    TestServer::with_manual_clock(baton_runtime::RuntimeConfig::default()).await
}

async fn work(s: &TestServer, id: &str, task_type: &str, output: Value) -> Value {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, output).await;
    t
}

// ---- WorkflowAndTaskConfigurationSpec ------------------------------------------------------

#[tokio::test]
async fn the_workflow_input_template_fills_what_the_input_leaves_out() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "cfg_template", "version": 1,
        "inputTemplate": {
            "param1": {"nested_object": {"nested_key": "nested_value"}},
            "param2": ["list", "of", "strings"],
            "param3": "from the template"
        },
        "tasks": [worker("cfg_t1", "t1")],
        "outputParameters": {
            "output": "${t1.output.op}",
            "param1": "${workflow.input.param1}",
            "param2": "${workflow.input.param2}",
            "param3": "${workflow.input.param3}"
        }
    }))
    .await;
    let id = s
        .start("cfg_template", json!({"param3": "external string"}))
        .await;
    work(&s, &id, "cfg_t1", json!({"op": "task1.done"})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(
        w["output"],
        json!({
            "output": "task1.done",
            "param3": "external string",
            "param2": ["list", "of", "strings"],
            "param1": {"nested_object": {"nested_key": "nested_value"}}
        })
    );
}

#[tokio::test]
async fn the_task_definition_input_template_is_resolved_into_the_task_input() {
    let s = TestServer::spawn().await;
    s.register_task_def(
        json!({"name": "cfg_templated", "inputTemplate": {"http_request": {
            "method": "GET",
            "uri": "/get/something",
            "body": {
                "inputPaths": ["${workflow.input.path1}", "${workflow.input.path2}"],
                "requestDetails": "${workflow.input.requestDetails}",
                "outputPath": "${workflow.input.outputPath}"
            }
        }}}),
    )
    .await;
    s.register_workflow(json!({"name": "cfg_templated_wf", "version": 1,
        "tasks": [worker("cfg_templated", "t0")]}))
        .await;
    let id = s
        .start(
            "cfg_templated_wf",
            json!({"path1": "file://path1", "path2": "file://path2",
                   "outputPath": "s3://bucket/outputPath",
                   "requestDetails": {"key1": "value1", "key2": 42}}),
        )
        .await;
    let w = s.workflow(&id).await;
    expect_shape(&w, &[("cfg_templated", "SCHEDULED")]);
    let req = &w["tasks"][0]["inputData"]["http_request"];
    assert_eq!(req["method"], "GET");
    assert_eq!(req["uri"], "/get/something");
    assert_eq!(
        req["body"],
        json!({
            "inputPaths": ["file://path1", "file://path2"],
            "requestDetails": {"key1": "value1", "key2": 42},
            "outputPath": "s3://bucket/outputPath"
        }),
        "{w:#}"
    );
}

/// A workflow ended by its own timeout is retried: its canceled task runs again, and its
/// timeout counts from the retry (`lastRetriedTime`), not from the start.
#[tokio::test]
async fn retrying_a_workflow_that_timed_out_runs_its_canceled_task_again() {
    let s = manual().await;
    s.register_workflow(json!({
        "name": "cfg_wf_timeout", "version": 1,
        "timeoutPolicy": "TIME_OUT_WF", "timeoutSeconds": 5,
        "tasks": [worker("cfg_to_1", "t1"), worker("cfg_to_2", "t2")]
    }))
    .await;
    let id = s.start("cfg_wf_timeout", json!({})).await;
    let polled = s.poll_one("cfg_to_1").await;
    s.advance(Duration::from_secs(6)).await;
    let w = s.wait_for_status(&id, "TIMED_OUT", WAIT).await;
    expect_shape(&w, &[("cfg_to_1", "CANCELED")]);
    assert_eq!(w["lastRetriedTime"], 0);

    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_ne!(w["lastRetriedTime"], 0);
    expect_shape(&w, &[("cfg_to_1", "CANCELED"), ("cfg_to_1", "SCHEDULED")]);

    // The late answer of the canceled attempt changes nothing (ADR 3).
    s.complete(&polled, json!({"late": true})).await;
    s.advance(Duration::from_secs(4)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "5 s count from the retry: {w:#}");
    expect_shape(&w, &[("cfg_to_1", "CANCELED"), ("cfg_to_1", "SCHEDULED")]);
    work(&s, &id, "cfg_to_1", json!({})).await;
    work(&s, &id, "cfg_to_2", json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("cfg_to_1", "CANCELED"),
            ("cfg_to_1", "COMPLETED"),
            ("cfg_to_2", "COMPLETED"),
        ],
    );
}

/// A WAIT task whose task definition has a timeout is timed out like a worker task and
/// retried per its definition; the new attempt waits, and completing it moves on.
#[tokio::test]
async fn a_wait_task_times_out_by_its_task_definition_and_is_retried() {
    let s = manual().await;
    s.register_task_def(json!({"name": "cfg_wait_timeout", "timeoutSeconds": 2,
        "responseTimeoutSeconds": 2, "retryCount": 1, "timeoutPolicy": "RETRY",
        "retryDelaySeconds": 0}))
        .await;
    s.register_workflow(json!({"name": "cfg_wait_wf", "version": 1, "tasks": [
        {"name": "cfg_wait_timeout", "taskReferenceName": "wait0", "type": "WAIT"},
        worker("cfg_after_wait", "t1")
    ]}))
    .await;
    let id = s.start("cfg_wait_wf", json!({})).await;
    expect_shape(&s.workflow(&id).await, &[("WAIT", "IN_PROGRESS")]);
    s.advance(Duration::from_secs(3)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("WAIT", "TIMED_OUT"), ("WAIT", "IN_PROGRESS")]);
    assert!(
        w["tasks"][0]["reasonForIncompletion"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{w:#}"
    );

    let resp = s
        .post_json(&format!("/tasks/{id}/wait0/COMPLETED"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    expect_shape(
        &w,
        &[
            ("WAIT", "TIMED_OUT"),
            ("WAIT", "COMPLETED"),
            ("cfg_after_wait", "SCHEDULED"),
        ],
    );
    work(&s, &id, "cfg_after_wait", json!({})).await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;
}

/// A HUMAN task (an approval) with a TIME_OUT_WF task definition times the workflow out; a
/// WAIT without a registered definition waits for as long as it takes.
#[tokio::test]
async fn a_human_task_timeout_ends_the_workflow_and_an_undefined_wait_never_times_out() {
    let s = manual().await;
    s.register_task_def(
        json!({"name": "cfg_approval", "timeoutSeconds": 60, "responseTimeoutSeconds": 60,
        "timeoutPolicy": "TIME_OUT_WF", "retryCount": 0}),
    )
    .await;
    s.register_workflow(json!({"name": "cfg_human_wf", "version": 1, "tasks": [
        {"name": "cfg_approval", "taskReferenceName": "approve", "type": "HUMAN"}]}))
        .await;
    s.register_workflow(json!({"name": "cfg_plain_wait", "version": 1, "tasks": [
        {"name": "cfg_unregistered_wait", "taskReferenceName": "w", "type": "WAIT"}]}))
        .await;
    let human = s.start("cfg_human_wf", json!({})).await;
    let plain = s.start("cfg_plain_wait", json!({})).await;
    s.advance(Duration::from_secs(30)).await;
    assert_eq!(s.workflow(&human).await["status"], "RUNNING");
    s.advance(Duration::from_secs(31)).await;
    let w = s.workflow(&human).await;
    assert_eq!(w["status"], "TIMED_OUT", "{w:#}");
    expect_shape(&w, &[("HUMAN", "TIMED_OUT")]);
    s.advance(Duration::from_secs(24 * 3600)).await;
    let w = s.workflow(&plain).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("WAIT", "IN_PROGRESS")]);
}

#[tokio::test]
async fn a_completed_workflow_is_rerun_from_a_task_then_from_the_start() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "cfg_rerun", "version": 1,
        "tasks": [
            worker("cfg_r1", "t1"),
            {"name": "cfg_r2", "taskReferenceName": "t2", "type": "SIMPLE",
             "inputParameters": {"tp1": "${workflow.input.param1}", "tp2": "${t1.output.op}"}}
        ],
        "outputParameters": {"o3": "${t2.output.done}"}}))
        .await;
    let id = s.start("cfg_rerun", json!({"param1": "p1 value"})).await;
    work(&s, &id, "cfg_r1", json!({"op": "task1.done"})).await;
    work(&s, &id, "cfg_r2", json!({"done": 1})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let second = w["tasks"][1]["taskId"].clone();

    let resp = s
        .post_json(
            &format!("/workflow/{id}/rerun"),
            &json!({"reRunFromWorkflowId": id, "reRunFromTaskId": second}),
        )
        .await;
    assert_eq!(expect_status(resp, StatusCode::OK).await, id);
    expect_shape(
        &s.workflow(&id).await,
        &[("cfg_r1", "COMPLETED"), ("cfg_r2", "SCHEDULED")],
    );
    let t = work(&s, &id, "cfg_r2", json!({"done": 2})).await;
    assert_eq!(
        t["inputData"],
        json!({"tp1": "p1 value", "tp2": "task1.done"})
    );
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["output"]["o3"], 2);

    let resp = s
        .post_json(
            &format!("/workflow/{id}/rerun"),
            &json!({"reRunFromWorkflowId": id}),
        )
        .await;
    assert_eq!(expect_status(resp, StatusCode::OK).await, id);
    expect_shape(&s.workflow(&id).await, &[("cfg_r1", "SCHEDULED")]);
    work(&s, &id, "cfg_r1", json!({"op": "task1.done"})).await;
    let t = work(&s, &id, "cfg_r2", json!({"done": 3})).await;
    assert_eq!(
        t["inputData"],
        json!({"tp1": "p1 value", "tp2": "task1.done"})
    );
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(&w, &[("cfg_r1", "COMPLETED"), ("cfg_r2", "COMPLETED")]);
    assert_eq!(w["output"]["o3"], 3);
}

// ---- FailureWorkflowSpec -------------------------------------------------------------------

/// A child failed by its TERMINATE fails its parent, whose failure workflow gets the parent's
/// id, the SUB_WORKFLOW task as the failed task, and the parent's correlation id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_failed_in_a_sub_workflow_starts_the_parents_failure_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "cfg_on_failure", "version": 1, "tasks": [
        {"name": "noop", "taskReferenceName": "noop", "type": "NOOP"}]}))
        .await;
    s.register_workflow(json!({"name": "cfg_failing_child", "version": 1, "tasks": [
        {"name": "lambda", "taskReferenceName": "lambdaTask1", "type": "LAMBDA",
         "inputParameters": {"a": "${workflow.input.a}", "scriptExpression": "return $.a + 1;"}},
        {"name": "terminate", "taskReferenceName": "terminate0", "type": "TERMINATE",
         "inputParameters": {"terminationStatus": "FAILED"}}
    ]}))
    .await;
    s.register_workflow(json!({"name": "cfg_failing_parent", "version": 1,
    "failureWorkflow": "cfg_on_failure",
    "tasks": [
        {"name": "lambda", "taskReferenceName": "lambdaTask1", "type": "LAMBDA",
         "inputParameters": {"a": "${workflow.input.a}",
                             "scriptExpression": "return $.a + 1;"}},
        {"name": "sub", "taskReferenceName": "test_task_failed_sub_wf",
         "type": "SUB_WORKFLOW", "subWorkflowParam": {"name": "cfg_failing_child"},
         "inputParameters": {"a": "${workflow.input.a}"}}
    ]}))
    .await;
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "cfg_failing_parent", "input": {"a": 1},
                    "correlationId": "cfg-corr"}),
        )
        .await;
    let id = expect_status(resp, StatusCode::OK).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(&w, &[("LAMBDA", "COMPLETED"), ("SUB_WORKFLOW", "FAILED")]);
    let sub = tasks_by_ref(&w, "test_task_failed_sub_wf")[0].clone();
    let child = s.workflow(sub["subWorkflowId"].as_str().unwrap()).await;
    assert_eq!(child["status"], "FAILED");
    expect_shape(
        &child,
        &[("LAMBDA", "COMPLETED"), ("TERMINATE", "COMPLETED")],
    );
    assert!(
        child["reasonForIncompletion"]
            .as_str()
            .unwrap_or_default()
            .contains("Workflow is FAILED by TERMINATE task"),
        "{child:#}"
    );
    let failure_id = w["output"]["conductor.failure_workflow"]
        .as_str()
        .unwrap_or_else(|| panic!("no failure workflow: {w:#}"))
        .to_string();
    // The failure workflow is started after the parent's commit (a follow-up): wait for it.
    let deadline = std::time::Instant::now() + WAIT;
    for _ in 0..1_000 {
        let status = s.get(&format!("/workflow/{failure_id}")).await.status();
        if status != StatusCode::NOT_FOUND || std::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fw = s.wait_for_status(&failure_id, "COMPLETED", WAIT).await;
    assert_eq!(fw["correlationId"], "cfg-corr");
    assert_eq!(fw["input"]["workflowId"], id.as_str());
    assert_eq!(fw["input"]["failureTaskId"], sub["taskId"]);
    expect_shape(&fw, &[("NOOP", "COMPLETED")]);
}

// ---- SetCorrelationIdTaskSpec --------------------------------------------------------------

fn set_correlation_workflow() -> Value {
    json!({"name": "cfg_set_correlation", "version": 1,
        "tasks": [{"name": "set_correlation_id", "taskReferenceName": "set_correlation_id",
                   "type": "SET_CORRELATION_ID",
                   "inputParameters": {"correlationId": "${workflow.input.correlationId}"}}],
        "outputParameters": {"correlationId": "${set_correlation_id.output.correlationId}"}})
}

#[tokio::test]
async fn set_correlation_id_sets_it_on_the_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(set_correlation_workflow()).await;
    let id = s
        .start(
            "cfg_set_correlation",
            json!({"correlationId": "my-unique-correlation-id"}),
        )
        .await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(&w, &[("SET_CORRELATION_ID", "COMPLETED")]);
    assert_eq!(
        w["output"],
        json!({"correlationId": "my-unique-correlation-id"})
    );
    assert_eq!(w["correlationId"], "my-unique-correlation-id");
    // The new correlation id finds the workflow.
    let found = s
        .get_json(
            "/workflow/cfg_set_correlation/correlated/my-unique-correlation-id?includeClosed=true",
        )
        .await;
    let ids: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["workflowId"].as_str())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);
}

#[tokio::test]
async fn set_correlation_id_without_one_fails_for_good() {
    let s = TestServer::spawn().await;
    s.register_workflow(set_correlation_workflow()).await;
    let id = s.start("cfg_set_correlation", json!({})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(&w, &[("SET_CORRELATION_ID", "FAILED_WITH_TERMINAL_ERROR")]);
    assert_eq!(
        w["tasks"][0]["reasonForIncompletion"],
        "A non-empty String value must be provided for 'correlationId'"
    );
}
