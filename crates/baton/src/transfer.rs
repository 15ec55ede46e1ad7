//! `baton export --to DIR` and `baton import --from DIR`: definitions (and, with
//! `--executions`, executions with their history) as JSON files on a database (`--db`).
//!
//! The definition files are the bodies the Conductor metadata API takes, so they can be kept
//! in git and applied to Baton or Conductor alike (`baton def apply FILE`, or
//! `PUT /api/metadata/workflow` with `workflow-definitions.json`, `POST
//! /api/metadata/taskdefs` with `task-definitions.json`):
//!
//! | file | content |
//! |---|---|
//! | `task-definitions.json` | list of task definitions, by name |
//! | `workflow-definitions.json` | list of workflow definitions, by name and version |
//! | `event-handlers.json` | list of event handlers (`POST /api/event` each) |
//! | `schedules.json` | list of schedules (`POST /api/scheduler/schedules` each) |
//! | `executions.jsonl` | with `--executions`: one execution per line, with tasks, definition, history |
//!
//! Import reads and checks every file first and writes only if all of them are valid. It
//! replaces definitions, handlers and schedules of the same name (and version), and never
//! overwrites an execution that exists already.

use crate::migrate::open_url;
use crate::migrate::record::{now_millis, ExecutionRecord};
use anyhow::{bail, Context};
use baton_model::{EventHandler, TaskDef, WorkflowDef};
use baton_store::{Store, WorkflowQuery, WorkflowSchedule};
use serde::de::DeserializeOwned;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const TASK_DEFS: &str = "task-definitions.json";
const WORKFLOW_DEFS: &str = "workflow-definitions.json";
const HANDLERS: &str = "event-handlers.json";
const SCHEDULES: &str = "schedules.json";
const EXECUTIONS: &str = "executions.jsonl";

/// Largest definition file read (a list of every definition).
const MAX_DEFINITION_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Executions read from the store per page while exporting.
const EXPORT_PAGE: usize = 200;

#[derive(clap::Args, Debug)]
pub(crate) struct ExportArgs {
    /// The database to export from: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "BATON_DB", default_value = "sqlite://baton.db")]
    db: String,
    /// Directory to write the files into (created if missing; files there are replaced).
    #[arg(long)]
    to: PathBuf,
    /// Also export every execution with its tasks and history (`executions.jsonl`).
    #[arg(long)]
    executions: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ImportArgs {
    /// The database to import into: `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(long, env = "BATON_DB", default_value = "sqlite://baton.db")]
    db: String,
    /// Directory holding the files `baton export` writes (missing files are skipped).
    #[arg(long)]
    from: PathBuf,
    /// Also import `executions.jsonl`.
    #[arg(long)]
    executions: bool,
}

pub(crate) async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let store = open_url(&args.db, true).await?;
    std::fs::create_dir_all(&args.to).with_context(|| format!("creating {}", args.to.display()))?;
    let task_defs = store.list_task_defs().await?;
    write_json(&args.to.join(TASK_DEFS), &task_defs)?;
    let workflow_defs = store.list_workflow_defs().await?;
    write_json(&args.to.join(WORKFLOW_DEFS), &workflow_defs)?;
    let handlers = store.list_event_handlers().await?;
    write_json(&args.to.join(HANDLERS), &handlers)?;
    let schedules = store.list_schedules().await?;
    write_json(&args.to.join(SCHEDULES), &schedules)?;
    println!(
        "exported {} task definitions, {} workflow definitions, {} event handlers, {} schedules",
        task_defs.len(),
        workflow_defs.len(),
        handlers.len(),
        schedules.len()
    );
    if args.executions {
        let n = export_executions(&store, &args.to.join(EXECUTIONS)).await?;
        println!("exported {n} executions");
    }
    Ok(())
}

/// Writes pretty JSON under a temporary name, then renames it over `path`.
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

