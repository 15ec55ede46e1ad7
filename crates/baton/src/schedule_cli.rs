//! `baton schedule ...`: manage cron schedules on a running server over its HTTP API.
//! Data goes to stdout; errors to stderr with a non-zero exit.

use crate::api_client::{rfc3339, segment, Client};
use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct ScheduleArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "BATON_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// API key id, when the server has authentication on (sent as basic auth with the
    /// secret).
    #[arg(long, env = "BATON_KEY_ID", global = true)]
    key_id: Option<String>,
    /// API key secret (prefer the environment variable: arguments show in `ps`).
    #[arg(long, env = "BATON_KEY_SECRET", global = true, hide_env_values = true)]
    key_secret: Option<String>,
    #[command(subcommand)]
    command: ScheduleCommand,
}

#[derive(Subcommand, Debug)]
enum ScheduleCommand {
    /// Create (or replace) a schedule; prints it as JSON.
    Create {
        name: String,
        /// Cron expression: 6 fields with seconds (`0 */5 * * * *`) or 5 (`*/5 * * * *`).
        #[arg(long)]
        cron: String,
        /// The workflow to start.
        #[arg(long)]
        workflow: String,
        /// Workflow version (default: the latest at each run).
        #[arg(long)]
        version: Option<i32>,
        /// The workflow input, a JSON object.
        #[arg(long)]
        input: Option<String>,
        /// What to do with runs missed while no server was up.
        #[arg(long, value_enum, default_value_t = Catchup::One)]
        catchup: Catchup,
        /// `UTC` or a fixed offset such as `+02:00`.
        #[arg(long, default_value = "UTC")]
        zone: String,
        /// Create the schedule paused.
        #[arg(long)]
        paused: bool,
    },
    /// List schedules: name, state, cron, workflow, next run (one per line, tab-separated).
    List {
        /// Print the JSON array instead.
        #[arg(long)]
        json: bool,
    },
    /// Print one schedule as JSON.
    Get { name: String },
    /// Stop a schedule from firing.
    Pause { name: String },
    /// Let a paused schedule fire again (from the next due time on).
    Resume { name: String },
    /// Delete a schedule.
    Delete { name: String },
    /// Print a schedule's next due times (RFC 3339, UTC).
    Next {
        name: String,
        #[arg(long, default_value_t = 5)]
        count: usize,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Catchup {
    None,
    One,
    All,
}

pub async fn run(args: ScheduleArgs) -> anyhow::Result<()> {
    let key = match (args.key_id, args.key_secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (None, None) => None,
        _ => bail!("--key-id and --key-secret go together"),
    };
    let client = Client::new(&args.server)?.with_key(key);
    match args.command {
        ScheduleCommand::Create {
            name,
            cron,
            workflow,
            version,
            input,
            catchup,
            zone,
            paused,
        } => {
            let input: Value = match input {
                Some(raw) => serde_json::from_str(&raw).context("--input is not valid JSON")?,
                None => json!({}),
            };
            if !input.is_object() {
                bail!("--input must be a JSON object");
            }
            let mut request = json!({"name": workflow, "input": input});
            if let Some(v) = version {
                request["version"] = json!(v);
            }
            let catchup = match catchup {
                Catchup::None => "NONE",
                Catchup::One => "ONE",
                Catchup::All => "ALL",
            };
            let body = json!({
                "name": name,
                "cronExpression": cron,
                "startWorkflowRequest": request,
                "catchupPolicy": catchup,
                "zoneId": zone,
                "paused": paused,
            });
            let text = client
                .call(reqwest::Method::POST, "/scheduler/schedules", Some(body))
                .await?;
            println!("{text}");
        }
        ScheduleCommand::List { json } => {
            let all = client.json("/scheduler/schedules").await?;
            if json {
                println!("{all}");
            } else {
                for s in all.as_array().into_iter().flatten() {
                    let field = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("");
                    let state = if s.get("paused") == Some(&Value::Bool(true)) {
                        "paused"
                    } else {
                        "active"
                    };
                    let next = s
                        .get("nextRunTime")
                        .and_then(Value::as_i64)
                        .map_or_else(|| "-".to_string(), rfc3339);
                    let workflow = s
                        .pointer("/startWorkflowRequest/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    println!(
                        "{}\t{state}\t{}\t{workflow}\t{next}",
                        field("name"),
                        field("cronExpression")
                    );
                }
            }
        }
        ScheduleCommand::Get { name } => {
            let s = client
                .json(&format!("/scheduler/schedules/{}", segment(&name)))
                .await?;
            println!("{s}");
        }
        ScheduleCommand::Pause { name } => {
            client
                .call(
                    reqwest::Method::PUT,
                    &format!("/scheduler/schedules/{}/pause", segment(&name)),
                    None,
                )
                .await?;
        }
        ScheduleCommand::Resume { name } => {
            client
                .call(
                    reqwest::Method::PUT,
                    &format!("/scheduler/schedules/{}/resume", segment(&name)),
                    None,
                )
                .await?;
        }
        ScheduleCommand::Delete { name } => {
            // The API deletes an unknown name as a no-op (as Conductor does); the command
            // says when there was nothing to delete.
            client
                .json(&format!("/scheduler/schedules/{}", segment(&name)))
                .await?;
            client
                .call(
                    reqwest::Method::DELETE,
                    &format!("/scheduler/schedules/{}", segment(&name)),
                    None,
                )
                .await?;
        }
        ScheduleCommand::Next { name, count } => {
            let s = client
                .json(&format!("/scheduler/schedules/{}", segment(&name)))
                .await?;
            let cron = s
                .get("cronExpression")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let zone = s.get("zoneId").and_then(Value::as_str).unwrap_or("UTC");
            let mut path = format!(
                "/scheduler/nextFewSchedules?cronExpression={}&zoneId={}&limit={count}",
                segment(cron),
                segment(zone)
            );
            if let Some(start) = s.get("scheduleStartTime").and_then(Value::as_i64) {
                path.push_str(&format!("&scheduleStartTime={start}"));
            }
            if let Some(end) = s.get("scheduleEndTime").and_then(Value::as_i64) {
                path.push_str(&format!("&scheduleEndTime={end}"));
            }
            let times = client.json(&path).await?;
            for t in times
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
            {
                println!("{}\t{t}", rfc3339(t));
            }
        }
    }
    Ok(())
}
