//! Estimates of the heap a workflow's state holds, for the runtime's state cache budget.
//!
//! Cheap by design: a walk that adds up lengths and counts nodes, with no formatting and no
//! allocation. It is run only on what a commit has just written (dirty tasks, the workflow
//! row's changeable fields), so its cost follows the commit's own serialization. Figures
//! are approximate (allocator rounding and spare capacity are left out); the test in
//! `tests/footprint.rs` keeps them within a small factor of what is really allocated.

use baton_model::{JsonMap, Task, TaskDef, Workflow, WorkflowTask};
use serde_json::Value;
use std::mem::size_of;

/// One entry of a JSON object: the key and value inline, the stored hash, and the slot of
/// the hash table that points at it (`preserve_order` maps are an `IndexMap`).
const MAP_ENTRY: usize = size_of::<String>() + size_of::<Value>() + 2 * size_of::<usize>();

/// Heap bytes held by a JSON value's contents (the value itself is counted by its owner).
pub fn value_bytes(value: &Value) -> usize {
    let mut total = 0;
    let mut stack: Vec<&Value> = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => total += s.len(),
            Value::Array(items) => {
                total += items.len() * size_of::<Value>();
                stack.extend(items.iter());
            }
            Value::Object(map) => {
                total += map.len() * MAP_ENTRY;
                for (k, item) in map {
                    total += k.len();
                    stack.push(item);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    total
}

/// Heap bytes held by a JSON object's entries.
pub fn map_bytes(map: &JsonMap) -> usize {
    map.iter()
        .map(|(k, v)| MAP_ENTRY + k.len() + value_bytes(v))
        .sum()
}

fn opt_len(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

/// A task as a [`crate::task_list::TaskList`] holds it: the struct, its strings and JSON,
/// and its index entries (its id once, its reference name twice, each with a map entry).
pub fn task_bytes(t: &Task) -> usize {
    const INDEX_ENTRY: usize = size_of::<String>() + 2 * size_of::<usize>();
    let strings = t.task_type.len()
        + t.reference_task_name.len()
        + t.task_def_name.len()
        + t.workflow_instance_id.len()
        + t.workflow_type.len()
        + t.task_id.len()
        + opt_len(&t.correlation_id)
        + opt_len(&t.retried_task_id)
        + opt_len(&t.reason_for_incompletion)
        + opt_len(&t.worker_id)
        + opt_len(&t.domain)
        + opt_len(&t.sub_workflow_id)
        + opt_len(&t.parent_task_id)
        + opt_len(&t.isolation_group_id)
        + opt_len(&t.execution_name_space)
        + opt_len(&t.external_input_payload_storage_path)
        + opt_len(&t.external_output_payload_storage_path)
        + t.runtime_metadata
            .iter()
            .map(|(k, v)| MAP_ENTRY + k.len() + v.len())
            .sum::<usize>();
    // Definition nodes are boxed, not stored with tasks and normally absent; when set (only
    // the API's rendering sets them) their boxes count, their contents are left out.
    let attached = t
        .workflow_task
        .as_ref()
        .map_or(0, |_| size_of::<WorkflowTask>())
        + t.task_definition
            .as_ref()
            .map_or(0, |_| size_of::<TaskDef>());
    let indexes = 3 * INDEX_ENTRY + t.task_id.len() + 2 * t.reference_task_name.len();
    size_of::<Task>()
        + strings
        + attached
        + indexes
        + map_bytes(&t.input_data)
        + map_bytes(&t.output_data)
        + map_bytes(&t.execution_metadata)
}

/// A workflow row without its input (which only a rerun changes, so the caller measures it
/// once and keeps the figure: see [`map_bytes`]) and without its tasks (see [`task_bytes`]).
pub fn workflow_bytes_without_input(w: &Workflow) -> usize {
    let strings = w.workflow_id.len()
        + w.workflow_name.len()
        + opt_len(&w.owner_app)
        + opt_len(&w.created_by)
        + opt_len(&w.updated_by)
        + opt_len(&w.parent_workflow_id)
        + opt_len(&w.parent_workflow_task_id)
        + opt_len(&w.correlation_id)
        + opt_len(&w.re_run_from_workflow_id)
        + opt_len(&w.reason_for_incompletion)
        + opt_len(&w.event)
        + opt_len(&w.idempotency_key)
        + opt_len(&w.failed_task_id)
        + w.task_to_domain
            .iter()
            .map(|(k, v)| MAP_ENTRY + k.len() + v.len())
            .sum::<usize>()
        + w.failed_reference_task_names
            .iter()
            .chain(&w.failed_task_names)
            .map(|s| size_of::<String>() + s.len())
            .sum::<usize>();
    size_of::<Workflow>()
        + strings
        + map_bytes(&w.output)
        + map_bytes(&w.variables)
        + w.history.iter().map(value_bytes).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_count_their_strings_and_nodes() {
        assert_eq!(value_bytes(&json!(1)), 0);
        assert_eq!(value_bytes(&json!("abcd")), 4);
        assert_eq!(value_bytes(&json!(["ab", 1])), 2 * size_of::<Value>() + 2);
        assert_eq!(value_bytes(&json!({"k": "vv"})), MAP_ENTRY + 1 + 2);
    }

    #[test]
    fn a_task_grows_with_its_output() {
        let small = Task {
            task_id: "t".into(),
            ..Task::default()
        };
        let mut big = small.clone();
        big.output_data
            .insert("blob".into(), Value::String("x".repeat(100_000)));
        let grown = task_bytes(&big) - task_bytes(&small);
        assert!((100_000..100_000 + 1024).contains(&grown), "{grown}");
        // What an SDK reports beside the output counts too.
        let mut timed = small.clone();
        timed
            .execution_metadata
            .insert("trace".into(), Value::String("y".repeat(10_000)));
        timed.external_output_payload_storage_path = Some("p".repeat(1_000));
        let grown = task_bytes(&timed) - task_bytes(&small);
        assert!((11_000..11_000 + 1024).contains(&grown), "{grown}");
    }

    #[test]
    fn deep_values_are_walked_without_recursion() {
        let mut v = json!(0);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(value_bytes(&v), 100_000 * size_of::<Value>());
        let mut v = v;
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or(Value::Null);
        }
    }
}
