//! What `baton run` needs to know before it starts: the definition's worker tasks, the
//! `--mock` and `--answer` pairs, and a worker for every worker task.

use anyhow::{anyhow, bail};
use async_trait::async_trait;
use baton_worker::{JsonMap, Outcome, Task, TaskContext, Worker};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One node of the definition: its reference, task name and type.
#[derive(Debug, Clone)]
pub struct Node {
    pub reference: String,
    pub name: String,
    pub kind: String,
}

impl Node {
    /// Worker tasks: SIMPLE, or a type name that is no system task (Conductor runs unknown
    /// types as worker tasks).
    pub fn is_worker_task(&self) -> bool {
        self.kind == "SIMPLE" || self.kind.is_empty()
    }
}

/// Every node of a definition, inline sub-workflow definitions included. Input parameters
/// are data, not nodes, and are not searched.
pub fn nodes(def: &Value) -> Vec<Node> {
    fn walk(v: &Value, out: &mut Vec<Node>) {
        match v {
            Value::Object(m) => {
                if let (Some(Value::String(r)), Some(Value::String(name))) =
                    (m.get("taskReferenceName"), m.get("name"))
                {
                    out.push(Node {
                        reference: r.clone(),
                        name: name.clone(),
                        kind: m
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("SIMPLE")
                            .to_string(),
                    });
                }
                for (k, child) in m {
                    if k != "inputParameters" && k != "outputParameters" && k != "input" {
                        walk(child, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(def, &mut out);
    out
}

/// Parses `ref=JSON` pairs (`--mock`, `--answer`); the JSON must be an object.
pub fn pairs(flag: &str, raw: &[String]) -> anyhow::Result<BTreeMap<String, JsonMap>> {
    let mut out = BTreeMap::new();
    for item in raw {
        let Some((reference, json)) = item.split_once('=') else {
            bail!("{flag} {item}: expected REF=JSON, e.g. {flag} build='{{\"ok\": true}}'");
        };
        let reference = reference.trim();
        if reference.is_empty() {
            bail!("{flag} {item}: the task reference before '=' is empty");
        }
        let value: Value = serde_json::from_str(json)
            .map_err(|e| anyhow!("{flag} {reference}: the value is not JSON: {e}"))?;
        let Value::Object(map) = value else {
            bail!("{flag} {reference}: the value must be a JSON object (the task's output)");
        };
        if out.insert(reference.to_string(), map).is_some() {
            bail!("{flag} {reference}: given twice");
        }
    }
    Ok(out)
}

/// The reference of a node inside a DO_WHILE iteration (`ref__3`) without the suffix.
pub fn base_ref(reference: &str) -> &str {
    match reference.rsplit_once("__") {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => reference,
    }
}

/// Serves one task type: tasks whose reference is mocked complete with the given output,
/// the others go to the configured command (if any).
pub struct MockingWorker {
    pub mocks: Arc<HashMap<String, JsonMap>>,
    pub inner: Option<Arc<dyn Worker>>,
}

#[async_trait]
impl Worker for MockingWorker {
    async fn execute(&self, task: Task, ctx: TaskContext) -> Outcome {
        if let Some(output) = self.mocks.get(base_ref(&task.reference_task_name)) {
            ctx.log("output given by --mock").await;
            return Outcome::completed(output.clone());
        }
        match &self.inner {
            Some(w) => w.execute(task, ctx).await,
            None => Outcome::failed_terminal(format!(
                "no worker for task '{}': add [tasks.{}] to the workers file or --mock {}=JSON",
                task.reference_task_name,
                task.task_type,
                base_ref(&task.reference_task_name)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_nodes_in_forks_loops_switches_but_not_in_inputs() {
        let def = json!({"name": "w", "tasks": [
            {"name": "a", "taskReferenceName": "a", "type": "SIMPLE",
             "inputParameters": {"fake": {"name": "x", "taskReferenceName": "x"}}},
            {"name": "f", "taskReferenceName": "f", "type": "FORK_JOIN", "forkTasks": [
                [{"name": "b", "taskReferenceName": "b"}], [{"name": "c", "taskReferenceName": "c"}]]},
            {"name": "l", "taskReferenceName": "l", "type": "DO_WHILE", "loopOver": [
                {"name": "d", "taskReferenceName": "d", "type": "SIMPLE"}]},
            {"name": "s", "taskReferenceName": "s", "type": "SWITCH",
             "decisionCases": {"x": [{"name": "e", "taskReferenceName": "e", "type": "HUMAN"}]}},
        ]});
        let refs: Vec<String> = nodes(&def).into_iter().map(|n| n.reference).collect();
        assert_eq!(refs, ["a", "f", "b", "c", "l", "d", "s", "e"]);
    }

    #[test]
    fn pairs_need_a_reference_and_a_json_object() {
        let ok = pairs("--mock", &["a={\"x\": 1}".into()]).expect("pair");
        assert_eq!(ok["a"]["x"], 1);
        for bad in ["a", "={}", "a=[1]", "a={nope"] {
            assert!(pairs("--mock", &[bad.into()]).is_err(), "{bad}");
        }
        assert!(pairs("--mock", &["a={}".into(), "a={}".into()]).is_err());
        assert_eq!(base_ref("step__12"), "step");
        assert_eq!(base_ref("my__ref"), "my__ref");
    }
}
