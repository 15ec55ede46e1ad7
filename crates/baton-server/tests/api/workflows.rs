//! §2.4–2.6: starting, reading and terminating workflows; output parameters.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn start_both_ways_with_content_types() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("wf_start", &["st_task"]))
        .await;

    // StartWorkflowRequest form
    let resp = s
        .post_json("/workflow", &json!({"name": "wf_start", "input": {"a": 1}}))
        .await;
    assert!(
        content_type(&resp).starts_with("text/plain"),
        "start must answer text/plain, got {}",
        content_type(&resp)
    );
    let id1 = expect_status(resp, StatusCode::OK).await;
    assert!(!id1.is_empty() && !id1.starts_with('"'), "bare id: {id1}");

    // by-name form with query params; body is the input
    let resp = s
        .post_json(
            "/workflow/wf_start?version=1&correlationId=corr-42&priority=7",
            &json!({"b": "x"}),
        )
        .await;
    assert!(content_type(&resp).starts_with("text/plain"));
    let id2 = expect_status(resp, StatusCode::OK).await;
    assert_ne!(id1, id2);

    let resp = s.get(&format!("/workflow/{id1}")).await;
    let w1 = expect_json(resp, StatusCode::OK).await;
    assert_eq!(w1["workflowId"], id1.as_str());
    assert_eq!(w1["status"], "RUNNING");
    assert_eq!(w1["input"]["a"], 1);
    assert_eq!(w1["workflowName"], "wf_start");
    assert_eq!(w1["tasks"].as_array().unwrap().len(), 1, "{w1}");
    assert_eq!(w1["tasks"][0]["status"], "SCHEDULED");

    let w2 = s.workflow(&id2).await;
    assert_eq!(w2["correlationId"], "corr-42", "{w2}");
    assert_eq!(w2["priority"], 7, "{w2}");
    assert_eq!(w2["input"]["b"], "x");

    let status = s.get_json(&format!("/workflow/{id2}/status")).await;
    assert_eq!(status["status"], "RUNNING");
    assert_eq!(status["correlationId"], "corr-42");

    // includeTasks=false → empty tasks list
    let w = s
        .get_json(&format!("/workflow/{id1}?includeTasks=false"))
        .await;
    assert_eq!(w["workflowId"], id1.as_str());
    assert_eq!(w["tasks"].as_array().map_or(0, Vec::len), 0, "{w}");

    // v1 task update answers text/plain with the task id
    let task = s.poll_one("st_task").await;
    let resp = s
        .update(&json!({
            "taskId": task["taskId"],
            "workflowInstanceId": task["workflowInstanceId"],
            "status": "COMPLETED",
            "outputData": {"done": true},
        }))
        .await;
    assert!(content_type(&resp).starts_with("text/plain"));
    let body = expect_status(resp, StatusCode::OK).await;
    assert_eq!(body, task["taskId"].as_str().unwrap());
}

#[tokio::test]
async fn start_unknown_workflow_is_404_naming_it() {
    let s = TestServer::spawn().await;
    let resp = s
        .post_json("/workflow", &json!({"name": "no_such_wf", "input": {}}))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["no_such_wf"]).await;
    let resp = s.post_json("/workflow/no_such_wf_2", &json!({})).await;
    expect_error(resp, StatusCode::NOT_FOUND, &["no_such_wf_2"]).await;
    let resp = s
        .get("/workflow/00000000-0000-0000-0000-000000000000")
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &[]).await;
}

#[tokio::test]
async fn inline_workflow_def_runs() {
    let s = TestServer::spawn().await;
    let def = simple_workflow("wf_inline", &["inline_task"]);
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "wf_inline", "workflowDef": def, "input": {"k": "v"}}),
        )
        .await;
    let id = expect_status(resp, StatusCode::OK).await;
    // not registered
    let resp = s.get("/metadata/workflow/wf_inline").await;
    expect_error(resp, StatusCode::NOT_FOUND, &[]).await;

    let task = s.poll_one("inline_task").await;
    assert_eq!(task["workflowInstanceId"], id.as_str());
    s.complete(&task, json!({"r": 1})).await;
    let w = s
        .wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
    assert_eq!(w["output"]["r"], 1, "{w}");
}

