//! §4.1, §4.8, §4.9, §4.11, §2.4–2.7: workflow operations and start options.

use super::helpers::*;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn search(s: &TestServer, path: &str, params: &[(&str, &str)]) -> Value {
    let resp = s
        .client
        .get(s.url(path))
        .query(params)
        .send()
        .await
        .expect("search");
    expect_json(resp, StatusCode::OK).await
}

fn ids(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {v}"))
        .iter()
        .map(|r| r["workflowId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pause_holds_successors_until_resume() {
    let s = TestServer::with_manual_clock(Default::default()).await;
    s.register_workflow(simple_workflow("op_pause", &["pz_a", "pz_b"]))
        .await;
    let id = s.start("op_pause", json!({})).await;
    let a = s.poll_one("pz_a").await;
    let resp = s
        .put_json(&format!("/workflow/{id}/pause"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    assert_eq!(s.workflow(&id).await["status"], "PAUSED");
    // pausing again is a no-op
    let resp = s
        .put_json(&format!("/workflow/{id}/pause"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;

    // an in-flight task may still be completed while paused
    s.complete(&a, json!({"a": 1})).await;
    let w = wait_task_status(&s, &id, "pz_a_ref", "COMPLETED").await;
    assert_eq!(w["status"], "PAUSED");
    // An hour later, with every timer that came due fired, still nothing is scheduled.
    s.advance(Duration::from_secs(3600)).await;
    let w = s.workflow(&id).await;
    assert!(
        !has_task(&w, "pz_b_ref"),
        "successor scheduled while paused: {}",
        pretty(&w)
    );
    assert!(s.poll_batch("pz_b", 1, 0).await.is_empty());

    let resp = s
        .put_json(&format!("/workflow/{id}/resume"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(status_of(&w, "pz_b_ref"), "SCHEDULED", "{}", pretty(&w));
    work_one(&s, "pz_b", json!({})).await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;

    // resume of a workflow that is not paused is refused; pause of a terminal one is 409
    let resp = s
        .put_json(&format!("/workflow/{id}/resume"), &json!({}))
        .await;
    assert!(
        !resp.status().is_success(),
        "resume of COMPLETED: {}",
        resp.status()
    );
    let resp = s
        .put_json(&format!("/workflow/{id}/pause"), &json!({}))
        .await;
    expect_status(resp, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn restart_runs_again_from_the_start() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("op_restart", &["rs_a"]))
        .await;
    let id = s.start("op_restart", json!({"k": "v"})).await;
    // not terminal → 409
    let resp = s
        .post_json(&format!("/workflow/{id}/restart"), &json!({}))
        .await;
    expect_status(resp, StatusCode::CONFLICT).await;
    let first = work_one(&s, "rs_a", json!({"run": 1})).await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;

    let resp = s
        .post_json(
            &format!("/workflow/{id}/restart?useLatestDefinitions=false"),
            &json!({}),
        )
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(w["input"]["k"], "v");
    let attempts = tasks_by_ref(&w, "rs_a_ref");
    assert_eq!(attempts.len(), 1, "old tasks are discarded: {}", pretty(&w));
    assert_eq!(attempts[0]["status"], "SCHEDULED");
    assert_ne!(attempts[0]["taskId"], first["taskId"]);
    work_one(&s, "rs_a", json!({"run": 2})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(task(&w, "rs_a_ref")["outputData"]["run"], 2);
}

#[tokio::test]
async fn retry_a_failed_workflow_completes_it() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_retry", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "rt_a", "taskReferenceName": "rt_a", "type": "SIMPLE", "retryCount": 0},
            {"name": "rt_b", "taskReferenceName": "rt_b", "type": "SIMPLE", "retryCount": 0}
        ]
    }))
    .await;
    let id = s.start("op_retry", json!({})).await;
    // still running → 404 (Conductor's quirk)
    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NOT_FOUND).await;
    work_one(&s, "rt_a", json!({"a": 1})).await;
    let b = s.poll_one("rt_b").await;
    s.fail(&b, "transient").await;
    s.wait_for_status(&id, "FAILED", WAIT).await;

    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    let attempts = tasks_by_ref(&w, "rt_b");
    assert_eq!(attempts.len(), 2, "{}", pretty(&w));
    assert_eq!(attempts[0]["status"], "FAILED");
    assert_eq!(attempts[1]["status"], "SCHEDULED");
    assert_eq!(attempts[1]["retryCount"], 1);
    assert_eq!(tasks_by_ref(&w, "rt_a").len(), 1, "successful task kept");
    work_one(&s, "rt_b", json!({"b": 2})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(status_of(&w, "rt_b"), "COMPLETED");
}

#[tokio::test]
async fn rerun_from_a_task_with_new_input() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("op_rerun", &["rr_a", "rr_b", "rr_c"]))
        .await;
    let id = s.start("op_rerun", json!({})).await;
    let resp = s
        .post_json(&format!("/workflow/{id}/rerun"), &json!({}))
        .await;
    expect_status(resp, StatusCode::CONFLICT).await;
    work_one(&s, "rr_a", json!({"a": 1})).await;
    let b = work_one(&s, "rr_b", json!({"b": 1})).await;
    work_one(&s, "rr_c", json!({"c": 1})).await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;

    let resp = s
        .post_json(
            &format!("/workflow/{id}/rerun"),
            &json!({"reRunFromTaskId": b["taskId"], "taskInput": {"fresh": "input"}}),
        )
        .await;
    assert_eq!(expect_status(resp, StatusCode::OK).await, id);
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(status_of(&w, "rr_a_ref"), "COMPLETED");
    assert_eq!(status_of(&w, "rr_b_ref"), "SCHEDULED", "{}", pretty(&w));
    assert!(
        !has_task(&w, "rr_c_ref"),
        "later tasks removed: {}",
        pretty(&w)
    );
    let b2 = s.poll_one("rr_b").await;
    assert_eq!(b2["inputData"]["fresh"], "input", "{b2}");
    s.complete(&b2, json!({"b": 2})).await;
    work_one(&s, "rr_c", json!({"c": 2})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(task(&w, "rr_b_ref")["outputData"]["b"], 2);
    assert_eq!(task(&w, "rr_a_ref")["outputData"]["a"], 1);
}

#[tokio::test]
async fn skip_task_is_walked_past() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("op_skip", &["sk_a", "sk_b", "sk_c"]))
        .await;
    let id = s.start("op_skip", json!({})).await;
    let resp = s
        .put_json(
            &format!("/workflow/{id}/skiptask/sk_b_ref"),
            &json!({"taskInput": {"in": 1}, "taskOutput": {"skipped": "yes"}}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    work_one(&s, "sk_a", json!({})).await;
    let c = s.poll_one("sk_c").await;
    let w = s.workflow(&id).await;
    let b = task(&w, "sk_b_ref");
    assert_eq!(b["status"], "SKIPPED", "{}", pretty(&w));
    // As Conductor: a skipped worker task has the type it would have run with.
    assert_eq!(b["taskType"], "sk_b", "{}", pretty(&w));
    assert_eq!(b["taskDefName"], "sk_b");
    assert_eq!(b["outputData"]["skipped"], "yes");
    assert!(s.poll_batch("sk_b", 1, 200).await.is_empty());
    s.complete(&c, json!({})).await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;
}

#[tokio::test]
async fn remove_deletes_the_execution() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("op_remove", &["rm_a"]))
        .await;
    let id = s.start("op_remove", json!({})).await;
    work_one(&s, "rm_a", json!({})).await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let resp = s.delete(&format!("/workflow/{id}/remove")).await;
    expect_status(resp, StatusCode::OK).await;
    let resp = s.get(&format!("/workflow/{id}")).await;
    expect_error(resp, StatusCode::NOT_FOUND, &[&id]).await;
}

#[tokio::test]
async fn search_by_status_type_correlation_with_paging_and_sort() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("op_search_a", &["sr_a"]))
        .await;
    s.register_workflow(simple_workflow("op_search_b", &["sr_b"]))
        .await;
    let before = chrono_ms();
    let mut a_ids = Vec::new();
    for c in ["c-1", "c-2", "c-3"] {
        a_ids.push(start_req(&s, json!({"name": "op_search_a", "correlationId": c})).await);
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let b_id = start_req(&s, json!({"name": "op_search_b", "correlationId": "c-b"})).await;
    // complete the first A
    let t = s.poll_one("sr_a").await;
    let done_id = t["workflowInstanceId"].as_str().unwrap().to_string();
    s.complete(&t, json!({})).await;
    s.wait_for_status(&done_id, "COMPLETED", WAIT).await;

    let v = search(
        &s,
        "/workflow/search",
        &[("query", "workflowType=op_search_a AND status=RUNNING")],
    )
    .await;
    assert_eq!(v["totalHits"], 2, "{}", pretty(&v));
    let mut got = ids(&v);
    got.sort();
    let mut expect: Vec<String> = a_ids.iter().filter(|i| **i != done_id).cloned().collect();
    expect.sort();
    assert_eq!(got, expect);
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "RUNNING" && r["workflowType"] == "op_search_a"));

    let v = search(&s, "/workflow/search", &[("query", "status=COMPLETED")]).await;
    assert_eq!(ids(&v), vec![done_id.clone()]);

    let v = search(
        &s,
        "/workflow/search",
        &[("query", "workflowType IN (op_search_a,op_search_b)")],
    )
    .await;
    assert_eq!(v["totalHits"], 4);

    let v = search(&s, "/workflow/search", &[("query", "correlationId=c-2")]).await;
    assert_eq!(ids(&v), vec![a_ids[1].clone()]);
    assert_eq!(v["results"][0]["correlationId"], "c-2");

    let v = search(
        &s,
        "/workflow/search",
        &[("query", "correlationId=c-b AND workflowType=op_search_b")],
    )
    .await;
    assert_eq!(ids(&v), vec![b_id.clone()]);

    // paging + sort
    let page1 = search(
        &s,
        "/workflow/search",
        &[
            ("query", "workflowType=op_search_a"),
            ("start", "0"),
            ("size", "2"),
            ("sort", "startTime:DESC"),
        ],
    )
    .await;
    assert_eq!(page1["totalHits"], 3);
    assert_eq!(ids(&page1), vec![a_ids[2].clone(), a_ids[1].clone()]);
    let page2 = search(
        &s,
        "/workflow/search",
        &[
            ("query", "workflowType=op_search_a"),
            ("start", "2"),
            ("size", "2"),
            ("sort", "startTime:DESC"),
        ],
    )
    .await;
    assert_eq!(ids(&page2), vec![a_ids[0].clone()]);
    let asc = search(
        &s,
        "/workflow/search",
        &[
            ("query", "workflowType=op_search_a"),
            ("sort", "startTime:ASC"),
        ],
    )
    .await;
    assert_eq!(ids(&asc), a_ids);

    // time bound and search-v2 (full workflows)
    let q = format!("startTime>{} AND workflowType=op_search_b", before - 1);
    let v2 = search(&s, "/workflow/search-v2", &[("query", q.as_str())]).await;
    assert_eq!(ids(&v2), vec![b_id.clone()]);
    assert_eq!(v2["results"][0]["workflowName"], "op_search_b");
    let q = format!("startTime>{}", chrono_ms() + 60_000);
    let v = search(&s, "/workflow/search", &[("query", q.as_str())]).await;
    assert_eq!(v["totalHits"], 0);

    // running list (version defaults to 1)
    let running = s.get_json("/workflow/running/op_search_a?version=1").await;
    let mut running: Vec<String> = as_array(running)
        .into_iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    running.sort();
    assert_eq!(running, expect);
    let running = as_array(s.get_json("/workflow/running/op_search_b").await);
    assert_eq!(running, vec![json!(b_id)]);
}

