//! W1 with the Rust worker SDK (`baton-worker`): `--workers` runners, each running up to
//! `--inflight` no-op tasks at once through the SDK's own poll loop and `update-v2` chaining,
//! to compare the SDK with the hand-written load worker.

use crate::*;
use baton_worker::{
    worker_fn, Client, Outcome, Runner, RunnerConfig, ShutdownReport, WorkerOptions,
};
use tokio_util::sync::CancellationToken;

pub(crate) struct SdkWorkers {
    stop: CancellationToken,
    runners: JoinSet<ShutdownReport>,
}

impl SdkWorkers {
    /// Starts the runners; every execution counts in `progress` (the update that reports it
    /// follows, so the caller also waits for the workflows to complete).
    pub(crate) fn spawn(
        api: &Api,
        progress: &Arc<Progress>,
        workers: usize,
        inflight: usize,
    ) -> anyhow::Result<Self> {
        let stop = CancellationToken::new();
        let mut runners = JoinSet::new();
        for w in 0..workers.max(1) {
            let progress = progress.clone();
            let noop = worker_fn(move |task, _ctx| {
                let progress = progress.clone();
                async move {
                    if task.task_type != TASK_TYPE {
                        progress.fail(anyhow!("the SDK handed out a {} task", task.task_type));
                    }
                    progress.ack();
                    Outcome::completed(baton_worker::JsonMap::new())
                }
            });
            let runner = Runner::new(Client::new(&api.base)?)
                .config(RunnerConfig {
                    worker_id: format!("bench-sdk-w{w}"),
                    shutdown_timeout: Duration::from_secs(5),
                    ..RunnerConfig::default()
                })
                .register(
                    TASK_TYPE,
                    WorkerOptions {
                        concurrency: inflight.max(1),
                        poll_wait: Duration::from_millis(100),
                        ..WorkerOptions::default()
                    },
                    noop,
                );
            runners.spawn(runner.run(stop.clone().cancelled_owned()));
        }
        Ok(SdkWorkers { stop, runners })
    }

    /// Stops the runners; fails if any abandoned a task.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        while let Some(r) = self.runners.join_next().await {
            let report = r?;
            if !report.abandoned.is_empty() {
                bail!("an SDK runner abandoned {} tasks", report.abandoned.len());
            }
        }
        Ok(())
    }
}

/// Waits until no workflow is RUNNING any more (after the last execution, for its last
/// update): one search request per round, so the wait adds little load of its own.
pub(crate) async fn wait_completed(api: &Api, deadline: Instant) -> anyhow::Result<Instant> {
    loop {
        let resp: Value = api
            .client
            .get(format!("{}/api/workflow/search", api.base))
            .query(&[("query", "status IN (RUNNING)"), ("size", "1")])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let running = resp["totalHits"]
            .as_u64()
            .ok_or_else(|| anyhow!("search answered without totalHits: {resp}"))?;
        if running == 0 {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("W1 (sdk): {running} workflows still RUNNING at the deadline");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
