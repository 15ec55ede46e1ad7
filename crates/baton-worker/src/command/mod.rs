//! The command worker: runs a program for each task, configured in a TOML file (this is
//! `baton worker --config workers.toml`).
//!
//! ```toml
//! [worker]
//! server = "http://localhost:8080"     # `--server` overrides it
//! id = "lab-bench-1"                   # default: the host name
//! shutdown_timeout_secs = 30
//!
//! [tasks.build_firmware]
//! program = "pio"                      # looked up in PATH; a path is relative to this file
//! args = ["run", "-d", "{{input.project_dir}}", "-e", "{{input.env}}"]
//! env = { BRANCH = "{{input.branch}}" }
//! cwd = "firmware"                     # relative to this file
//! timeout_secs = 900
//! concurrency = 1
//! terminal_exit_codes = [2]
//! ```
//!
//! Rules: the program runs with an argument vector, never through a shell; templates (see
//! [`template`]) fill arguments and environment values from the task, each as exactly one
//! value. stdout and stderr go to the task log line by line as they are written. If stdout
//! is a JSON object it becomes the task's output; otherwise the output holds `exitCode` and
//! the last `tail_bytes` of `stdout` and `stderr`. Exit code 0 completes the task; another
//! code fails it (retryable), or for good if it is listed in `terminal_exit_codes`. A
//! program that outlives `timeout_secs` gets SIGTERM and, `kill_grace_ms` later, SIGKILL —
//! its whole process group — and the task fails saying so; the group is also killed when the
//! program exits (leftover background processes) and when the worker shuts down.

mod config;
mod process;
pub mod template;

pub use config::{CommandConfig, ConfigError, TaskCommand, WorkerSection};

use crate::{Client, Outcome, Runner, RunnerConfig, Task, TaskContext, Worker, WorkerOptions};
use async_trait::async_trait;
use std::sync::Arc;

/// A [`Worker`] that runs one configured command per task.
pub struct CommandWorker {
    spec: Arc<TaskCommand>,
}

impl CommandWorker {
    /// A worker for `spec`.
    pub fn new(spec: TaskCommand) -> Self {
        CommandWorker {
            spec: Arc::new(spec),
        }
    }
}

#[async_trait]
impl Worker for CommandWorker {
    async fn execute(&self, task: Task, ctx: TaskContext) -> Outcome {
        process::run(&self.spec, &task, &ctx).await
    }
}

impl CommandConfig {
    /// The worker options (`concurrency`, `domain`, poll wait) of one task command.
    pub fn options_for(&self, t: &TaskCommand) -> WorkerOptions {
        WorkerOptions {
            concurrency: t.concurrency,
            domain: t.domain.clone(),
            poll_wait: self.worker.poll_wait,
            lease_extension: true,
        }
    }

    /// A runner with one [`CommandWorker`] per configured task type.
    pub fn into_runner(self, client: Client) -> Runner {
        let mut config = RunnerConfig {
            shutdown_timeout: self.worker.shutdown_timeout,
            ..RunnerConfig::default()
        };
        if let Some(id) = &self.worker.id {
            config.worker_id = id.clone();
        }
        let mut runner = Runner::new(client).config(config);
        for t in &self.tasks {
            runner = runner.register(
                t.task_type.clone(),
                self.options_for(t),
                CommandWorker::new(t.clone()),
            );
        }
        runner
    }
}
