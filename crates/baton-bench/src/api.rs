//! The Conductor calls the benchmark makes, over HTTP on loopback.

use crate::*;

// HTTP helpers

#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
}

impl Api {
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<String> {
        let resp = self
            .client
            .post(format!("{}{}", self.base, path))
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        Ok(text)
    }

    pub(crate) async fn register(&self, chain: usize, branches: usize) -> anyhow::Result<()> {
        let taskdefs = json!([{
            "name": TASK_TYPE,
            "description": "baton-bench no-op task",
            "ownerEmail": "bench@example.com",
            "retryCount": 0,
            "timeoutSeconds": 0,
            "responseTimeoutSeconds": 60,
            "timeoutPolicy": "TIME_OUT_WF",
        }]);
        self.post_json("/api/metadata/taskdefs", &taskdefs).await?;
        let simple =
            |r: String| json!({"name": TASK_TYPE, "taskReferenceName": r, "type": "SIMPLE"});
        let wf = |name: &str, tasks: Vec<Value>| {
            json!({
                "name": name,
                "version": 1,
                "schemaVersion": 2,
                "ownerEmail": "bench@example.com",
                "timeoutSeconds": 0,
                "tasks": tasks,
            })
        };
        let chain_tasks = (0..chain).map(|i| simple(format!("t{i}"))).collect();
        let fork = json!({
            "name": "fork",
            "taskReferenceName": "fork",
            "type": "FORK_JOIN",
            "forkTasks": (0..branches).map(|i| vec![simple(format!("b{i}"))]).collect::<Vec<_>>(),
        });
        let join = json!({
            "name": "join",
            "taskReferenceName": "join",
            "type": "JOIN",
            "joinOn": (0..branches).map(|i| format!("b{i}")).collect::<Vec<_>>(),
        });
        for def in [
            wf(CHAIN_WF, chain_tasks),
            wf(FANOUT_WF, vec![fork, join]),
            wf(SINGLE_WF, vec![simple("only".into())]),
        ] {
            self.post_json("/api/metadata/workflow?overwrite=true", &def)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn start(&self, name: &str) -> anyhow::Result<String> {
        let id = self
            .post_json(&format!("/api/workflow/{name}"), &json!({}))
            .await?;
        let id = id.trim().trim_matches('"').to_string();
        if id.is_empty() {
            bail!("start {name}: empty workflow id");
        }
        Ok(id)
    }

    pub(crate) async fn status(&self, id: &str) -> anyhow::Result<String> {
        let resp = self
            .client
            .get(format!("{}/api/workflow/{id}/status", self.base))
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            bail!("GET workflow {id}: {status}: {}", resp.text().await?);
        }
        let v: Value = resp.json().await?;
        Ok(v["status"].as_str().unwrap_or("").to_string())
    }

    pub(crate) async fn poll(
        &self,
        count: usize,
        timeout_ms: u64,
        worker: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let resp = self
            .client
            .get(format!(
                "{}/api/tasks/poll/batch/{TASK_TYPE}?count={count}&timeout={timeout_ms}&workerid={worker}",
                self.base
            ))
            .send()
            .await
            .context("batch poll")?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if status == reqwest::StatusCode::NO_CONTENT || bytes.is_empty() {
            return Ok(Vec::new());
        }
        if !status.is_success() {
            bail!("batch poll: {status}: {}", String::from_utf8_lossy(&bytes));
        }
        let v: Value = serde_json::from_slice(&bytes).context("batch poll body")?;
        match v {
            Value::Array(tasks) => Ok(tasks),
            other => bail!("batch poll: expected an array, got {other}"),
        }
    }

    pub(crate) async fn complete(&self, task: &Value, worker: &str) -> anyhow::Result<()> {
        let body = json!({
            "workflowInstanceId": task["workflowInstanceId"],
            "taskId": task["taskId"],
            "status": "COMPLETED",
            "outputData": {},
            "workerId": worker,
        });
        self.post_json("/api/tasks", &body).await.map(|_| ())
    }
}
