//! W1 with `update-v2` workers (the completion and the next poll in one call), and the
//! server's CPU time read from `/proc/<pid>/stat`.

use super::{Api, Progress, TASK_TYPE};
use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;

/// User plus system CPU time the process `pid` has used so far, in microseconds.
pub(crate) fn cpu_micros(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may contain spaces; count from after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("malformed /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .ok_or_else(|| anyhow!("/proc/{pid}/stat has too few fields"))?
            .parse::<u64>()
            .context("parsing /proc/<pid>/stat")
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(total * 1_000_000 / clock_ticks_per_second())
}

/// `sysconf(_SC_CLK_TCK)`, asked of `getconf` once (100 on every common Linux).
fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

impl Api {
    /// `POST /api/tasks/update-v2` completing `task`; the next task of the type, if any.
    async fn complete_v2(&self, task: &Value, worker: &str) -> anyhow::Result<Option<Value>> {
        let body = json!({
            "workflowInstanceId": task["workflowInstanceId"],
            "taskId": task["taskId"],
            "status": "COMPLETED",
            "outputData": {},
            "workerId": worker,
        });
        let resp = self
            .client
            .post(format!("{}/api/tasks/update-v2", self.base))
            .json(&body)
            .send()
            .await
            .context("POST /api/tasks/update-v2")?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            bail!("update-v2: {status}: {}", String::from_utf8_lossy(&bytes));
        }
        if status == reqwest::StatusCode::NO_CONTENT || bytes.is_empty() {
            return Ok(None);
        }
        let next: Value = serde_json::from_slice(&bytes).context("update-v2 body")?;
        Ok(next.is_object().then_some(next))
    }
}

/// `workers × inflight` loops, each holding one task at a time: poll one, then complete it
/// with `update-v2` and carry on with the task that answer hands back (poll again on 204).
pub(crate) fn spawn_workers(
    api: &Api,
    progress: &Arc<Progress>,
    workers: usize,
    inflight: usize,
    deadline: Instant,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for w in 0..workers.max(1) {
        for _ in 0..inflight.max(1) {
            let api = api.clone();
            let progress = progress.clone();
            let worker = format!("bench-v2-w{w}");
            set.spawn(async move {
                let mut held: Option<Value> = None;
                while !progress.done.load(Ordering::SeqCst) {
                    if Instant::now() > deadline {
                        progress.fail(anyhow!("deadline exceeded"));
                        break;
                    }
                    let task = match held.take() {
                        Some(t) => t,
                        None => match api.poll(1, 100, &worker).await {
                            Ok(mut tasks) => match tasks.pop() {
                                Some(t) => t,
                                None => continue,
                            },
                            Err(e) => {
                                progress.fail(e);
                                break;
                            }
                        },
                    };
                    if task["taskType"] != TASK_TYPE {
                        progress.fail(anyhow!("update-v2 handed back {task}"));
                        break;
                    }
                    match api.complete_v2(&task, &worker).await {
                        Ok(next) => {
                            progress.ack();
                            held = next;
                        }
                        Err(e) => {
                            progress.fail(e);
                            break;
                        }
                    }
                }
            });
        }
    }
    set
}
