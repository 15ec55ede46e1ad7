//! `baton task ...` (poll, complete, logs) and `baton queue` (queue sizes): the worker's side
//! of the API from a shell.

use crate::api_client::{print_table, rfc3339, segment};
use crate::workflow_cli::{json_object, text, ClientArgs};
use clap::{Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct TaskArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Subcommand, Debug)]
enum TaskCommand {
    /// Claim tasks of a type as a worker would (they are IN_PROGRESS afterwards).
    Poll {
        task_type: String,
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Long-poll wait, at most 5000 ms.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        #[arg(long, default_value = "baton-cli")]
        worker_id: String,
        #[arg(long)]
        domain: Option<String>,
    },
    /// Report a task's result.
    Complete {
        workflow_id: String,
        task_id: String,
        /// The task output, a JSON object.
        #[arg(long)]
        output: Option<String>,
        #[arg(long, value_enum, default_value_t = ResultStatus::Completed)]
        status: ResultStatus,
        /// Why it failed.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Print a task's log lines.
    Logs { task_id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ResultStatus {
    Completed,
    Failed,
    FailedWithTerminalError,
    InProgress,
}

impl ResultStatus {
    fn as_str(self) -> &'static str {
        match self {
            ResultStatus::Completed => "COMPLETED",
            ResultStatus::Failed => "FAILED",
            ResultStatus::FailedWithTerminalError => "FAILED_WITH_TERMINAL_ERROR",
            ResultStatus::InProgress => "IN_PROGRESS",
        }
    }
}

pub async fn run(args: TaskArgs) -> anyhow::Result<()> {
    let client = args.client.connect()?;
    let out = &args.client;
    match args.command {
        TaskCommand::Poll {
            task_type,
            count,
            timeout_ms,
            worker_id,
            domain,
        } => {
            let mut path = format!(
                "/tasks/poll/batch/{}?count={count}&timeout={timeout_ms}&workerid={}",
                segment(&task_type),
                segment(&worker_id)
            );
            if let Some(d) = domain {
                path.push_str(&format!("&domain={}", segment(&d)));
            }
            let tasks = client.json(&path).await?;
            if out.json {
                println!("{tasks}");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = tasks
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    vec![
                        text(t, "taskId"),
                        text(t, "workflowInstanceId"),
                        text(t, "referenceTaskName"),
                        t["inputData"].to_string(),
                    ]
                })
                .collect();
            print_table(&["TASK ID", "WORKFLOW ID", "REFERENCE", "INPUT"], &rows);
        }
        TaskCommand::Complete {
            workflow_id,
            task_id,
            output,
            status,
            reason,
        } => {
            let mut body = json!({
                "workflowInstanceId": workflow_id,
                "taskId": task_id,
                "status": status.as_str(),
                "outputData": json_object("--output", output)?,
                "workerId": "baton-cli",
            });
            if let Some(r) = reason {
                body["reasonForIncompletion"] = json!(r);
            }
            let id = client.call(Method::POST, "/tasks", Some(body)).await?;
            if out.json {
                println!("{}", json!({"taskId": id, "status": status.as_str()}));
            } else {
                println!("{id}");
            }
        }
        TaskCommand::Logs { task_id } => {
            let logs = client
                .send_json(
                    Method::GET,
                    &format!("/tasks/{}/log", segment(&task_id)),
                    None,
                )
                .await?;
            let logs = if logs.is_null() { json!([]) } else { logs };
            if out.json {
                println!("{logs}");
                return Ok(());
            }
            for l in logs.as_array().into_iter().flatten() {
                let at = l["createdTime"]
                    .as_i64()
                    .map_or_else(|| "-".into(), rfc3339);
                println!("{at}  {}", text(l, "log"));
            }
        }
    }
    Ok(())
}

/// `baton queue`: the size of every queue.
#[derive(clap::Args, Debug)]
pub struct QueueArgs {
    #[command(flatten)]
    client: ClientArgs,
}

pub async fn run_queue(args: QueueArgs) -> anyhow::Result<()> {
    let client = args.client.connect()?;
    let sizes = client.json("/tasks/queue/all").await?;
    if args.client.json {
        println!("{sizes}");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = sizes
        .as_object()
        .into_iter()
        .flatten()
        .map(|(q, n): (&String, &Value)| vec![q.clone(), n.to_string()])
        .collect();
    print_table(&["QUEUE", "SIZE"], &rows);
    Ok(())
}