fn chrono_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_sync_returns_output_or_signal_timeout() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_exec_inline", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "js", "taskReferenceName": "js", "type": "INLINE",
                   "inputParameters": {"evaluatorType": "javascript",
                                       "expression": "$.a * 10", "a": "${workflow.input.a}"}}],
        "outputParameters": {"r": "${js.output.result}"}
    }))
    .await;
    let resp = s
        .post_json(
            "/workflow/execute/op_exec_inline/1",
            &json!({"input": {"a": 4}}),
        )
        .await;
    let run = expect_json(resp, StatusCode::OK).await;
    assert_eq!(run["status"], "COMPLETED", "{}", pretty(&run));
    assert_eq!(run["output"], json!({"r": 40}));
    assert_eq!(run["signalTimeout"], false);
    assert_eq!(run["tasks"].as_array().unwrap().len(), 1);
    assert!(run["workflowId"].is_string());

    s.register_workflow(simple_workflow("op_exec_worker", &["exec_w"]))
        .await;
    let resp = s
        .post_json(
            "/workflow/execute/op_exec_worker/1?waitForSeconds=1",
            &json!({"input": {}}),
        )
        .await;
    let run = expect_json(resp, StatusCode::OK).await;
    assert_eq!(run["signalTimeout"], true, "{}", pretty(&run));
    assert_eq!(run["status"], "RUNNING");
    assert_eq!(run["tasks"][0]["status"], "SCHEDULED");
}

