//! The `baton` binary: `baton server` serves the Conductor API over a SQLite file.

mod conn_args;
mod schedule_cli;

use anyhow::{bail, Context};
use baton_runtime::{Runtime, RuntimeConfig};
use baton_server::ServerConfig;
use baton_store::{SqliteOptions, SqliteStore, Synchronous};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "baton",
    version,
    about = "A Conductor-compatible workflow orchestration server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the Conductor REST API.
    Server(ServerArgs),
    /// Manage cron schedules on a running server (`--server`, env BATON_SERVER).
    Schedule(schedule_cli::ScheduleArgs),
}

#[derive(clap::Args, Debug)]
struct ServerArgs {
    /// TCP port to listen on.
    #[arg(long, env = "BATON_PORT", default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "BATON_HOST", default_value = "0.0.0.0")]
    host: String,
    /// Database URL: `sqlite://PATH` (created if missing).
    #[arg(long, env = "BATON_DB", default_value = "sqlite://baton.db")]
    db: String,
    /// SQLite durability: `normal` survives a killed process (kill -9); `full` also survives
    /// power loss, at the cost of an fsync per commit batch.
    #[arg(long, env = "BATON_SYNC", value_enum, default_value_t = SyncMode::Normal)]
    sync: SyncMode,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BATON_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    max_body_bytes: usize,
    #[command(flatten)]
    conn: conn_args::ConnArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SyncMode {
    Normal,
    Full,
}

fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            bail!("--db {url}: the PostgreSQL backend is not in this build yet; use sqlite://PATH");
        }
        bail!("--db {url}: unsupported database URL; use sqlite://PATH");
    };
    let rest = rest.split('?').next().unwrap_or(rest);
    if rest.is_empty() {
        bail!("--db {url}: the SQLite path is empty; use sqlite://PATH");
    }
    Ok(PathBuf::from(rest))
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    conn_args::raise_open_file_limit();
    let path = sqlite_path(&args.db)?;
    let mut opts = SqliteOptions::new(&path);
    opts.synchronous = match args.sync {
        SyncMode::Normal => Synchronous::Normal,
        SyncMode::Full => Synchronous::Full,
    };
    let store = SqliteStore::open(opts)
        .with_context(|| format!("opening SQLite database {}", path.display()))?;
    let runtime = Runtime::new(Arc::new(store), RuntimeConfig::default());
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .with_context(|| format!("invalid --host/--port {}:{}", args.host, args.port))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, db = %path.display(), "baton server listening");
    let mut config = ServerConfig {
        max_body_bytes: args.max_body_bytes,
        ..ServerConfig::default()
    };
    args.conn.apply(&mut config);
    baton_server::serve(listener, runtime, config, shutdown_signal()).await?;
    tracing::info!("baton server stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Server(args) => rt.block_on(run_server(args)),
        Command::Schedule(args) => rt.block_on(schedule_cli::run(args)),
    }
}
