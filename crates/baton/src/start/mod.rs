//! `baton start`: the three tiers as one command (issue 12).
//!
//! - **Tier 1**: a PostgreSQL URL is configured (`--postgres`) and answers within
//!   `--postgres-wait-secs`: serve from it.
//! - **Tier 2**: no PostgreSQL configured, or it does not answer: serve from the SQLite file
//!   (`--db`), after a loud warning naming the URL and the reason (`--no-fallback` makes that
//!   an error instead). While on this fallback, PostgreSQL is checked every
//!   `--postgres-recheck-secs`; the log and `/health` say when it is back and that
//!   `baton migrate` moves the fallback's work into it.
//! - **Tier 3**: when neither can start, the error says how to run a workflow without a
//!   server (`baton run`).

pub(crate) mod config_file;

use crate::server_cmd::{self, ServerArgs};
use crate::{parse_db_url, redact, DbUrl};
use anyhow::{anyhow, bail};
use baton_server::tier::{Fallback, TierStatus};
use baton_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a single connection attempt may take while waiting for PostgreSQL.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between connection attempts while waiting for PostgreSQL at start.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

#[derive(clap::Args, Debug)]
pub(crate) struct StartArgs {
    /// Configuration file (TOML; its keys are these long flags). Flags and environment
    /// variables win over it [default: ./baton.toml, if it exists].
    #[arg(long, env = "BATON_CONFIG")]
    config: Option<PathBuf>,
    /// PostgreSQL URL to serve from (tier 1), `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    /// Without it, `baton start` serves from the SQLite file `--db` (tier 2).
    #[arg(long, env = "BATON_POSTGRES")]
    postgres: Option<String>,
    /// How long to keep trying PostgreSQL at start before falling back (seconds; 0: one try).
    #[arg(long, env = "BATON_POSTGRES_WAIT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    postgres_wait_secs: u64,
    /// Never fall back to SQLite: an unreachable PostgreSQL is an error (exit 1).
    #[arg(long, env = "BATON_NO_FALLBACK")]
    no_fallback: bool,
    /// On the SQLite fallback, how often to check whether PostgreSQL is back (seconds).
    #[arg(long, env = "BATON_POSTGRES_RECHECK_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    postgres_recheck_secs: u64,
    #[command(flatten)]
    server: ServerArgs,
}

/// What to do when no tier can serve: run the workflow in this process instead.
const TIER_3_HINT: &str = "no server can start here. To run a workflow without a server \
(tier 3: the same engine in this process, worker tasks run by local commands or mocks):\n  \
baton run WORKFLOW.json --input '{\"key\": \"value\"}' [--workers workers.toml]\n\
(see `baton run --help`)";

pub(crate) async fn run(args: StartArgs) -> anyhow::Result<()> {
    crate::conn_args::raise_open_file_limit();
    let sqlite_path = match parse_db_url(&args.server.db)? {
        DbUrl::Sqlite(path) => path,
        DbUrl::Postgres(_) => bail!(
            "baton start: --db names the SQLite fallback file (sqlite://PATH); give the PostgreSQL URL with --postgres (or BATON_POSTGRES)"
        ),
    };
    let sqlite_url = format!("sqlite://{}", sqlite_path.display());
    let Some(pg_url) = args.postgres.clone() else {
        tracing::info!("no PostgreSQL configured (--postgres): tier 2, the SQLite file");
        let store = open_fallback(&args, &sqlite_path, None)?;
        let tier = Arc::new(TierStatus::default());
        return server_cmd::serve(args.server, store, sqlite_url, tier, |_| {}).await;
    };
    let shown = redact(&pg_url);
    let reason = match connect(&args, &pg_url).await {
        Ok(store) => {
            tracing::info!(postgres = %shown, "tier 1: serving from PostgreSQL");
            let tier = Arc::new(TierStatus::default());
            return server_cmd::serve(args.server, store, shown, tier, |_| {}).await;
        }
        Err(reason) => reason,
    };
    if args.no_fallback {
        bail!(
            "PostgreSQL {shown} is not usable ({reason}); --no-fallback is set, so Baton does not fall back to SQLite"
        );
    }
    tracing::warn!(
        "FALLBACK TO TIER 2: PostgreSQL {shown} is not usable ({reason}). Serving from the SQLite file {} instead. Work done now is kept in that file: when PostgreSQL is back, stop this server and run `baton migrate --from {sqlite_url} --to {shown}`, then `baton start` again.",
        sqlite_path.display()
    );
    let store = open_fallback(&args, &sqlite_path, Some((&shown, &reason)))?;
    let fallback = Arc::new(TierStatus::new(Some(Fallback::new(
        shown,
        reason,
        sqlite_url.clone(),
    ))));
    let recheck = Duration::from_secs(args.postgres_recheck_secs);
    let watched = fallback.clone();
    server_cmd::serve(args.server, store, sqlite_url, fallback, move |runtime| {
        let gauge = prometheus::IntGauge::new(
            "baton_fallback_primary_reachable",
            "On the SQLite fallback (tier 2) with a PostgreSQL URL configured: 1 when the last check reached PostgreSQL, else 0.",
        )
        .expect("static gauge definition");
        if let Err(e) = runtime.metrics().registry().register(Box::new(gauge.clone())) {
            tracing::warn!("fallback metric not registered: {e}");
        }
        tokio::spawn(watch_primary(pg_url, watched, recheck, gauge));
    })
    .await
}

