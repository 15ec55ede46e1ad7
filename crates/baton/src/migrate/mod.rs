//! `baton migrate --from URL --to URL`: copies definitions (task and workflow), schedules,
//! event handlers and executions (with their tasks, queue entries, task logs, pending
//! follow-ups and full history) from one store to another, SQLite or PostgreSQL, either way.
//!
//! Re-runnable and interruptible: each execution is copied in one commit of the target, so an
//! interrupted run leaves whole executions or none, and a second run skips what is already
//! identical. An execution the target holds in a later state than the source (it progressed
//! there) is never overwritten. Every copied execution is read back from the target and
//! compared with the source. Stop the servers on the source first: what changes there during
//! the copy is picked up by the next run.

mod executions;
pub(crate) mod record;

use crate::{parse_db_url, redact, DbUrl};
use anyhow::{bail, Context};
use baton_store::{PostgresOptions, PostgresStore, SqliteStore, Store};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub(crate) struct MigrateArgs {
    /// The store to copy from: `sqlite://PATH` (must exist) or `postgres://…`.
    #[arg(long)]
    from: String,
    /// The store to copy into: `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(long)]
    to: String,
    /// Copy at most this many executions, then stop (run again to continue).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Executions read from the source per page.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    page_size: u64,
}

/// What happened to one kind of record.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Copied (new in the target, or replacing an older state).
    pub moved: u64,
    /// Copied and read back equal.
    pub verified: u64,
    /// Already identical in the target.
    pub unchanged: u64,
    /// The target's copy is newer; left alone.
    pub kept_newer: u64,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} moved, {} verified, {} already there, {} newer in the target (kept)",
            self.moved, self.verified, self.unchanged, self.kept_newer
        )
    }
}

/// Opens the store a URL names; a SQLite source must exist (a typo must not migrate an empty
/// new file).
pub(crate) async fn open_url(url: &str, must_exist: bool) -> anyhow::Result<Arc<dyn Store>> {
    match parse_db_url(url)? {
        DbUrl::Sqlite(path) => {
            if must_exist && !path.exists() {
                bail!("{url}: no such SQLite file");
            }
            let store = SqliteStore::open_path(&path)
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
            Ok(Arc::new(store))
        }
        DbUrl::Postgres(pg) => {
            let store = PostgresStore::open(PostgresOptions::new(pg.clone()))
                .await
                .with_context(|| format!("opening PostgreSQL database {}", redact(&pg)))?;
            Ok(Arc::new(store))
        }
    }
}

pub(crate) async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    if args.from == args.to {
        bail!("--from and --to name the same database");
    }
    let from = open_url(&args.from, true).await?;
    let to = open_url(&args.to, false).await?;
    eprintln!(
        "baton migrate: {} -> {}",
        redact(&args.from),
        redact(&args.to)
    );
    let task_defs = copy_task_defs(&from, &to).await?;
    eprintln!("task definitions: {task_defs}");
    let workflow_defs = copy_workflow_defs(&from, &to).await?;
    eprintln!("workflow definitions: {workflow_defs}");
    let schedules = copy_schedules(&from, &to).await?;
    eprintln!("schedules: {schedules}");
    let handlers = copy_event_handlers(&from, &to).await?;
    eprintln!("event handlers: {handlers}");
    let keys = copy_api_keys(&from, &to).await?;
    eprintln!("API keys: {keys}");
    let limit = args.limit.unwrap_or(u64::MAX);
    let page = usize::try_from(args.page_size).unwrap_or(100);
    let report = executions::copy_executions(&from, &to, limit, page).await?;
    eprintln!("executions: {}", report.tally);
    for note in &report.notes {
        eprintln!("  {note}");
    }
    if report.stopped_at_limit {
        eprintln!("stopped at --limit {limit}; run the same command again to continue");
    }
    if !report.mismatches.is_empty() {
        bail!(
            "{} executions did not read back equal: {}",
            report.mismatches.len(),
            report.mismatches.join(", ")
        );
    }
    Ok(())
}

/// Definitions and handlers compare equal when their content is, whatever their times.
fn same_content<T: serde::Serialize>(a: &T, b: &T) -> bool {
    let strip = |t: &T| {
        let mut v = serde_json::to_value(t).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            for key in [
                "createTime",
                "updateTime",
                "updatedTime",
                "createdBy",
                "updatedBy",
            ] {
                o.remove(key);
            }
        }
        v
    };
    strip(a) == strip(b)
}

