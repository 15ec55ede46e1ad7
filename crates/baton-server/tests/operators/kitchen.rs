//! `examples/kitchen-sink.json`: every operator in one workflow, run to the end.

use super::helpers::*;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn kitchen_sink() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/kitchen-sink.json"
    );
    let text = std::fs::read_to_string(path).expect("read examples/kitchen-sink.json");
    serde_json::from_str(&text).expect("kitchen-sink.json is JSON")
}

/// What the test's worker answers for each worker task.
fn work(t: &Value) -> Value {
    let input = &t["inputData"];
    match t["taskType"].as_str().unwrap() {
        "ks_worker" => {
            json!({"msg": format!("worker saw {}", input["greeting"].as_str().unwrap_or("?"))})
        }
        "ks_dyn" => json!({"doubled": input["input"].as_i64().unwrap_or(-1) * 2}),
        "ks_loop_worker" => {
            let i = t["iteration"].as_i64().unwrap_or(0);
            json!({"i": i, "parity": if i % 2 == 1 { "odd" } else { "even" }})
        }
        "ks_dynamic_target" => json!({"dyn": "dynamic-ran"}),
        other => panic!("unexpected task type {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kitchen_sink_runs_every_operator() {
    let stub = http_stub().await;
    let s = TestServer::spawn().await;
    let def = kitchen_sink();
    s.register_workflow(def).await;
    let id = s
        .start(
            "kitchen_sink",
            json!({"httpUrl": format!("{}/ok", stub.base), "kind": "a",
                   "items": [1, 2, 3], "dynTask": "ks_dynamic_target"}),
        )
        .await;

    let deadline = Instant::now() + Duration::from_secs(40);
    let mut human_done = false;
    let w = loop {
        for tt in ["ks_worker", "ks_dyn", "ks_loop_worker", "ks_dynamic_target"] {
            for t in s.poll_batch(tt, 5, 20).await {
                s.complete(&t, work(&t)).await;
            }
        }
        let w = s.workflow(&id).await;
        if w["status"] != "RUNNING" {
            break w;
        }
        // (matched by base reference so a wrongly suffixed `human__N` is still found; the
        // exact references are checked at the end)
        let human = w["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["taskType"] == "HUMAN" && t["status"] == "IN_PROGRESS");
        if let (false, Some(human)) = (human_done, human) {
            let resp = s
                .post_json(
                    &format!("/tasks/{id}/human/COMPLETED"),
                    &json!({"approvedBy": "alice"}),
                )
                .await;
            let task_id = expect_status(resp, StatusCode::OK).await;
            assert_eq!(task_id, human["taskId"].as_str().unwrap());
            human_done = true;
        }
        assert!(
            Instant::now() < deadline,
            "kitchen sink did not finish; last seen:\n{}",
            pretty(&w)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(w["status"], "COMPLETED", "{}", pretty(&w));
    let out = &w["output"];
    let ctx = pretty(out);
    assert_eq!(out["setVariable"], "hello", "{ctx}");
    assert_eq!(out["noop"], "COMPLETED", "{ctx}");
    assert_eq!(out["inline"], 42, "{ctx}");
    assert_eq!(out["jq"], json!([2, 4, 6]), "{ctx}");
    assert_eq!(out["switch"], "case-a", "{ctx}");
    assert_eq!(out["decision"], "decided-a", "{ctx}");
    assert_eq!(out["worker"], "worker saw hello", "{ctx}");
    assert_eq!(
        out["http"],
        json!({"echo": {"from": "kitchen", "doubled": 42}, "from": "stub"}),
        "{ctx}"
    );
    assert_eq!(out["event"], "conductor:kitchen_sink:event", "{ctx}");
    assert_eq!(out["join"]["worker"]["msg"], "worker saw hello", "{ctx}");
    assert_eq!(out["join"]["http"]["response"]["statusCode"], 200, "{ctx}");
    assert_eq!(
        out["join"]["event"]["event_produced"], "conductor:kitchen_sink:event",
        "{ctx}"
    );
    assert_eq!(
        out["dynamicFork"],
        json!({"_ks_dyn_0": {"doubled": 2}, "_ks_dyn_1": {"doubled": 4}, "_ks_dyn_2": {"doubled": 6}}),
        "{ctx}"
    );
    assert_eq!(out["loop"]["iteration"], 2, "{ctx}");
    assert_eq!(out["loop"]["1"]["loop_odd"]["result"], "odd-1", "{ctx}");
    assert_eq!(out["loop"]["2"]["loop_even"]["result"], "even-2", "{ctx}");
    assert_eq!(
        out["loop"]["1"]["loop_switch"]["selectedCase"], "odd",
        "{ctx}"
    );
    assert_eq!(out["subWorkflow"], "child-42", "{ctx}");
    assert_eq!(out["human"], "alice", "{ctx}");
    assert_eq!(out["wait"], "COMPLETED", "{ctx}");
    assert_eq!(out["dynamic"], "dynamic-ran", "{ctx}");
    let started = out["startedWorkflowId"].as_str().expect("started id");
    let other = s.wait_for_status(started, "COMPLETED", WAIT).await;
    assert_eq!(other["output"]["from"], "kitchen", "{}", pretty(&other));

    // every node of the definition ran under its own (top-level: unsuffixed) reference, and
    // the TERMINATE ended it
    let refs: Vec<&str> = w["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["referenceTaskName"].as_str().unwrap())
        .collect();
    let not_ok: Vec<&str> = [
        "init",
        "noop",
        "inline",
        "jq",
        "switch",
        "switch_case_a",
        "decision",
        "decision_inline",
        "fork",
        "join",
        "worker",
        "http",
        "event",
        "dynfork",
        "dynjoin",
        "loop",
        "sub",
        "start",
        "human",
        "wait",
        "dynamic",
        "terminate",
    ]
    .into_iter()
    .filter(|r| status_of(&w, r) != "COMPLETED")
    .collect();
    assert!(
        not_ok.is_empty(),
        "no COMPLETED task with exact reference {not_ok:?}; references present: {refs:?}"
    );
    assert_eq!(task(&w, "dynamic")["taskType"], "ks_dynamic_target");
    assert!(!has_task(&w, "switch_default") && !has_task(&w, "decision_default"));
}