#[tokio::test]
async fn idempotent_starts() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("op_idem", &["idem_a"]))
        .await;
    let req = |strategy: &str| json!({"name": "op_idem", "idempotencyKey": "key-1", "idempotencyStrategy": strategy});
    let first = start_req(&s, req("RETURN_EXISTING")).await;
    let again = start_req(&s, req("RETURN_EXISTING")).await;
    assert_eq!(first, again);
    let resp = s.post_json("/workflow", &req("FAIL")).await;
    expect_error(resp, StatusCode::CONFLICT, &["key-1"]).await;
    let resp = s.post_json("/workflow", &req("FAIL_ON_RUNNING")).await;
    expect_status(resp, StatusCode::CONFLICT).await;
    // once the first one ended, FAIL_ON_RUNNING starts a new one
    work_one(&s, "idem_a", json!({})).await;
    s.wait_for_status(&first, "COMPLETED", WAIT).await;
    let third = start_req(&s, req("FAIL_ON_RUNNING")).await;
    assert_ne!(third, first);
    let search = as_array(s.get_json("/workflow/running/op_idem?version=1").await);
    assert_eq!(search, vec![json!(third)]);
}

#[tokio::test]
async fn failure_workflow_gets_the_documented_input() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_on_failure", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "fw_handler", "taskReferenceName": "fw_handler", "type": "SIMPLE"}]
    }))
    .await;
    s.register_workflow(json!({
        "name": "op_failing", "version": 1, "schemaVersion": 2,
        "failureWorkflow": "op_on_failure",
        "tasks": [{"name": "fw_task", "taskReferenceName": "fw_task", "type": "SIMPLE",
                   "retryCount": 0}]
    }))
    .await;
    let id = start_req(
        &s,
        json!({"name": "op_failing", "input": {"orderId": "o-9"}, "correlationId": "corr-fw"}),
    )
    .await;
    let t = s.poll_one("fw_task").await;
    s.fail(&t, "card declined").await;
    let failed = s.wait_for_status(&id, "FAILED", WAIT).await;
    let handler = s.poll_one("fw_handler").await;
    let fw_id = handler["workflowInstanceId"].as_str().unwrap().to_string();
    let fw = s.workflow(&fw_id).await;
    assert_eq!(fw["workflowName"], "op_on_failure");
    let input = &fw["input"];
    assert_eq!(input["orderId"], "o-9", "{}", pretty(input));
    assert_eq!(input["workflowId"], id.as_str());
    assert_eq!(input["failureStatus"], "FAILED");
    assert_eq!(input["failureTaskId"], t["taskId"]);
    assert!(
        input["reason"]
            .as_str()
            .unwrap_or("")
            .contains("card declined"),
        "{}",
        input["reason"]
    );
    assert_eq!(input["failedWorkflow"]["workflowId"], id.as_str());
    assert_eq!(input["failedWorkflow"]["status"], "FAILED");
    // §4.8: the failed workflow's output names the failure workflow, which gets the failed
    // workflow's correlationId
    let mut deviations = Vec::new();
    if failed["output"]["conductor.failure_workflow"] != fw_id.as_str() {
        deviations.push(format!(
            "failed workflow output lacks \"conductor.failure_workflow\": \"{fw_id}\"; output = {}",
            failed["output"]
        ));
    }
    if fw["correlationId"] != "corr-fw" {
        deviations.push(format!(
            "failure workflow correlationId = {}, expected \"corr-fw\"",
            fw["correlationId"]
        ));
    }
    assert!(deviations.is_empty(), "{}", deviations.join("\n"));
}

