//! The definition parser: any bytes parsed as a workflow definition (the JSON a client
//! registers) and, when they parse, validated, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(def) = serde_json::from_slice::<baton_model::WorkflowDef>(data) {
        let _ = baton_engine::validate::validate_workflow_def(&def);
    }
    if let Ok(defs) = serde_json::from_slice::<Vec<baton_model::TaskDef>>(data) {
        for d in &defs {
            let _ = baton_engine::validate::validate_task_def(d, "taskDef");
        }
    }
});
