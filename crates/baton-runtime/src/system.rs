//! The server's own workers for the system tasks that do I/O (HTTP, SUB_WORKFLOW,
//! START_WORKFLOW, EVENT). They poll their queues like any worker and report through the
//! ordinary update path, so retries, timeouts and history apply to them unchanged.
//!
//! Executions are bounded and tracked: a semaphore of `max_system_tasks_in_flight` permits
//! (the loops poll only as many tasks as they have permits for), and a `JoinSet` per loop.
//! On shutdown the loops stop polling and wait for their executions up to a deadline, then
//! abort the rest; an aborted task stays IN_PROGRESS until its response timeout hands it out
//! again (after a restart, to this server's workers).

use crate::runtime::Runtime;
use baton_engine::{systask as sys, ExecState};
use baton_model::{JsonMap, StartWorkflowRequest, Task, TaskResult, TaskResultStatus};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const WORKER_ID: &str = "baton-system";

impl Runtime {
    /// Runs one polling loop per asynchronous system task type until cancelled; then waits
    /// up to `grace` for the executions in flight and aborts those still running.
    pub async fn run_system_workers(self: Arc<Self>, cancel: CancellationToken, grace: Duration) {
        let http = reqwest::Client::builder()
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let permits = Arc::new(Semaphore::new(
            self.config().max_system_tasks_in_flight.max(1),
        ));
        let mut loops = JoinSet::new();
        for task_type in sys::ASYNC_SYSTEM_TYPES {
            let rt = self.clone();
            let cancel = cancel.clone();
            let http = http.clone();
            let permits = permits.clone();
            loops.spawn(async move {
                rt.system_loop(task_type, http, permits, cancel, grace)
                    .await
            });
        }
        while loops.join_next().await.is_some() {}
    }