async fn copy_task_defs(from: &Arc<dyn Store>, to: &Arc<dyn Store>) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for def in from
        .list_task_defs()
        .await
        .context("reading task definitions")?
    {
        match to.get_task_def(&def.name).await? {
            Some(t) if same_content(&t, &def) => tally.unchanged += 1,
            Some(t) if t.update_time > def.update_time => tally.kept_newer += 1,
            _ => {
                to.put_task_defs(vec![def.clone()]).await?;
                tally.moved += 1;
                if matches!(to.get_task_def(&def.name).await?, Some(t) if same_content(&t, &def)) {
                    tally.verified += 1;
                }
            }
        }
    }
    Ok(tally)
}

async fn copy_workflow_defs(from: &Arc<dyn Store>, to: &Arc<dyn Store>) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for def in from
        .list_workflow_defs()
        .await
        .context("reading workflow definitions")?
    {
        match to.get_workflow_def(&def.name, Some(def.version)).await? {
            Some(t) if same_content(&t, &def) => tally.unchanged += 1,
            Some(t) if t.update_time > def.update_time => tally.kept_newer += 1,
            _ => {
                to.put_workflow_def(def.clone(), true).await?;
                tally.moved += 1;
                let back = to.get_workflow_def(&def.name, Some(def.version)).await?;
                if matches!(back, Some(t) if same_content(&t, &def)) {
                    tally.verified += 1;
                }
            }
        }
    }
    Ok(tally)
}

async fn copy_schedules(from: &Arc<dyn Store>, to: &Arc<dyn Store>) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for schedule in from.list_schedules().await.context("reading schedules")? {
        match to.get_schedule(&schedule.name).await? {
            Some(t) if same_content(&t, &schedule) => tally.unchanged += 1,
            Some(t) if t.updated_time > schedule.updated_time => tally.kept_newer += 1,
            _ => {
                to.put_schedule(schedule.clone()).await?;
                tally.moved += 1;
                if matches!(to.get_schedule(&schedule.name).await?, Some(t) if same_content(&t, &schedule))
                {
                    tally.verified += 1;
                }
            }
        }
    }
    Ok(tally)
}

async fn copy_event_handlers(from: &Arc<dyn Store>, to: &Arc<dyn Store>) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let existing = to.list_event_handlers().await?;
    for handler in from
        .list_event_handlers()
        .await
        .context("reading event handlers")?
    {
        let there = existing.iter().find(|h| h.name == handler.name);
        match there {
            Some(t) if same_content(t, &handler) => {
                tally.unchanged += 1;
                continue;
            }
            // Handlers carry no update time: the source's content wins.
            Some(_) => to.put_event_handler(handler.clone(), false).await?,
            None => to.put_event_handler(handler.clone(), true).await?,
        }
        tally.moved += 1;
        let back = to.list_event_handlers().await?;
        if back
            .iter()
            .any(|h| h.name == handler.name && same_content(h, &handler))
        {
            tally.verified += 1;
        }
    }
    Ok(tally)
}

/// API keys (their secrets are stored only as hashes): missing ones are added, and a key
/// revoked in the source is revoked in the target. A revocation is never undone.
async fn copy_api_keys(from: &Arc<dyn Store>, to: &Arc<dyn Store>) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for key in from.list_api_keys().await.context("reading API keys")? {
        match to.get_api_key(&key.key_id).await? {
            Some(t) if t == key => tally.unchanged += 1,
            Some(t) => match (t.revoked_at, key.revoked_at) {
                (None, Some(at)) => {
                    to.revoke_api_key(&key.key_id, at).await?;
                    tally.moved += 1;
                    if to
                        .get_api_key(&key.key_id)
                        .await?
                        .is_some_and(|k| k.revoked_at.is_some())
                    {
                        tally.verified += 1;
                    }
                }
                _ => tally.kept_newer += 1,
            },
            None => {
                to.put_api_key(key.clone()).await?;
                tally.moved += 1;
                if to.get_api_key(&key.key_id).await?.as_ref() == Some(&key) {
                    tally.verified += 1;
                }
            }
        }
    }
    Ok(tally)
}
