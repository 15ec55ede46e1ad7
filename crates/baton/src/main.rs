//! The `baton` binary: `baton server` serves the Conductor API over a SQLite file (the
//! default) or a PostgreSQL database.

mod api_client;
mod auth_args;
mod backup_cmd;
mod conn_args;
mod def_cli;
mod keys_cli;
mod limit_args;
mod migrate;
mod retention_args;
mod run;
mod schedule_cli;
mod server_cmd;
mod start;
mod task_cli;
mod tls_args;
mod transfer;
mod worker_cli;
mod workflow_cli;

/// mimalloc rather than glibc's malloc: a profile of W1 on PostgreSQL spent about a fifth of
/// the server's CPU in glibc's malloc and free (many small, short-lived JSON values and
/// buffers across threads).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
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
    Server(server_cmd::ServerArgs),
    /// Serve from PostgreSQL if one is configured and answers (tier 1), else from the SQLite
    /// file (tier 2); reads flags, environment and `baton.toml` (README, Running in production).
    Start(start::StartArgs),
    /// Copy definitions, schedules, event handlers and executions (with history) from one
    /// database to another: `baton migrate --from sqlite://FILE --to postgres://…`.
    Migrate(migrate::MigrateArgs),
    /// Write definitions (and with --executions, executions) of a database as JSON files.
    Export(transfer::ExportArgs),
    /// Read the files `baton export` writes into a database.
    Import(transfer::ImportArgs),
    /// Write an online, consistent backup of the database (`--db`) to a new file.
    Backup(backup_cmd::BackupArgs),
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

/// The database a `--db` URL names.
#[derive(Debug, PartialEq)]
pub(crate) enum DbUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

pub(crate) fn parse_db_url(url: &str) -> anyhow::Result<DbUrl> {
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
pub(crate) fn redact(url: &str) -> String {
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
    let argv = match start::config_file::with_config_file::<Cli>(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let cli = Cli::parse_from(argv);
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
    // Colours only for a terminal: a journal or a file gets plain text, and each request's
    // span fields are not styled for nobody.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        Command::Server(args) => return rt.block_on(server_cmd::run_server(args)),
        Command::Start(args) => {
            // Why no tier could start, said plainly (no backtrace), and a failing exit code.
            if let Err(e) = rt.block_on(start::run(args)) {
                eprintln!("error: {e:#}");
                drop(rt);
                std::process::exit(1);
            }
            return Ok(());
        }
        Command::ScriptWorker => return Ok(()),
        Command::Schedule(args) => rt.block_on(schedule_cli::run(args)),
        Command::Migrate(args) => rt.block_on(migrate::run(args)),
        Command::Backup(args) => backup_cmd::run(args),
        Command::Export(args) => rt.block_on(transfer::export(args)),
        Command::Import(args) => rt.block_on(transfer::import(args)),
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