#[tokio::test]
async fn output_parameters_and_five_sequential_tasks() {
    let s = TestServer::spawn().await;
    let names = ["seq1", "seq2", "seq3", "seq4", "seq5"];
    let mut def = simple_workflow("wf_seq", &names);
    def["outputParameters"] = json!({
        "first": "${seq1_ref.output.n}",
        "last": "${seq5_ref.output.n}",
        "sum": "total=${seq5_ref.output.acc}",
        "echo": "${workflow.input.tag}",
    });
    // each task gets the previous one's output
    for i in 1..5 {
        def["tasks"][i]["inputParameters"] =
            json!({"prev": format!("${{seq{}_ref.output.acc}}", i)});
    }
    s.register_workflow(def).await;
    let id = s.start("wf_seq", json!({"tag": "hello"})).await;

    let mut acc = 0;
    for (i, name) in names.iter().enumerate() {
        let task = s.poll_one(name).await;
        assert_eq!(task["referenceTaskName"], format!("{name}_ref"));
        if i > 0 {
            assert_eq!(task["inputData"]["prev"], acc, "{task}");
        }
        // only one task is ever scheduled at a time in a sequence
        let w = s.workflow(&id).await;
        assert_eq!(w["tasks"].as_array().unwrap().len(), i + 1);
        acc += i + 1;
        s.complete(&task, json!({"n": i + 1, "acc": acc})).await;
    }
    let w = s
        .wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
    assert_eq!(
        w["output"],
        json!({"first": 1, "last": 5, "sum": "total=15", "echo": "hello"})
    );
    assert!(w["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["status"] == "COMPLETED"));
}

#[tokio::test]
async fn terminate_cancels_pending_task_and_ignores_late_update() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("wf_term", &["term_task"]))
        .await;
    let id = s.start("wf_term", json!({})).await;
    let task = s.poll_one("term_task").await;

    let resp = s
        .delete(&format!("/workflow/{id}?reason=operator%20said%20stop"))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "TERMINATED", "{w}");
    assert_eq!(w["reasonForIncompletion"], "operator said stop", "{w}");
    assert_eq!(w["tasks"][0]["status"], "CANCELED", "{w}");

    // a late worker update is a 200 no-op
    let resp = s
        .update(&json!({
            "taskId": task["taskId"],
            "workflowInstanceId": id,
            "status": "COMPLETED",
            "outputData": {"late": true},
        }))
        .await;
    let body = expect_status(resp, StatusCode::OK).await;
    assert_eq!(body, task["taskId"].as_str().unwrap());
    let after = s.workflow(&id).await;
    assert_eq!(after["status"], "TERMINATED");
    assert_eq!(after["tasks"][0]["status"], "CANCELED");
    assert!(
        after["tasks"][0]["outputData"]
            .as_object()
            .is_none_or(|m| !m.contains_key("late")),
        "{after}"
    );

    // terminating a COMPLETED workflow → 409
    s.register_workflow(simple_workflow("wf_term2", &["term_task2"]))
        .await;
    let id2 = s.start("wf_term2", json!({})).await;
    let t2 = s.poll_one("term_task2").await;
    s.complete(&t2, json!({})).await;
    s.wait_for_status(&id2, "COMPLETED", Duration::from_secs(5))
        .await;
    let resp = s.delete(&format!("/workflow/{id2}?reason=x")).await;
    expect_error(resp, StatusCode::CONFLICT, &[]).await;
    let w2 = s.workflow(&id2).await;
    assert_eq!(w2["status"], "COMPLETED");
}