#[tokio::test]
async fn task_domains_priority_and_correlation_reach_tasks() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("op_domain", &["dom_task", "plain_task"]))
        .await;
    let id = start_req(
        &s,
        json!({"name": "op_domain", "taskToDomain": {"dom_task": "mydomain"},
               "priority": 42, "correlationId": "corr-dom"}),
    )
    .await;
    assert!(
        s.poll_batch("dom_task", 1, 300).await.is_empty(),
        "a domained task must not be handed to an un-domained poll"
    );
    let resp = s
        .get("/tasks/poll/batch/dom_task?count=1&timeout=2000&workerid=w&domain=mydomain")
        .await;
    let got = as_array(expect_json(resp, StatusCode::OK).await);
    assert_eq!(got.len(), 1);
    let t = &got[0];
    assert_eq!(t["domain"], "mydomain", "{t}");
    assert_eq!(t["workflowPriority"], 42);
    assert_eq!(t["correlationId"], "corr-dom");
    s.complete(t, json!({})).await;
    // tasks without a mapping stay un-domained
    let p = s.poll_one("plain_task").await;
    assert!(p["domain"].is_null() || p["domain"] == "", "{p}");
    assert_eq!(p["workflowPriority"], 42);
    assert_eq!(p["correlationId"], "corr-dom");
    s.complete(&p, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["priority"], 42);
    assert_eq!(w["taskToDomain"], json!({"dom_task": "mydomain"}));
    for t in w["tasks"].as_array().unwrap() {
        assert_eq!(t["workflowPriority"], 42, "{t}");
        assert_eq!(t["correlationId"], "corr-dom", "{t}");
    }
}
