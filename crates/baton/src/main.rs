//! The `baton` binary: `baton server` serves the Conductor API over a SQLite file (the
//! default) or a PostgreSQL database.

mod api_client;
mod auth_args;
mod conn_args;
mod def_cli;
mod keys_cli;
mod limit_args;
mod run;
mod schedule_cli;
mod task_cli;
mod tls_args;
mod worker_cli;
mod workflow_cli;

use anyhow::{bail, Context};
use baton_runtime::{Runtime, RuntimeConfig};
use baton_server::ServerConfig;
use baton_store::{PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store, Synchronous};
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
    /// Log line format on stderr: `text` for people, `json` (one object per line, with the
    /// request span and its id) for machines.
    #[arg(long, global = true, env = "BATON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the Conductor REST API.
    Server(ServerArgs),
    /// Manage cron schedules on a running server (`--server`, env BATON_SERVER).
    Schedule(schedule_cli::ScheduleArgs),
    /// Run a workflow definition in this process, without a server: `baton run FILE.json`.
    Run(run::RunArgs),
    /// Run programs as tasks: poll a server for the task types in a TOML file and run the
    /// command configured for each (see the README, "Workers").
    Worker(worker_cli::WorkerArgs),
    /// Manage API keys in the database (`--db`, env BATON_DB); no server needed.
    Keys(keys_cli::KeysArgs),
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
    /// Address to bind. Another than loopback needs an API key in the database (or
    /// --insecure).
    #[arg(long, env = "BATON_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Database URL: `sqlite://PATH` (created if missing) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (the database must exist; Baton
    /// creates and migrates its tables).
    #[arg(long, env = "BATON_DB", default_value = "sqlite://baton.db")]
    db: String,
    /// Most connections to PostgreSQL (ignored for SQLite).
    #[arg(long, env = "BATON_DB_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    db_connections: u64,
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
    #[command(flatten)]
    auth: auth_args::AuthArgs,
    /// Webhook configuration file (TOML): hooks, their secrets' environment variables, and
    /// the rules mapping events to workflows (README, Webhooks).
    #[arg(long, env = "BATON_WEBHOOKS")]
    webhooks: Option<PathBuf>,
    #[command(flatten)]
    tls: tls_args::TlsArgs,
    #[command(flatten)]
    scripts: ScriptArgs,
}

/// Script sandbox limits, shared by `baton server` and `baton run`.
#[derive(clap::Args, Debug)]
pub(crate) struct ScriptArgs {
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

/// The database a `--db` URL names.
#[derive(Debug, PartialEq)]
enum DbUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

fn parse_db_url(url: &str) -> anyhow::Result<DbUrl> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DbUrl::Postgres(url.to_string()));
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        bail!(
            "--db {}: unsupported database URL; use sqlite://PATH or postgres://…",
            redact(url)
        );
    };
    let rest = rest.split('?').next().unwrap_or(rest);
    if rest.is_empty() {
        bail!("--db {url}: the SQLite path is empty; use sqlite://PATH");
    }
    Ok(DbUrl::Sqlite(PathBuf::from(rest)))
}

/// A database URL fit for logs and errors: any password replaced by `***`.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

/// Opens the store `--db` names.
async fn open_store(args: &ServerArgs) -> anyhow::Result<(Arc<dyn Store>, String)> {
    match parse_db_url(&args.db)? {
        DbUrl::Sqlite(path) => {
            let mut opts = SqliteOptions::new(&path);
            opts.synchronous = match args.sync {
                SyncMode::Normal => Synchronous::Normal,
                SyncMode::Full => Synchronous::Full,
            };
            let store = SqliteStore::open(opts)
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
            Ok((Arc::new(store), path.display().to_string()))
        }
        DbUrl::Postgres(url) => {
            let shown = redact(&url);
            let mut opts = PostgresOptions::new(url);
            opts.max_connections = usize::try_from(args.db_connections).unwrap_or(16);
            let store = PostgresStore::open(opts)
                .await
                .with_context(|| format!("opening PostgreSQL database {shown}"))?;
            Ok((Arc::new(store), shown))
        }
    }
}

