//! The expression evaluator: any text is validated and resolved against a workflow-like
//! scope without panicking, and what validates resolves.
#![no_main]

use baton_engine::expr;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let scope = json!({
        "workflow": {"input": {"a": 1, "list": [1, 2, {"x": "y"}], "s": "text"}, "workflowId": "w"},
        "task1": {"output": {"result": {"n": 5, "arr": [{"k": 1}, {"k": 2}]}}},
    });
    let _ = expr::validate_str(text);
    let _ = expr::resolve_str(text, &scope, Some("task-id"));
    // Inside a structure, as inputParameters hold it.
    let params = json!({"p": text, "nested": {"q": [text]}});
    let _ = expr::validate(&params);
    let _ = expr::resolve_value(&params, &scope, None);
});
