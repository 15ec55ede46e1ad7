//! The cases of Conductor's `SetVariableTaskSpec` (the older copy, under
//! `com/netflix/counductor/integration/test/`), with the same expectations, written for Baton
//! with its own definition: a SET_VARIABLE sets the workflow's variables, which the output
//! reads back; one that would take the variables past the 256 KB limit fails for good with
//! Conductor's message and leaves the variables as they were.
//!
//! The spec runs with a 2 KB limit from its mock configuration; Baton's limit is Conductor's
//! default, 256 KB, so the value here is 128 times the spec's (one 8-byte block over the
//! limit, as there). The message is the current Conductor's (`… kilobytes`); the older copy
//! spelled it `…B … KB`.

mod common;

use common::*;
use serde_json::json;

async fn server() -> TestServer {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "sv_set_variable_wf", "version": 1,
        "tasks": [
            {"name": "sv_set", "taskReferenceName": "sv_set", "type": "SET_VARIABLE",
             "inputParameters": {"var": "${workflow.input.var}"}}
        ],
        "outputParameters": {"variables": "${workflow.variables}"}}))
        .await;
    s
}

#[tokio::test]
async fn a_set_variable_task_sets_the_variables_the_output_reads() {
    let s = server().await;
    let id = s
        .start("sv_set_variable_wf", json!({"var": "var_test_value"}))
        .await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "COMPLETED", "{w:#}");
    let t = only_task(&w);
    assert_eq!(t["taskType"], "SET_VARIABLE");
    assert_eq!(t["status"], "COMPLETED");
    assert_eq!(w["variables"], json!({"var": "var_test_value"}));
    assert_eq!(w["output"], json!({"variables": {"var": "var_test_value"}}));
}

#[tokio::test]
async fn variables_past_the_size_limit_fail_the_task_and_are_not_set() {
    let s = server().await;
    const LIMIT_KB: usize = 256;
    let value = "01234567".repeat(1 + LIMIT_KB * 1024 / 8);
    let id = s.start("sv_set_variable_wf", json!({"var": value})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "FAILED");
    let t = only_task(&w);
    assert_eq!(t["taskType"], "SET_VARIABLE");
    assert_eq!(t["status"], "FAILED_WITH_TERMINAL_ERROR");
    // `{"var":"…"}`: the value and ten bytes around it.
    let size = value.len() + 10;
    assert_eq!(size, LIMIT_KB * 1024 + 18);
    assert_eq!(
        t["reasonForIncompletion"],
        format!(
            "The variables payload size: {size} of workflow: {id} is greater than the \
             permissible limit: {LIMIT_KB} kilobytes"
        )
    );
    assert_eq!(w["variables"], json!({}));
    assert_eq!(w["output"], json!({"variables": {}}));
}
