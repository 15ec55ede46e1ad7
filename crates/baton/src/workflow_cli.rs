//! `baton workflow ...`: start, read, search and operate executions on a running server.
//! Data goes to stdout (a table, or JSON with `--json`); errors to stderr, with the exit
//! codes of [`crate::api_client::exit`].

use crate::api_client::{print_table, rfc3339, segment, Client, InvalidInput};
use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

/// Flags every API subcommand takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "BATON_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// Print JSON (the server's answer) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// API key id, when the server has authentication on (sent as basic auth with the
    /// secret).
    #[arg(long, env = "BATON_KEY_ID", global = true)]
    pub key_id: Option<String>,
    /// API key secret (prefer the environment variable: arguments show in `ps`).
    #[arg(long, env = "BATON_KEY_SECRET", global = true, hide_env_values = true)]
    pub key_secret: Option<String>,
}

impl ClientArgs {
    /// A client of `--server`, authenticated with the key if one is given.
    pub fn connect(&self) -> anyhow::Result<Client> {
        let key = match (&self.key_id, &self.key_secret) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
            (None, None) => None,
            _ => anyhow::bail!(InvalidInput("--key-id and --key-secret go together".into())),
        };
        Ok(Client::new(&self.server)?.with_key(key))
    }
}

#[derive(clap::Args, Debug)]
pub struct WorkflowArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: WorkflowCommand,
}

