//! §5.4–5.8: SWITCH, DECISION, FORK_JOIN/JOIN, FORK_JOIN_DYNAMIC, DO_WHILE.

use super::helpers::*;
use crate::common::*;
use serde_json::json;

fn simple(name: &str, reference: &str) -> serde_json::Value {
    json!({"name": name, "taskReferenceName": reference, "type": "SIMPLE", "retryCount": 0})
}

#[tokio::test]
async fn switch_value_param_takes_case_and_default() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_switch_vp", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "sw", "taskReferenceName": "sw", "type": "SWITCH",
             "evaluatorType": "value-param", "expression": "kind",
             "inputParameters": {"kind": "${workflow.input.kind}"},
             "decisionCases": {
                 "a": [simple("sw_a_task", "sw_a")],
                 "b": [{"name": "b_noop", "taskReferenceName": "sw_b", "type": "NOOP"}]
             },
             "defaultCase": [{"name": "d_set", "taskReferenceName": "sw_default",
                              "type": "SET_VARIABLE", "inputParameters": {"took": "default"}}]},
            {"name": "after", "taskReferenceName": "after", "type": "SET_VARIABLE",
             "inputParameters": {"after": true}}
        ],
        "outputParameters": {"took": "${workflow.variables.took}",
                             "a": "${sw_a.output.done}", "after": "${workflow.variables.after}"}
    }))
    .await;

    let id = s.start("op_switch_vp", json!({"kind": "a"})).await;
    let t = work_one(&s, "sw_a_task", json!({"done": "yes"})).await;
    assert_eq!(t["referenceTaskName"], "sw_a");
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let sw = task(&w, "sw");
    assert_eq!(sw["status"], "COMPLETED");
    assert_eq!(sw["taskType"], "SWITCH");
    assert_eq!(sw["outputData"]["selectedCase"], "a", "{}", pretty(sw));
    assert_eq!(sw["outputData"]["evaluationResult"], json!(["a"]));
    assert!(!has_task(&w, "sw_b") && !has_task(&w, "sw_default"));
    assert_eq!(w["output"]["a"], "yes");
    assert_eq!(w["output"]["after"], true);

    // no key matches → defaultCase
    let id = s.start("op_switch_vp", json!({"kind": "zzz"})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(task(&w, "sw")["outputData"]["selectedCase"], "zzz");
    assert_eq!(status_of(&w, "sw_default"), "COMPLETED");
    assert!(!has_task(&w, "sw_a"));
    assert_eq!(w["output"]["took"], "default", "{}", pretty(&w));
    assert_eq!(w["output"]["after"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_javascript_selects_by_script_result() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_switch_js", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "sw", "taskReferenceName": "sw", "type": "SWITCH",
             "evaluatorType": "javascript", "expression": "$.n > 5 ? 'big' : 'small'",
             "inputParameters": {"n": "${workflow.input.n}"},
             "decisionCases": {
                 "big": [{"name": "big", "taskReferenceName": "big", "type": "INLINE",
                          "inputParameters": {"evaluatorType": "javascript",
                                              "expression": "'BIG:' + $.n", "n": "${workflow.input.n}"}}],
                 "small": [{"name": "small", "taskReferenceName": "small", "type": "INLINE",
                            "inputParameters": {"evaluatorType": "javascript",
                                                "expression": "'SMALL:' + $.n", "n": "${workflow.input.n}"}}]
             }}
        ],
        "outputParameters": {"big": "${big.output.result}", "small": "${small.output.result}"}
    }))
    .await;
    let id = s.start("op_switch_js", json!({"n": 10})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(task(&w, "sw")["outputData"]["selectedCase"], "big");
    assert_eq!(w["output"]["big"], "BIG:10", "{}", pretty(&w));
    assert!(!has_task(&w, "small"));

    let id = s.start("op_switch_js", json!({"n": 2})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(task(&w, "sw")["outputData"]["selectedCase"], "small");
    assert_eq!(w["output"]["small"], "SMALL:2");
    assert!(!has_task(&w, "big"));
}

#[tokio::test]
async fn decision_empty_case_falls_back_to_default() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_decision", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "dec", "taskReferenceName": "dec", "type": "DECISION",
             "caseValueParam": "kind",
             "inputParameters": {"kind": "${workflow.input.kind}"},
             "decisionCases": {
                 "empty": [],
                 "one": [{"name": "one", "taskReferenceName": "one", "type": "SET_VARIABLE",
                          "inputParameters": {"took": "one"}}]
             },
             "defaultCase": [{"name": "dflt", "taskReferenceName": "dflt", "type": "SET_VARIABLE",
                              "inputParameters": {"took": "default"}}]}
        ],
        "outputParameters": {"took": "${workflow.variables.took}"}
    }))
    .await;
    let id = s.start("op_decision", json!({"kind": "one"})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let dec = task(&w, "dec");
    assert_eq!(dec["taskType"], "DECISION");
    assert_eq!(
        dec["outputData"]["caseOutput"],
        json!(["one"]),
        "{}",
        pretty(dec)
    );
    assert_eq!(w["output"]["took"], "one");

    // DECISION (unlike SWITCH) uses the default when the matching case list is empty
    let id = s.start("op_decision", json!({"kind": "empty"})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(
        task(&w, "dec")["outputData"]["caseOutput"],
        json!(["empty"])
    );
    assert_eq!(w["output"]["took"], "default", "{}", pretty(&w));
}

fn fork_def(name: &str, a: &str, b: &str) -> serde_json::Value {
    json!({
        "name": name, "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
             "forkTasks": [[simple(a, &format!("{a}_ref"))],
                           [simple(b, &format!("{b}_ref"))]]},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN",
             "joinOn": [format!("{a}_ref"), format!("{b}_ref")]}
        ]
    })
}