/// Tries PostgreSQL until it answers or `--postgres-wait-secs` have passed, then opens the
/// store (which migrates the schema). The error is the reason to show.
async fn connect(args: &StartArgs, url: &str) -> Result<Arc<dyn Store>, String> {
    let deadline = Instant::now() + Duration::from_secs(args.postgres_wait_secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left.clamp(Duration::from_secs(1), PROBE_TIMEOUT);
        match baton_store::postgres::probe(url, attempt).await {
            Ok(()) => break,
            // An invalid URL or a refused login will not fix itself by waiting.
            Err(e @ baton_store::StoreError::Database(_)) => return Err(e.to_string()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!(
                    "{e} (waited {} s, --postgres-wait-secs)",
                    args.postgres_wait_secs
                ))
            }
            Err(e) => {
                tracing::info!(postgres = %redact(url), "PostgreSQL not answering yet ({e}); retrying");
                tokio::time::sleep(RETRY_PAUSE.min(left)).await;
            }
        }
    }
    server_cmd::open_postgres(&args.server, url)
        .await
        .map_err(|e| format!("{e:#}"))
}

/// Opens the SQLite file; if that fails too, the error carries the `baton run` hint.
fn open_fallback(
    args: &StartArgs,
    path: &std::path::Path,
    postgres: Option<(&str, &str)>,
) -> anyhow::Result<Arc<dyn Store>> {
    server_cmd::open_sqlite(&args.server, path).map_err(|e| {
        let postgres = match postgres {
            Some((url, reason)) => format!("PostgreSQL {url} is not usable ({reason}); "),
            None => String::new(),
        };
        anyhow!(
            "{postgres}the SQLite file {} cannot be opened either ({e:#}).\n{TIER_3_HINT}",
            path.display()
        )
    })
}

/// While serving from the fallback: checks PostgreSQL every `every`, and says so in the log,
/// `/health` and the metric when it comes back (or goes away again).
async fn watch_primary(
    url: String,
    status: Arc<TierStatus>,
    every: Duration,
    gauge: prometheus::IntGauge,
) {
    let Some(fallback) = status.fallback() else {
        return;
    };
    loop {
        tokio::time::sleep(every).await;
        let reachable = baton_store::postgres::probe(&url, PROBE_TIMEOUT)
            .await
            .is_ok();
        gauge.set(i64::from(reachable));
        if fallback.set_primary_reachable(reachable) {
            if reachable {
                tracing::warn!(
                    "PostgreSQL {} is reachable again. This server keeps serving from {}; to move back: stop it, run `{}`, then `baton start` again.",
                    fallback.primary,
                    fallback.sqlite_url,
                    fallback.migrate_command()
                );
            } else {
                tracing::warn!(
                    "PostgreSQL {} is unreachable again; still serving from {}",
                    fallback.primary,
                    fallback.sqlite_url
                );
            }
        }
    }
}