#[derive(Subcommand, Debug)]
enum WorkflowCommand {
    /// Start a workflow; prints its id.
    Start {
        name: String,
        /// Definition version (default: the latest).
        #[arg(long)]
        version: Option<i32>,
        /// The input, a JSON object.
        #[arg(long)]
        input: Option<String>,
        #[arg(long)]
        correlation_id: Option<String>,
        /// 0 (default) to 99.
        #[arg(long)]
        priority: Option<i32>,
    },
    /// Show an execution and its tasks.
    Get {
        id: String,
        /// Leave the tasks out.
        #[arg(long)]
        no_tasks: bool,
    },
    /// Print an execution's status.
    Status { id: String },
    /// Search executions (Conductor's query grammar, e.g. `status=RUNNING AND workflowType=x`).
    Search {
        #[arg(long)]
        query: Option<String>,
        #[arg(long)]
        free_text: Option<String>,
        #[arg(long, default_value_t = 0)]
        start: usize,
        #[arg(long, default_value_t = 20)]
        size: usize,
        /// e.g. `startTime:DESC`.
        #[arg(long)]
        sort: Option<String>,
    },
    /// Terminate an execution.
    Terminate {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Pause an execution.
    Pause { id: String },
    /// Resume a paused execution.
    Resume { id: String },
    /// Retry a failed or terminated execution from its failed task.
    Retry {
        id: String,
        /// Retry failed sub-workflows in place.
        #[arg(long)]
        resume_subworkflow_tasks: bool,
    },
    /// Restart an ended execution from the beginning.
    Restart {
        id: String,
        /// Run it on the latest version of its definition.
        #[arg(long)]
        use_latest_definitions: bool,
    },
    /// Rerun an ended execution from one of its tasks (default: from the start).
    Rerun {
        id: String,
        /// The task id to rerun from.
        #[arg(long)]
        from_task: Option<String>,
        /// Replacement workflow input, a JSON object.
        #[arg(long)]
        input: Option<String>,
    },
}

/// A `--input`-style flag as a JSON object.
pub fn json_object(flag: &str, raw: Option<String>) -> anyhow::Result<Value> {
    let Some(raw) = raw else {
        return Ok(json!({}));
    };
    let v: Value = serde_json::from_str(&raw)
        .map_err(|e| InvalidInput(format!("{flag} is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(InvalidInput(format!("{flag} must be a JSON object")).into());
    }
    Ok(v)
}

pub fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn time(v: &Value, key: &str) -> String {
    match v.get(key).and_then(Value::as_i64) {
        Some(ms) if ms > 0 => rfc3339(ms),
        _ => match v.get(key).and_then(Value::as_str) {
            Some(s) => s.to_string(),
            None => "-".into(),
        },
    }
}

/// Prints `id  STATUS` (or the status JSON) after an operation.
async fn report(client: &Client, args: &ClientArgs, id: &str) -> anyhow::Result<()> {
    let st = client
        .json(&format!("/workflow/{}/status", segment(id)))
        .await?;
    if args.json {
        println!("{st}");
    } else {
        println!("{id}  {}", text(&st, "status"));
    }
    Ok(())
}

pub async fn run(args: WorkflowArgs) -> anyhow::Result<()> {
    let client = args.client.connect()?;
    let out = &args.client;
    match args.command {
        WorkflowCommand::Start {
            name,
            version,
            input,
            correlation_id,
            priority,
        } => {
            let mut body = json!({"name": name, "input": json_object("--input", input)?});
            if let Some(v) = version {
                body["version"] = json!(v);
            }
            if let Some(c) = correlation_id {
                body["correlationId"] = json!(c);
            }
            if let Some(p) = priority {
                body["priority"] = json!(p);
            }
            let id = client.call(Method::POST, "/workflow", Some(body)).await?;
            if out.json {
                println!("{}", json!({"workflowId": id}));
            } else {
                println!("{id}");
            }
        }
        WorkflowCommand::Get { id, no_tasks } => {
            let w = client
                .json(&format!(
                    "/workflow/{}?includeTasks={}",
                    segment(&id),
                    !no_tasks
                ))
                .await?;
            if out.json {
                println!("{w}");
                return Ok(());
            }
            print_table(
                &[
                    "WORKFLOW ID",
                    "NAME",
                    "VERSION",
                    "STATUS",
                    "STARTED",
                    "ENDED",
                ],
                &[vec![
                    text(&w, "workflowId"),
                    text(&w, "workflowName"),
                    text(&w, "workflowVersion"),
                    text(&w, "status"),
                    time(&w, "startTime"),
                    time(&w, "endTime"),
                ]],
            );
            let reason = text(&w, "reasonForIncompletion");
            if !reason.is_empty() {
                println!("reason: {reason}");
            }
            let tasks: Vec<Vec<String>> = w["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    vec![
                        text(t, "referenceTaskName"),
                        text(t, "taskType"),
                        text(t, "status"),
                        text(t, "taskId"),
                    ]
                })
                .collect();
            if !tasks.is_empty() {
                println!();
                print_table(&["REFERENCE", "TYPE", "STATUS", "TASK ID"], &tasks);
            }
        }
        WorkflowCommand::Status { id } => {
            let st = client
                .json(&format!("/workflow/{}/status", segment(&id)))
                .await?;
            if out.json {
                println!("{st}");
            } else {
                println!("{}", text(&st, "status"));
            }
        }
        WorkflowCommand::Search {
            query,
            free_text,
            start,
            size,
            sort,
        } => {
            let mut params = vec![format!("start={start}"), format!("size={size}")];
            for (k, v) in [("query", query), ("freeText", free_text), ("sort", sort)] {
                if let Some(v) = v {
                    params.push(format!("{k}={}", segment(&v)));
                }
            }
            let found = client
                .json(&format!("/workflow/search?{}", params.join("&")))
                .await?;
            if out.json {
                println!("{found}");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = found["results"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|w| {
                    vec![
                        text(w, "workflowId"),
                        text(w, "workflowType"),
                        text(w, "version"),
                        text(w, "status"),
                        text(w, "startTime"),
                    ]
                })
                .collect();
            print_table(
                &["WORKFLOW ID", "NAME", "VERSION", "STATUS", "STARTED"],
                &rows,
            );
            eprintln!("{} of {} shown", rows.len(), text(&found, "totalHits"));
        }
        WorkflowCommand::Terminate { id, reason } => {
            let mut path = format!("/workflow/{}", segment(&id));
            if let Some(r) = reason {
                path.push_str(&format!("?reason={}", segment(&r)));
            }
            client.call(Method::DELETE, &path, None).await?;
            report(&client, out, &id).await?;
        }
        WorkflowCommand::Pause { id } => {
            client
                .call(
                    Method::PUT,
                    &format!("/workflow/{}/pause", segment(&id)),
                    None,
                )
                .await?;
            report(&client, out, &id).await?;
        }
        WorkflowCommand::Resume { id } => {
            client
                .call(
                    Method::PUT,
                    &format!("/workflow/{}/resume", segment(&id)),
                    None,
                )
                .await?;
            report(&client, out, &id).await?;
        }
        WorkflowCommand::Retry {
            id,
            resume_subworkflow_tasks,
        } => {
            let path = format!(
                "/workflow/{}/retry?resumeSubworkflowTasks={resume_subworkflow_tasks}",
                segment(&id)
            );
            client.call(Method::POST, &path, None).await?;
            report(&client, out, &id).await?;
        }
        WorkflowCommand::Restart {
            id,
            use_latest_definitions,
        } => {
            let path = format!(
                "/workflow/{}/restart?useLatestDefinitions={use_latest_definitions}",
                segment(&id)
            );
            client.call(Method::POST, &path, None).await?;
            report(&client, out, &id).await?;
        }
        WorkflowCommand::Rerun {
            id,
            from_task,
            input,
        } => {
            let mut body = json!({});
            if let Some(t) = from_task {
                body["reRunFromTaskId"] = json!(t);
            }
            if input.is_some() {
                body["workflowInput"] = json_object("--input", input)?;
            }
            client
                .call(
                    Method::POST,
                    &format!("/workflow/{}/rerun", segment(&id)),
                    Some(body),
                )
                .await
                .context("rerun")?;
            report(&client, out, &id).await?;
        }
    }
    Ok(())
}
