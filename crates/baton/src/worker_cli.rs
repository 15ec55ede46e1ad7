//! `baton worker --config workers.toml`: the command worker (crate `baton-worker`, module
//! `command`) as a long-running process. SIGTERM or Ctrl-C stops it gracefully.

use anyhow::Context;
use baton_worker::command::CommandConfig;
use baton_worker::Client;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The TOML file mapping task types to commands (see the README, "Workers").
    #[arg(long, env = "BATON_WORKER_CONFIG")]
    config: PathBuf,
    /// The server's base URL [default: `[worker] server` in the file, else http://127.0.0.1:8080].
    #[arg(long, env = "BATON_SERVER")]
    server: Option<String>,
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let config = CommandConfig::load(&args.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let server = args
        .server
        .or_else(|| config.worker.server.clone())
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_string());
    let client = Client::new(&server).with_context(|| format!("--server {server}"))?;
    let types: Vec<&str> = config.tasks.iter().map(|t| t.task_type.as_str()).collect();
    tracing::info!(%server, task_types = ?types, "baton worker starting");
    let report = config
        .into_runner(client)
        .run(crate::shutdown_signal())
        .await;
    tracing::info!(
        results_delivered = report.results_delivered,
        abandoned = report.abandoned.len(),
        "baton worker stopped"
    );
    Ok(())
}
