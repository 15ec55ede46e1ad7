//! The `baton` binary: `baton server` serves the Conductor API over a SQLite file.

mod api_client;
mod conn_args;
mod def_cli;
mod limit_args;
mod schedule_cli;
mod task_cli;
mod workflow_cli;

use anyhow::{bail, Context};
use baton_runtime::{Runtime, RuntimeConfig};
use baton_server::ServerConfig;
use baton_store::{SqliteOptions, SqliteStore, Synchronous};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// Start, inspect, search and operate workflow executions on a running server.
    Workflow(workflow_cli::WorkflowArgs),
    /// Register, list, show and (offline) validate definitions.
    Def(def_cli::DefArgs),
    /// Poll and complete tasks, read task logs.
    Task(task_cli::TaskArgs),
    /// Show the size of every task queue.
    Queue(task_cli::QueueArgs),
    /// Internal: a script sandbox worker (`baton server` starts these itself).
    #[command(name = SCRIPT_WORKER_COMMAND, hide = true)]
    ScriptWorker,
}

/// Hidden subcommand under which `baton server` re-executes itself as a script sandbox worker.
const SCRIPT_WORKER_COMMAND: &str = "__script-worker";

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
    #[command(flatten)]
    limits: limit_args::LimitArgs,
    /// Time limit of one script evaluation (INLINE, SWITCH, DO_WHILE, JSON_JQ_TRANSFORM, event
    /// conditions), in milliseconds.
    #[arg(long, env = "BATON_SCRIPT_TIMEOUT_MS", default_value_t = 4000,
          value_parser = clap::value_parser!(u64).range(1..))]
    script_timeout_ms: u64,
    /// Memory limit of one script evaluation, in MiB: the JavaScript heap and the jq outputs;
    /// the sandbox process may grow by at most twice this plus 16 MiB.
    #[arg(long, env = "BATON_SCRIPT_MEMORY_MB", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    script_memory_mb: u64,
    /// Most script sandbox processes alive at once [default: one per CPU, 2 to 8].
    #[arg(long, env = "BATON_SCRIPT_WORKERS",
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    script_workers: Option<u64>,
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

/// Applies the script limits and starts the script sandbox: from here on every script runs in
/// worker processes (this binary under [`SCRIPT_WORKER_COMMAND`]), bounded in memory and time.
fn install_script_sandbox(args: &ServerArgs) -> anyhow::Result<()> {
    let memory_bytes = usize::try_from(args.script_memory_mb.saturating_mul(1024 * 1024))
        .context("--script-memory-mb is too large for this platform")?;
    baton_script::set_configured_limits(baton_script::Limits {
        time: Duration::from_millis(args.script_timeout_ms),
        memory_bytes,
    });
    let workers = match args.script_workers {
        Some(n) => usize::try_from(n).context("--script-workers is too large")?,
        None => baton_script::sandbox::SandboxConfig::default_workers(),
    };
    baton_script::sandbox::install(baton_script::sandbox::SandboxConfig {
        // The running binary itself, even if its file was replaced since it started.
        program: PathBuf::from("/proc/self/exe"),
        args: vec![SCRIPT_WORKER_COMMAND.into()],
        workers,
    })
    .context("starting the script sandbox")?;
    tracing::info!(
        workers,
        timeout_ms = args.script_timeout_ms,
        memory_mb = args.script_memory_mb,
        "script sandbox ready"
    );
    Ok(())
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    conn_args::raise_open_file_limit();
    install_script_sandbox(&args)?;
    let path = sqlite_path(&args.db)?;
    let mut opts = SqliteOptions::new(&path);
    opts.synchronous = match args.sync {
        SyncMode::Normal => Synchronous::Normal,
        SyncMode::Full => Synchronous::Full,
    };
    let store = SqliteStore::open(opts)
        .with_context(|| format!("opening SQLite database {}", path.display()))?;
    let mut runtime_config = RuntimeConfig::default();
    args.limits.apply(&mut runtime_config);
    let runtime = Runtime::new(Arc::new(store), runtime_config);
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
    let served = baton_server::serve(listener, runtime, config, shutdown_signal()).await;
    // Idle workers die now; busy ones when their evaluation ends, or with this process.
    baton_script::sandbox::shutdown();
    served?;
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
    let cli = Cli::parse();
    if let Command::ScriptWorker = cli.command {
        // Before any runtime or logging: a worker stays single-purpose and small.
        std::process::exit(baton_script::sandbox::run_worker());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let client_result = match cli.command {
        Command::Server(args) => return rt.block_on(run_server(args)),
        Command::ScriptWorker => return Ok(()),
        Command::Schedule(args) => rt.block_on(schedule_cli::run(args)),
        Command::Workflow(args) => rt.block_on(workflow_cli::run(args)),
        Command::Def(args) => rt.block_on(def_cli::run(args)),
        Command::Task(args) => rt.block_on(task_cli::run(args)),
        Command::Queue(args) => rt.block_on(task_cli::run_queue(args)),
    };
    // Client commands: the error on stderr, and an exit code that says what went wrong.
    if let Err(e) = client_result {
        eprintln!("error: {e:#}");
        drop(rt);
        std::process::exit(api_client::exit_code(&e));
    }
    Ok(())
}