/// Opens the store a `--db` URL names for a short offline command (one PostgreSQL
/// connection); answers it with the URL fit for messages.
pub(crate) async fn open_db_url(url: &str) -> anyhow::Result<(Arc<dyn Store>, String)> {
    match parse_db_url(url)? {
        DbUrl::Sqlite(path) => {
            let store = SqliteStore::open_path(&path)
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
            Ok((Arc::new(store), path.display().to_string()))
        }
        DbUrl::Postgres(url) => {
            let shown = redact(&url);
            let mut opts = PostgresOptions::new(url);
            opts.max_connections = 1;
            let store = PostgresStore::open(opts)
                .await
                .with_context(|| format!("opening PostgreSQL database {shown}"))?;
            Ok((Arc::new(store), shown))
        }
    }
}

/// Applies the script limits and starts the script sandbox: from here on every script runs in
/// worker processes (this binary under [`SCRIPT_WORKER_COMMAND`]), bounded in memory and time.
pub(crate) fn install_script_sandbox(args: &ScriptArgs) -> anyhow::Result<()> {
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
    install_script_sandbox(&args.scripts)?;
    let (store, db) = open_store(&args).await?;
    let mut runtime_config = RuntimeConfig::default();
    args.limits.apply(&mut runtime_config);
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .with_context(|| format!("invalid --host/--port {}:{}", args.host, args.port))?;
    let active_keys = store
        .list_api_keys()
        .await
        .context("reading API keys")?
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    let mut auth = args.auth.config();
    auth.mode = baton_server::auth::decide_mode(active_keys, &addr, args.auth.insecure())
        .map_err(anyhow::Error::msg)?;
    match auth.mode {
        baton_server::auth::AuthMode::On => {
            tracing::info!(keys = active_keys, "authentication on")
        }
        baton_server::auth::AuthMode::Off if !addr.ip().is_loopback() => {
            auth.insecure = true;
            tracing::warn!(%addr, "INSECURE: authentication is off on a non-loopback address (--insecure); anyone who reaches this port can do anything");
        }
        baton_server::auth::AuthMode::Off => {
            tracing::info!("authentication off: loopback address and no API keys")
        }
    }
    // Before binding, so a bad certificate fails the start with nothing served.
    let tls = args.tls.load()?;
    let runtime = Runtime::new(store, runtime_config);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, %db, scheme, "baton server listening");
    let webhooks = match &args.webhooks {
        Some(path) => {
            let w =
                baton_server::webhook::WebhookConfig::load(path, |name| std::env::var(name).ok())
                    .map_err(anyhow::Error::msg)?;
            tracing::info!(hooks = ?w.hooks.keys().collect::<Vec<_>>(), "webhooks configured");
            w
        }
        None => baton_server::webhook::WebhookConfig::default(),
    };
    let mut config = ServerConfig {
        max_body_bytes: args.max_body_bytes,
        auth,
        webhooks: Arc::new(webhooks),
        tls,
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

pub(crate) async fn shutdown_signal() {
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
    // `baton run` talks to its user in its own progress lines; the log only adds warnings.
    let default_filter = match cli.command {
        Command::Run(_) => "warn",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        // Each line carries the spans it happened in (the request span: its id and route).
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let client_result = match cli.command {
        Command::Server(args) => return rt.block_on(run_server(args)),
        Command::ScriptWorker => return Ok(()),
        Command::Schedule(args) => rt.block_on(schedule_cli::run(args)),
        Command::Run(args) => {
            let code = rt.block_on(run::run(args)).unwrap_or_else(|e| {
                eprintln!("baton run: {e:#}");
                run::EXIT_USAGE
            });
            drop(rt);
            std::process::exit(code);
        }
        Command::Worker(args) => rt.block_on(worker_cli::run(args)),
        Command::Keys(args) => rt.block_on(keys_cli::run(args)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_urls_pick_the_backend() {
        assert_eq!(
            parse_db_url("sqlite://data/b.db?mode=rwc").unwrap(),
            DbUrl::Sqlite(PathBuf::from("data/b.db"))
        );
        assert_eq!(
            parse_db_url("postgres://u@h:5433/baton").unwrap(),
            DbUrl::Postgres("postgres://u@h:5433/baton".into())
        );
        assert!(matches!(
            parse_db_url("postgresql://h/b").unwrap(),
            DbUrl::Postgres(_)
        ));
        assert!(parse_db_url("sqlite://").is_err());
        let err = parse_db_url("mysql://root:hunter2@h/b")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://baton:s3cret@db:5432/baton"),
            "postgres://baton:***@db:5432/baton"
        );
        assert_eq!(
            redact("postgres://baton@db/baton"),
            "postgres://baton@db/baton"
        );
        assert_eq!(redact("sqlite://a.db"), "sqlite://a.db");
    }
}
