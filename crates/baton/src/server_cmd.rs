//! `baton server`: serve the Conductor API from the one database `--db` names. `baton start`
//! (see `start.rs`) adds the choice between PostgreSQL and the SQLite fallback on top.

use crate::{conn_args, install_script_sandbox, parse_db_url, redact, shutdown_signal, DbUrl};
use anyhow::Context;
use baton_runtime::{Runtime, RuntimeConfig};
use baton_server::tier::TierStatus;
use baton_server::ServerConfig;
use baton_store::{
    GroupCommitOptions, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store,
    Synchronous,
};
use clap::ValueEnum;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub(crate) struct ServerArgs {
    /// TCP port to listen on.
    #[arg(long, env = "BATON_PORT", default_value_t = 8080)]
    port: u16,
    /// Address to bind. Another than loopback needs an API key in the database (or
    /// --insecure).
    #[arg(long, env = "BATON_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Database URL: `sqlite://PATH` (created if missing) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (the database must exist; Baton
    /// creates and migrates its tables). Under `baton start`: the SQLite fallback file.
    #[arg(long, env = "BATON_DB", default_value = "sqlite://baton.db")]
    pub(crate) db: String,
    /// Most connections to PostgreSQL (ignored for SQLite).
    #[arg(long, env = "BATON_DB_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub(crate) db_connections: u64,
    /// PostgreSQL group commit: most commits written in one transaction (1: each alone).
    /// Larger groups take fewer statements per task; a commit never waits for a group to
    /// fill, only for the one in flight (ADR 23).
    #[arg(long, env = "BATON_DB_COMMIT_GROUP", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub(crate) db_commit_group: u64,
    /// PostgreSQL group commit: groups written at once, each on its own connection.
    #[arg(long, env = "BATON_DB_COMMIT_LANES", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub(crate) db_commit_lanes: u64,
    /// SQLite durability: `normal` survives a killed process (kill -9); `full` also survives
    /// power loss, at the cost of an fsync per commit batch.
    #[arg(long, env = "BATON_SYNC", value_enum, default_value_t = SyncMode::Normal)]
    sync: SyncMode,
    /// Bytes of a task's input, and of its output, that free-text task search matches (the
    /// start of each, as JSON); 0 leaves input and output out of task search.
    #[arg(long, env = "BATON_TASK_SEARCH_TEXT_BYTES",
          default_value_t = baton_store::DEFAULT_TASK_TEXT_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(0..=16 * 1024 * 1024))]
    task_search_text_bytes: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BATON_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    max_body_bytes: usize,
    #[command(flatten)]
    conn: conn_args::ConnArgs,
    #[command(flatten)]
    limits: crate::limit_args::LimitArgs,
    #[command(flatten)]
    auth: crate::auth_args::AuthArgs,
    /// Webhook configuration file (TOML): hooks, their secrets' environment variables, and
    /// the rules mapping events to workflows (README, Webhooks).
    #[arg(long, env = "BATON_WEBHOOKS")]
    webhooks: Option<PathBuf>,
    #[command(flatten)]
    tls: crate::tls_args::TlsArgs,
    #[command(flatten)]
    scripts: crate::ScriptArgs,
    #[command(flatten)]
    retention: crate::retention_args::RetentionArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SyncMode {
    Normal,
    Full,
}

impl ServerArgs {
    /// `--task-search-text-bytes` (range-checked far below usize::MAX).
    fn task_text_bytes(&self) -> usize {
        usize::try_from(self.task_search_text_bytes).unwrap_or(usize::MAX)
    }
}

/// Opens (creating if missing) the SQLite store at `path`.
pub(crate) fn open_sqlite(args: &ServerArgs, path: &Path) -> anyhow::Result<Arc<dyn Store>> {
    let mut opts = SqliteOptions::new(path);
    opts.synchronous = match args.sync {
        SyncMode::Normal => Synchronous::Normal,
        SyncMode::Full => Synchronous::Full,
    };
    opts.task_text_bytes = args.task_text_bytes();
    let store = SqliteStore::open(opts)
        .with_context(|| format!("opening SQLite database {}", path.display()))?;
    Ok(Arc::new(store))
}

/// Connects to the PostgreSQL database at `url` and brings its schema up to date.
pub(crate) async fn open_postgres(args: &ServerArgs, url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let mut opts = PostgresOptions::new(url);
    opts.max_connections = usize::try_from(args.db_connections).unwrap_or(16);
    opts.group_commit = GroupCommitOptions {
        group_max: usize::try_from(args.db_commit_group).unwrap_or(64),
        lanes: usize::try_from(args.db_commit_lanes).unwrap_or(2),
    };
    opts.task_text_bytes = args.task_text_bytes();
    let store = PostgresStore::open(opts)
        .await
        .with_context(|| format!("opening PostgreSQL database {}", redact(url)))?;
    Ok(Arc::new(store))
}

/// Opens the store `--db` names; also answers the URL fit for logs.
async fn open_store(args: &ServerArgs) -> anyhow::Result<(Arc<dyn Store>, String)> {
    match parse_db_url(&args.db)? {
        DbUrl::Sqlite(path) => Ok((open_sqlite(args, &path)?, path.display().to_string())),
        DbUrl::Postgres(url) => Ok((open_postgres(args, &url).await?, redact(&url))),
    }
}

pub(crate) async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    conn_args::raise_open_file_limit();
    let (store, db) = open_store(&args).await?;
    serve(args, store, db, Arc::new(TierStatus::default()), |_| {}).await
}

/// Serves the API from `store` until SIGTERM or Ctrl-C. `with_runtime` runs once the runtime
/// exists (`baton start` registers its fallback metric there).
pub(crate) async fn serve(
    args: ServerArgs,
    store: Arc<dyn Store>,
    db: String,
    tier: Arc<TierStatus>,
    with_runtime: impl FnOnce(&Arc<Runtime>),
) -> anyhow::Result<()> {
    install_script_sandbox(&args.scripts)?;
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
    let backend = store.backend_name();
    let runtime = Runtime::new(store, runtime_config);
    with_runtime(&runtime);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let tier_number = baton_server::tier::tier_of(backend);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, %db, backend, tier = tier_number, scheme, "baton server listening");
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
        tier,
        retention: args.retention.config(),
        tls,
        ..ServerConfig::default()
    };
    args.conn.apply(&mut config);
    if let Some(r) = &config.retention {
        tracing::info!(max_age_days = r.max_age.as_secs() / 86_400, policy = ?r.policy, batch = r.batch, "retention on");
    }
    let served = baton_server::serve(listener, runtime, config, shutdown_signal()).await;
    // Idle workers die now; busy ones when their evaluation ends, or with this process.
    baton_script::sandbox::shutdown();
    served?;
    tracing::info!("baton server stopped");
    Ok(())
}
