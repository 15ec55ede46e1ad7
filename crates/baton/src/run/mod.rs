//! `baton run WORKFLOW.json`: direct mode (tier 3). The same runtime and HTTP API as
//! `baton server`, started inside this process on a temporary SQLite file and a loopback
//! port of its own; the command workers of `--workers` (and `--mock` outputs) attach to it
//! in-process through the worker SDK. It prints progress to stderr, the final workflow JSON
//! to stdout (or `--output`), and exits [`EXIT_COMPLETED`] only if the workflow COMPLETED.

mod plan;
mod watch;

use anyhow::{anyhow, bail, Context};
use baton_runtime::{Runtime, RuntimeConfig};
use baton_server::ServerConfig;
use baton_store::{SqliteOptions, SqliteStore};
use baton_worker::command::{CommandConfig, CommandWorker};
use baton_worker::{Client, Runner, RunnerConfig, Worker, WorkerOptions};
use plan::MockingWorker;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The workflow COMPLETED.
pub const EXIT_COMPLETED: i32 = 0;
/// The workflow ended FAILED, TERMINATED or TIMED_OUT.
pub const EXIT_FAILED: i32 = 1;
/// Bad usage: flags, files, definition, a worker task with no worker.
pub const EXIT_USAGE: i32 = 2;
/// Stopped: the workflow waits for a HUMAN task or an external WAIT with no `--answer`.
pub const EXIT_WAITING: i32 = 3;
/// `--timeout-secs` passed before the workflow ended.
pub const EXIT_TIMEOUT: i32 = 4;

/// How often the workflow is looked at for progress.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The workflow definition (Conductor JSON). Put retries and timeouts of worker tasks in
    /// an inline `taskDefinition` on their nodes.
    workflow: PathBuf,
    /// The workflow input, a JSON object.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Command workers (the same TOML file as `baton worker --config`).
    #[arg(long)]
    workers: Option<PathBuf>,
    /// REF=JSON: complete worker task REF with this output instead of running it. Repeatable.
    #[arg(long = "mock", value_name = "REF=JSON")]
    mocks: Vec<String>,
    /// REF=JSON: complete HUMAN or external WAIT task REF with this output. Repeatable.
    #[arg(long = "answer", value_name = "REF=JSON")]
    answers: Vec<String>,
    /// Write the final workflow JSON to this file instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Give up (exit 4) if the workflow has not ended after this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    timeout_secs: u64,
    #[command(flatten)]
    limits: crate::limit_args::LimitArgs,
    #[command(flatten)]
    scripts: crate::ScriptArgs,
}

/// Runs the workflow; the exit code, or an error for bad usage (exit [`EXIT_USAGE`]).
pub async fn run(args: RunArgs) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(&args.workflow)
        .with_context(|| format!("reading {}", args.workflow.display()))?;
    let mut def: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.workflow.display()))?;
    let Some(obj) = def.as_object_mut() else {
        bail!(
            "{}: a workflow definition is a JSON object",
            args.workflow.display()
        );
    };
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| anyhow!("{}: the definition has no 'name'", args.workflow.display()))?
        .to_string();
    let version = obj.get("version").and_then(Value::as_i64).unwrap_or(1);
    obj.insert("version".into(), json!(version));
    let input: Value =
        serde_json::from_str(&args.input).map_err(|e| anyhow!("--input: not JSON: {e}"))?;
    if !input.is_object() {
        bail!("--input: must be a JSON object");
    }
    let mocks = plan::pairs("--mock", &args.mocks)?;
    let answers = plan::pairs("--answer", &args.answers)?;
    let commands = match &args.workers {
        Some(path) => Some(CommandConfig::load(path).map_err(|e| anyhow!("{e}"))?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a loopback port")?;
    let base = format!("http://{}", listener.local_addr()?);
    let runner = build_runner(&def, commands, mocks, Client::new(&base)?)?;

    // The engine, in this process, on a throw-away database.
    crate::install_script_sandbox(&args.scripts)?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("run.db")))
        .context("opening the temporary SQLite database")?;
    let mut runtime_config = RuntimeConfig::default();
    args.limits.apply(&mut runtime_config);
    let runtime = Runtime::new(Arc::new(store), runtime_config);
    let stop_server = CancellationToken::new();
    let server = tokio::spawn(baton_server::serve(
        listener,
        runtime,
        ServerConfig {
            shutdown_timeout: Duration::from_secs(2),
            ..ServerConfig::default()
        },
        stop_server.clone().cancelled_owned(),
    ));
    let outcome = drive(
        &base,
        &name,
        version,
        &def,
        input,
        runner,
        answers,
        args.timeout_secs,
    )
    .await;
    stop_server.cancel();
    let _ = server.await;
    baton_script::sandbox::shutdown();
    let (code, workflow) = outcome?;
    let pretty = serde_json::to_string_pretty(&workflow)?;
    match &args.output {
        Some(path) => std::fs::write(path, pretty + "\n")
            .with_context(|| format!("writing {}", path.display()))?,
        None => println!("{pretty}"),
    }
    Ok(code)
}