    async fn system_loop(
        self: Arc<Self>,
        task_type: &'static str,
        http: reqwest::Client,
        permits: Arc<Semaphore>,
        cancel: CancellationToken,
        grace: Duration,
    ) {
        let mut running: JoinSet<()> = JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            // Room for at least one execution before claiming anything.
            let first = tokio::select! {
                _ = cancel.cancelled() => break,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let count = (1 + permits.available_permits()).min(16);
            let polled = tokio::select! {
                _ = cancel.cancelled() => break,
                r = self.poll(task_type, Some(WORKER_ID), None, count, Duration::from_millis(1000)) => r,
            };
            let tasks = match polled {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(task_type, error = %e, "system worker poll failed");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    }
                }
            };
            let mut first = Some(first);
            for task in tasks {
                // Another loop may have taken the permits counted above: wait for one (the
                // task is claimed already, so it runs even during shutdown's grace).
                let permit: OwnedSemaphorePermit = match first.take() {
                    Some(p) => p,
                    None => match permits.clone().acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let rt = self.clone();
                let http = http.clone();
                running.spawn(async move {
                    let _permit = permit;
                    let (result, child) = rt.execute_system_task(&task, &http).await;
                    // A child started before (by an earlier claim of this task) may have
                    // ended before this update records it: the parent looks at it after.
                    // A new child is committed with the update, and wakes its parent itself.
                    let found_child = child.is_none() && result.sub_workflow_id.is_some();
                    if let Err(e) = rt.update_task_starting(result, child).await {
                        tracing::warn!(task = %task.task_id, error = %e, "system task update failed");
                    }
                    if found_child {
                        if let Err(e) = rt.decide(&task.workflow_instance_id).await {
                            tracing::warn!(workflow = %task.workflow_instance_id, error = %e, "deciding the parent failed");
                        }
                    }
                });
            }
        }
        drain(task_type, running, grace).await;
    }

    /// Runs one system task; a SUB_WORKFLOW task also returns its new child, which the
    /// update that records it commits.
    async fn execute_system_task(
        &self,
        task: &Task,
        http: &reqwest::Client,
    ) -> (TaskResult, Option<Box<ExecState>>) {
        let mut r = TaskResult::new(
            &task.workflow_instance_id,
            &task.task_id,
            TaskResultStatus::Completed,
        );
        r.worker_id = Some(WORKER_ID.to_string());
        let mut child = None;
        let outcome: Result<(TaskResultStatus, JsonMap), String> = match task.task_type.as_str() {
            sys::HTTP => {
                let limit = self.config().max_http_task_response_bytes;
                run_http(&task.input_data, http, limit).await
            }
            sys::SUB_WORKFLOW => match self.check_sub_workflow_depth(task).await {
                Err(reason) => {
                    // Retrying cannot help: fail for good.
                    r.status = TaskResultStatus::FailedWithTerminalError;
                    r.reason_for_incompletion = Some(reason);
                    return (r, None);
                }
                Ok(()) => match self.prepare_sub_workflow(task).await {
                    Ok(start) => {
                        r.sub_workflow_id = Some(start.id.clone());
                        let mut out = JsonMap::new();
                        out.insert("subWorkflowId".into(), json!(start.id));
                        child = start.new;
                        Ok((TaskResultStatus::InProgress, out))
                    }
                    Err(e) => Err(e.to_string()),
                },
            },
            sys::START_WORKFLOW => self.run_start_workflow(task).await,
            sys::EVENT => {
                // Publish the output to Baton's own sink (message id = task id); handlers
                // listening on the queue run now. Only a failure to record it fails the task.
                let (status, out) = run_event(task);
                let queue = out.get("event_produced").and_then(Value::as_str);
                let queue = queue.unwrap_or_default().to_string();
                let message = Value::Object(out.clone());
                match self.publish_message(&queue, &task.task_id, message).await {
                    Ok(()) => Ok((status, out)),
                    Err(e) => Err(format!("publishing to {queue} failed: {e}")),
                }
            }
            other => Err(format!("no system worker for task type {other}")),
        };
        match outcome {
            Ok((status, output)) => {
                r.status = status;
                r.output_data = Some(output);
            }
            Err(reason) => {
                r.status = TaskResultStatus::Failed;
                r.reason_for_incompletion = Some(reason);
            }
        }
        (r, child)
    }

    /// Err(reason) when a child of this task's workflow would nest deeper than
    /// `max_workflow_depth` (runaway recursion, e.g. a SUB_WORKFLOW naming its own workflow).
    async fn check_sub_workflow_depth(&self, task: &Task) -> Result<(), String> {
        let limit = self.config().max_workflow_depth;
        match self.workflow_depth(&task.workflow_instance_id).await {
            Ok(depth) if depth >= limit => Err(format!(
                "sub-workflow nesting depth limit of {limit} reached: this workflow is already \
                 {depth} levels deep (--max-workflow-depth, BATON_MAX_WORKFLOW_DEPTH)"
            )),
            Ok(_) => Ok(()),
            // A transient read error is not a verdict: the start below reports its own.
            Err(_) => Ok(()),
        }
    }

    async fn run_start_workflow(&self, task: &Task) -> Result<(TaskResultStatus, JsonMap), String> {
        let Some(spec) = task.input_data.get("startWorkflow") else {
            return Err(
                "START_WORKFLOW needs input 'startWorkflow' (a StartWorkflowRequest)".into(),
            );
        };
        let mut req: StartWorkflowRequest = serde_json::from_value(spec.clone())
            .map_err(|e| format!("startWorkflow is not a valid StartWorkflowRequest: {e}"))?;
        if req.correlation_id.is_none() {
            req.correlation_id = task.correlation_id.clone();
        }
        let id = self.start_workflow(req).await.map_err(|e| e.to_string())?;
        let mut out = JsonMap::new();
        out.insert("workflowId".into(), json!(id));
        Ok((TaskResultStatus::Completed, out))
    }
}

/// Waits up to `grace` for a loop's executions, then aborts (and reports) the rest.
async fn drain(task_type: &str, mut running: JoinSet<()>, grace: Duration) {
    let deadline = Instant::now() + grace;
    while !running.is_empty() {
        match tokio::time::timeout_at(deadline, running.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    task_type,
                    aborted = running.len(),
                    "shutdown deadline reached: aborting system tasks still running \
                     (they stay IN_PROGRESS until their response timeout)"
                );
                running.shutdown().await;
                break;
            }
        }
    }
}