async fn export_executions(store: &Arc<dyn Store>, path: &Path) -> anyhow::Result<u64> {
    let partial = path.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut query = WorkflowQuery {
        limit: EXPORT_PAGE,
        sort: Some(("startTime".into(), false)),
        ..Default::default()
    };
    let mut written = 0;
    loop {
        let (_, page) = store.search_workflows(&query).await?;
        if page.is_empty() {
            break;
        }
        query.offset += page.len();
        for listed in page {
            if let Some(record) = ExecutionRecord::read(store, &listed.workflow_id).await? {
                serde_json::to_writer(&mut out, &record)?;
                out.write_all(b"\n")?;
                written += 1;
            }
        }
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(written)
}

/// A list file of the export, parsed with the path of any error; empty if the file is absent.
fn read_list<T: DeserializeOwned>(dir: &Path, name: &str) -> anyhow::Result<Vec<T>> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let size = std::fs::metadata(&path)?.len();
    if size > MAX_DEFINITION_FILE_BYTES {
        bail!(
            "{}: {size} bytes; the limit is {MAX_DEFINITION_FILE_BYTES}",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| anyhow::anyhow!("{}: at {}: {}", path.display(), e.path(), e.inner()))
}

fn read_executions(dir: &Path) -> anyhow::Result<Vec<ExecutionRecord>> {
    let path = dir.join(EXECUTIONS);
    if !path.exists() {
        bail!(
            "{}: missing (was it exported with --executions?)",
            path.display()
        );
    }
    let file = std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut de = serde_json::Deserializer::from_str(&line);
        let record: ExecutionRecord = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            anyhow::anyhow!(
                "{}: line {}: at {}: {}",
                path.display(),
                n + 1,
                e.path(),
                e.inner()
            )
        })?;
        if record.workflow.workflow_definition.is_none() {
            bail!(
                "{}: line {}: the execution has no workflowDefinition",
                path.display(),
                n + 1
            );
        }
        out.push(record);
    }
    Ok(out)
}

pub(crate) async fn import(args: ImportArgs) -> anyhow::Result<()> {
    if !args.from.is_dir() {
        bail!("{}: not a directory", args.from.display());
    }
    // Everything is read and checked before anything is written.
    let task_defs: Vec<TaskDef> = read_list(&args.from, TASK_DEFS)?;
    let workflow_defs: Vec<WorkflowDef> = read_list(&args.from, WORKFLOW_DEFS)?;
    let handlers: Vec<EventHandler> = read_list(&args.from, HANDLERS)?;
    let schedules: Vec<WorkflowSchedule> = read_list(&args.from, SCHEDULES)?;
    let mut problems = Vec::new();
    for (i, d) in task_defs.iter().enumerate() {
        for e in baton_engine::validate::validate_task_def(d, "") {
            problems.push(format!(
                "{TASK_DEFS}: [{i}] {}{}: {}",
                d.name, e.path, e.message
            ));
        }
    }
    for (i, d) in workflow_defs.iter().enumerate() {
        for e in baton_engine::validate::validate_workflow_def(d) {
            problems.push(format!(
                "{WORKFLOW_DEFS}: [{i}] {}{}: {}",
                d.name, e.path, e.message
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "nothing imported; invalid definitions:\n  {}",
            problems.join("\n  ")
        );
    }
    let executions = if args.executions {
        read_executions(&args.from)?
    } else {
        Vec::new()
    };
    let store = open_url(&args.db, false).await?;
    if !task_defs.is_empty() {
        store.put_task_defs(task_defs.clone()).await?;
    }
    for d in &workflow_defs {
        store.put_workflow_def(d.clone(), true).await?;
    }
    let existing: Vec<String> = store
        .list_event_handlers()
        .await?
        .into_iter()
        .map(|h| h.name)
        .collect();
    for h in &handlers {
        let create = !existing.contains(&h.name);
        store.put_event_handler(h.clone(), create).await?;
    }
    for s in &schedules {
        store.put_schedule(s.clone()).await?;
    }
    println!(
        "imported {} task definitions, {} workflow definitions, {} event handlers, {} schedules",
        task_defs.len(),
        workflow_defs.len(),
        handlers.len(),
        schedules.len()
    );
    if args.executions {
        let (mut imported, mut present) = (0, 0);
        for record in &executions {
            if store.get_workflow(record.id()).await?.is_some() {
                present += 1;
                continue;
            }
            let Some(commit) = record.commit(Vec::new(), now_millis(), store.task_text_bytes())?
            else {
                continue; // checked when read
            };
            store
                .commit(commit)
                .await
                .with_context(|| format!("importing execution {}", record.id()))?;
            imported += 1;
        }
        println!("imported {imported} executions ({present} already there, left as they were)");
    }
    Ok(())
}