/// One runner for every task type that has a command or a mocked reference; fails (usage)
/// when a worker task would have no worker.
fn build_runner(
    def: &Value,
    commands: Option<CommandConfig>,
    mocks: BTreeMap<String, baton_worker::JsonMap>,
    client: Client,
) -> anyhow::Result<Runner> {
    let nodes = plan::nodes(def);
    let mut missing = Vec::new();
    for m in mocks.keys() {
        match nodes.iter().find(|n| &n.reference == m) {
            None => bail!("--mock {m}: the definition has no task with that reference"),
            Some(n) if !n.is_worker_task() => bail!(
                "--mock {m}: only worker (SIMPLE) tasks can be mocked; {m} is a {} task",
                n.kind
            ),
            Some(_) => {}
        }
    }
    let configured: HashMap<String, _> = commands
        .as_ref()
        .map(|c| {
            c.tasks
                .iter()
                .map(|t| (t.task_type.clone(), t.clone()))
                .collect()
        })
        .unwrap_or_default();
    for n in nodes.iter().filter(|n| n.is_worker_task()) {
        if !configured.contains_key(&n.name) && !mocks.contains_key(&n.reference) {
            missing.push(format!(
                "task '{}' (type {}) has no worker: add [tasks.{}] to --workers or --mock {}=JSON",
                n.reference, n.name, n.name, n.reference
            ));
        }
    }
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
    }
    // Once the workflow has ended nothing still running matters: stop it at once.
    let runner_config = RunnerConfig {
        worker_id: "baton-run".into(),
        shutdown_timeout: Duration::from_secs(1),
        ..RunnerConfig::default()
    };
    let mocks = Arc::new(mocks.into_iter().collect::<HashMap<_, _>>());
    let mut types: BTreeMap<String, WorkerOptions> = BTreeMap::new();
    for n in nodes.iter().filter(|n| n.is_worker_task()) {
        let options = match (&commands, configured.get(&n.name)) {
            (Some(c), Some(t)) => c.options_for(t),
            _ => WorkerOptions::with_concurrency(8),
        };
        types.insert(n.name.clone(), options);
    }
    let mut runner = Runner::new(client).config(runner_config);
    for (task_type, mut options) in types {
        // Direct mode answers at once: short polls keep shutdown quick.
        options.poll_wait = options.poll_wait.min(Duration::from_millis(500));
        let inner = configured
            .get(&task_type)
            .map(|t| Arc::new(CommandWorker::new(t.clone())) as Arc<dyn Worker>);
        runner = runner.register(
            task_type,
            options,
            MockingWorker {
                mocks: mocks.clone(),
                inner,
            },
        );
    }
    Ok(runner)
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    base: &str,
    name: &str,
    version: i64,
    def: &Value,
    input: Value,
    runner: Runner,
    answers: BTreeMap<String, baton_worker::JsonMap>,
    timeout_secs: u64,
) -> anyhow::Result<(i32, Value)> {
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/api/metadata/workflow?overwrite=true"))
        .json(def)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("the definition is refused: {}", error_message(resp).await);
    }
    let resp = http
        .post(format!("{base}/api/workflow"))
        .json(&json!({"name": name, "version": version, "input": input}))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("the workflow did not start: {}", error_message(resp).await);
    }
    let id = resp.text().await?.trim().to_string();
    let started = Instant::now();
    eprintln!("baton run: {name} v{version} started ({id})");

    let stop_workers = CancellationToken::new();
    let workers = tokio::spawn(runner.run(stop_workers.clone().cancelled_owned()));
    let mut watcher = watch::Watcher::new(answers, std::io::stderr().is_terminal());
    let url = format!("{base}/api/workflow/{id}?includeTasks=true");
    let result = loop {
        let wf: Value = http.get(&url).send().await?.json().await?;
        let (to_answer, step) = watcher.look(&wf);
        for (reference, output) in to_answer {
            let r = http
                .post(format!(
                    "{base}/api/tasks/{id}/{reference}/COMPLETED?workerid=baton-run"
                ))
                .json(&output)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("answering {reference}: {}", error_message(r).await);
            }
        }
        match step {
            watch::Step::Running => {}
            watch::Step::Ended(status) => {
                watcher.finish();
                let code = if status == "COMPLETED" {
                    EXIT_COMPLETED
                } else {
                    EXIT_FAILED
                };
                let why = wf["reasonForIncompletion"]
                    .as_str()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                eprintln!(
                    "baton run: {status} in {:.1}s{why}",
                    started.elapsed().as_secs_f64()
                );
                break (code, wf);
            }
            watch::Step::Stuck(waiting) => {
                watcher.finish();
                for w in &waiting {
                    eprintln!(
                        "baton run: stopped: {} task '{}' waits for an outside party; give its output with --answer {}='{{...}}'",
                        w.kind, w.reference, plan::base_ref(&w.reference)
                    );
                }
                break (EXIT_WAITING, wf);
            }
        }
        if timeout_secs > 0 && started.elapsed() > Duration::from_secs(timeout_secs) {
            watcher.finish();
            eprintln!(
                "baton run: still {} after --timeout-secs {timeout_secs}; stopped",
                wf["status"]
            );
            break (EXIT_TIMEOUT, wf);
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
    };
    stop_workers.cancel();
    if let Ok(report) = workers.await {
        for a in &report.abandoned {
            eprintln!(
                "baton run: abandoned {} ({}) still running at the end",
                a.task_id, a.task_type
            );
        }
    }
    Ok(result)
}

async fn error_message(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let msg = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or(body);
    format!("HTTP {status}: {msg}")
}
