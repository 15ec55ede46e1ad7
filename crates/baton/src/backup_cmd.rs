//! `baton backup --to FILE`: an online, consistent backup while the server runs. SQLite: a
//! snapshot copy (`VACUUM INTO`, see `baton_store::sqlite::backup`), checked and counted.
//! PostgreSQL: `pg_dump --format=custom`, restored with `pg_restore` (README, Backup).

use crate::{parse_db_url, redact, DbUrl};
use anyhow::{bail, Context};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(crate) struct BackupArgs {
    /// The database to back up: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "BATON_DB", default_value = "sqlite://baton.db")]
    db: String,
    /// The backup file to write; it must not exist.
    #[arg(long)]
    to: PathBuf,
}

pub(crate) fn run(args: BackupArgs) -> anyhow::Result<()> {
    match parse_db_url(&args.db)? {
        DbUrl::Sqlite(path) => {
            let summary = baton_store::sqlite::backup::backup(&path, &args.to)
                .with_context(|| format!("backing up {}", path.display()))?;
            println!(
                "backup of {} written to {}: {} bytes, {} executions, integrity ok",
                path.display(),
                args.to.display(),
                summary.bytes,
                summary.workflows
            );
            Ok(())
        }
        DbUrl::Postgres(url) => {
            if args.to.exists() {
                bail!("backup file {} already exists", args.to.display());
            }
            // pg_dump takes one snapshot of the whole database, without blocking writers.
            let status = std::process::Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(&args.to)
                .arg(&url)
                .status()
                .context("running pg_dump (install the PostgreSQL client tools)")?;
            if !status.success() {
                let _ = std::fs::remove_file(&args.to);
                bail!("pg_dump of {} failed ({status})", redact(&url));
            }
            println!(
                "backup of {} written to {} (pg_dump custom format; restore with pg_restore --no-owner -d URL {})",
                redact(&url),
                args.to.display(),
                args.to.display()
            );
            Ok(())
        }
    }
}