#[tokio::test]
async fn fork_join_joins_both_branch_outputs() {
    let s = TestServer::spawn().await;
    s.register_workflow(fork_def("op_fork", "fk_a", "fk_b"))
        .await;
    let id = s.start("op_fork", json!({})).await;
    let w = s.workflow(&id).await;
    assert_eq!(task(&w, "fork")["taskType"], "FORK");
    assert_eq!(task(&w, "fork")["status"], "COMPLETED");
    assert_eq!(task(&w, "join")["status"], "IN_PROGRESS");
    assert_eq!(status_of(&w, "fk_a_ref"), "SCHEDULED");
    assert_eq!(status_of(&w, "fk_b_ref"), "SCHEDULED");

    work_one(&s, "fk_b", json!({"b": 2})).await;
    let w = wait_task_status(&s, &id, "fk_b_ref", "COMPLETED").await;
    assert_eq!(status_of(&w, "join"), "IN_PROGRESS", "JOIN waits for fk_a");
    work_one(&s, "fk_a", json!({"a": 1})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let join = task(&w, "join");
    assert_eq!(join["status"], "COMPLETED");
    assert_eq!(
        join["outputData"],
        json!({"fk_a_ref": {"a": 1}, "fk_b_ref": {"b": 2}}),
        "{}",
        pretty(join)
    );
}

#[tokio::test]
async fn fork_branch_failure_fails_workflow_and_cancels_other_branch() {
    let s = TestServer::spawn().await;
    s.register_workflow(fork_def("op_fork_fail", "ff_a", "ff_b"))
        .await;
    let id = s.start("op_fork_fail", json!({})).await;
    let t = s.poll_one("ff_a").await;
    s.fail(&t, "branch a broke").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert_eq!(status_of(&w, "ff_a_ref"), "FAILED");
    assert_eq!(
        status_of(&w, "ff_b_ref"),
        "CANCELED",
        "the other branch's pending task: {}",
        pretty(&w)
    );
    let join = status_of(&w, "join");
    assert_ne!(join, "COMPLETED", "JOIN must not complete: {}", pretty(&w));
    assert!(
        w["reasonForIncompletion"]
            .as_str()
            .unwrap_or("")
            .contains("branch a broke"),
        "{}",
        w["reasonForIncompletion"]
    );
    // the canceled task is no longer pollable
    assert!(s.poll_batch("ff_b", 1, 200).await.is_empty());
}

#[tokio::test]
async fn fork_join_dynamic_simple_form() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_dynfork_simple", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "dfork", "taskReferenceName": "dfork", "type": "FORK_JOIN_DYNAMIC",
             "inputParameters": {"forkTaskName": "dyn_w",
                                 "forkTaskInputs": "${workflow.input.items}"}},
            {"name": "djoin", "taskReferenceName": "djoin", "type": "JOIN"}
        ]
    }))
    .await;
    let id = s
        .start(
            "op_dynfork_simple",
            json!({"items": [{"x": 1}, {"x": 2}, 3]}),
        )
        .await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let t = s.poll_one("dyn_w").await;
        let idx = t["inputData"]["__index"].as_i64().unwrap();
        let x = t["inputData"]["x"]
            .as_i64()
            .or_else(|| t["inputData"]["input"].as_i64())
            .unwrap();
        assert_eq!(t["referenceTaskName"], format!("_dyn_w_{idx}"));
        seen.push((idx, x));
        s.complete(&t, json!({"sq": x * x})).await;
    }
    seen.sort();
    assert_eq!(seen, vec![(0, 1), (1, 2), (2, 3)]);
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let fork = task(&w, "dfork");
    assert_eq!(fork["taskType"], "FORK");
    assert_eq!(
        fork["inputData"]["forkedTasks"],
        json!(["_dyn_w_0", "_dyn_w_1", "_dyn_w_2"])
    );
    let join = task(&w, "djoin");
    assert_eq!(
        join["outputData"],
        json!({"_dyn_w_0": {"sq": 1}, "_dyn_w_1": {"sq": 4}, "_dyn_w_2": {"sq": 9}}),
        "{}",
        pretty(join)
    );
}