/// EVENT: published to Baton's own event sink, which is the task output itself (Baton has
/// no external brokers); `asyncComplete` leaves the task running for an external update.
fn run_event(task: &Task) -> (TaskResultStatus, JsonMap) {
    let mut out = task.input_data.clone();
    let sink = task
        .input_data
        .get("sink")
        .and_then(Value::as_str)
        .unwrap_or("conductor");
    let queue = match sink.split_once(':') {
        Some(("conductor", dest)) => format!("conductor:{}:{}", task.workflow_type, dest),
        Some(_) => sink.to_string(),
        None => format!(
            "conductor:{}:{}",
            task.workflow_type, task.reference_task_name
        ),
    };
    out.insert("event_produced".into(), json!(queue));
    out.insert(
        "workflowInstanceId".into(),
        json!(task.workflow_instance_id),
    );
    out.insert("workflowType".into(), json!(task.workflow_type));
    out.insert("correlationId".into(), json!(task.correlation_id));
    let async_complete = task
        .input_data
        .get("asyncComplete")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let status = if async_complete {
        TaskResultStatus::InProgress
    } else {
        TaskResultStatus::Completed
    };
    (status, out)
}

/// HTTP (§5.2): request from `http_request` (or the input itself); non-2xx fails the task,
/// and so does a response body over `max_body` bytes (nothing of it is kept).
async fn run_http(
    input: &JsonMap,
    http: &reqwest::Client,
    max_body: usize,
) -> Result<(TaskResultStatus, JsonMap), String> {
    let spec = match input.get("http_request") {
        Some(Value::Object(m)) => m.clone(),
        _ => input.clone(),
    };
    let uri = spec
        .get("uri")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or("Missing HTTP URI: set http_request.uri")?;
    let method = spec
        .get("method")
        .and_then(Value::as_str)
        .ok_or("No HTTP method specified: set http_request.method")?;
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("'{method}' is not an HTTP method"))?;
    let ms = |key: &str, default: u64| {
        spec.get(key)
            .and_then(Value::as_u64)
            .filter(|v| *v > 0)
            .unwrap_or(default)
    };
    let connect = Duration::from_millis(ms("connectionTimeOut", 3000));
    let read = Duration::from_millis(ms("readTimeOut", 3000));
    let mut req = http.request(method, uri).timeout(connect + read);
    let content_type = spec
        .get("contentType")
        .and_then(Value::as_str)
        .unwrap_or("application/json");
    let accept = match spec.get("accept") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => "application/json".into(),
    };
    req = req.header("Accept", accept);
    if let Some(Value::Object(headers)) = spec.get("headers") {
        for (k, v) in headers {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            req = req.header(k.as_str(), value);
        }
    }
    if let Some(body) = spec.get("body").filter(|b| !b.is_null()) {
        let bytes = match body {
            Value::String(s) if !content_type.contains("json") => s.clone().into_bytes(),
            other => serde_json::to_vec(other).unwrap_or_default(),
        };
        req = req.header("Content-Type", content_type).body(bytes);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("HTTP request to {uri} failed: {e}"))?;
    let status = resp.status();
    let mut headers = JsonMap::new();
    for (k, v) in resp.headers() {
        let entry = headers
            .entry(k.as_str().to_string())
            .or_insert_with(|| json!([]));
        if let Value::Array(list) = entry {
            list.push(json!(v.to_str().unwrap_or_default()));
        }
    }
    let text = read_capped(resp, uri, max_body).await?;
    let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    let mut out = JsonMap::new();
    out.insert(
        "response".into(),
        json!({
            "body": body,
            "headers": headers,
            "statusCode": status.as_u16(),
            "reasonPhrase": status.canonical_reason().unwrap_or_default(),
        }),
    );
    if status.is_success() {
        let async_complete = input
            .get("asyncComplete")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok((
            if async_complete {
                TaskResultStatus::InProgress
            } else {
                TaskResultStatus::Completed
            },
            out,
        ))
    } else {
        Err(format!(
            "HTTP {} {} from {uri}",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        ))
    }
}

/// The response body as text (invalid UTF-8 replaced), or Err naming the limit as soon as
/// it is known to exceed `max` bytes (from Content-Length, or while reading).
async fn read_capped(mut resp: reqwest::Response, uri: &str, max: usize) -> Result<String, String> {
    let too_large = |what: String| {
        format!(
            "the HTTP response from {uri} is larger than the limit of {max} bytes ({what}; \
             --max-http-task-response-bytes, BATON_MAX_HTTP_TASK_RESPONSE_BYTES)"
        )
    };
    if let Some(len) = resp.content_length() {
        if len > max as u64 {
            return Err(too_large(format!("Content-Length {len}")));
        }
    }
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading the HTTP response from {uri} failed: {e}"))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large(format!("more than {max} bytes sent")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(match String::from_utf8(body) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}