#[tokio::test]
async fn fork_join_dynamic_standard_and_legacy_forms() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_dynfork_std", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "dfork", "taskReferenceName": "dfork", "type": "FORK_JOIN_DYNAMIC",
             "dynamicForkTasksParam": "dynamicTasks",
             "dynamicForkTasksInputParamName": "dynamicTasksInputs",
             "inputParameters": {"dynamicTasks": "${workflow.input.tasks}",
                                 "dynamicTasksInputs": "${workflow.input.inputs}"}},
            {"name": "djoin", "taskReferenceName": "djoin", "type": "JOIN"}
        ]
    }))
    .await;
    let id = s
        .start(
            "op_dynfork_std",
            json!({
                "tasks": [
                    {"name": "dyn_s", "taskReferenceName": "ds1", "type": "SIMPLE"},
                    {"name": "dyn_s", "taskReferenceName": "ds2", "type": "SIMPLE"}
                ],
                "inputs": {"ds1": {"v": 10}, "ds2": {"v": 20}}
            }),
        )
        .await;
    for _ in 0..2 {
        let t = s.poll_one("dyn_s").await;
        let v = t["inputData"]["v"].as_i64().expect("branch input");
        let expect = if t["referenceTaskName"] == "ds1" {
            10
        } else {
            20
        };
        assert_eq!(v, expect, "{t}");
        s.complete(&t, json!({"got": v})).await;
    }
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(
        task(&w, "djoin")["outputData"],
        json!({"ds1": {"got": 10}, "ds2": {"got": 20}})
    );

    // legacy: dynamicForkJoinTasksParam → DynamicForkJoinTaskList
    s.register_workflow(json!({
        "name": "op_dynfork_legacy", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "dfork", "taskReferenceName": "dfork", "type": "FORK_JOIN_DYNAMIC",
             "dynamicForkJoinTasksParam": "list",
             "inputParameters": {"list": "${workflow.input.list}"}},
            {"name": "djoin", "taskReferenceName": "djoin", "type": "JOIN"}
        ]
    }))
    .await;
    let id = s
        .start(
            "op_dynfork_legacy",
            json!({"list": {"dynamicTasks": [
                {"taskName": "dyn_l", "referenceName": "dl1", "type": "SIMPLE", "input": {"k": "one"}},
                {"taskName": "dyn_l", "referenceName": "dl2", "type": "SIMPLE", "input": {"k": "two"}}
            ]}}),
        )
        .await;
    for _ in 0..2 {
        let t = s.poll_one("dyn_l").await;
        let k = t["inputData"]["k"].as_str().unwrap().to_string();
        s.complete(&t, json!({"k": k})).await;
    }
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(
        task(&w, "djoin")["outputData"],
        json!({"dl1": {"k": "one"}, "dl2": {"k": "two"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_while_iterates_with_nested_operator() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_loop", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
             "loopCondition": "if ($.loop['iteration'] < 3) { true; } else { false; }",
             "loopOver": [
                 {"name": "lw", "taskReferenceName": "lw", "type": "SIMPLE", "retryCount": 0},
                 {"name": "lsw", "taskReferenceName": "lsw", "type": "SWITCH",
                  "evaluatorType": "value-param", "expression": "parity",
                  "inputParameters": {"parity": "${lw.output.parity}"},
                  "decisionCases": {"odd": [{"name": "odd", "taskReferenceName": "lodd",
                      "type": "INLINE", "inputParameters": {"evaluatorType": "javascript",
                      "expression": "'odd-' + $.i", "i": "${lw.output.i}"}}]},
                  "defaultCase": [{"name": "even", "taskReferenceName": "leven", "type": "NOOP"}]}
             ]}
        ]
    }))
    .await;
    let id = s.start("op_loop", json!({})).await;
    for i in 1..=3 {
        let t = s.poll_one("lw").await;
        assert_eq!(t["referenceTaskName"], format!("lw__{i}"));
        assert_eq!(t["iteration"], i, "{t}");
        let parity = if i % 2 == 1 { "odd" } else { "even" };
        s.complete(&t, json!({"i": i, "parity": parity})).await;
    }
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let lp = task(&w, "loop");
    assert_eq!(lp["status"], "COMPLETED");
    let out = &lp["outputData"];
    assert_eq!(out["iteration"], 3, "{}", pretty(out));
    assert_eq!(out["1"]["lw"], json!({"i": 1, "parity": "odd"}));
    assert_eq!(out["1"]["lodd"]["result"], "odd-1");
    assert_eq!(out["2"]["lw"]["i"], 2);
    assert!(out["2"].get("lodd").is_none(), "{}", pretty(out));
    assert_eq!(out["3"]["lodd"]["result"], "odd-3");
    assert_eq!(status_of(&w, "leven__2"), "COMPLETED");
    assert_eq!(status_of(&w, "lsw__3"), "COMPLETED");
    assert!(!has_task(&w, "lw__4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_while_condition_error_fails_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_loop_throw", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
             "loopCondition": "(function () { throw new Error('cond exploded'); })()",
             "loopOver": [simple("lt_w", "lt_w")]}
        ]
    }))
    .await;
    let id = s.start("op_loop_throw", json!({})).await;
    work_one(&s, "lt_w", json!({"ok": true})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let lp = task(&w, "loop");
    assert_eq!(lp["status"], "FAILED_WITH_TERMINAL_ERROR", "{}", pretty(lp));
    assert!(
        lp["reasonForIncompletion"]
            .as_str()
            .unwrap_or("")
            .contains("cond exploded"),
        "{}",
        pretty(lp)
    );
    assert_eq!(status_of(&w, "lt_w__1"), "COMPLETED");
    assert!(!has_task(&w, "lt_w__2"));
}
