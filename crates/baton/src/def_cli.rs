//! `baton def ...`: register, list, show and validate definitions. `validate` works offline
//! with the server's own rules and names every problem with its JSON path.

use crate::api_client::{print_table, segment, InvalidInput};
use crate::workflow_cli::{text, ClientArgs};
use baton_model::{TaskDef, WorkflowDef};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct DefArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: DefCommand,
}

#[derive(Subcommand, Debug)]
enum DefCommand {
    /// Register (or replace) the definitions in JSON files: a workflow definition (an object
    /// with `tasks`), a task definition, or a list of either.
    Apply {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List workflow definitions (or task definitions with `--tasks`).
    List {
        #[arg(long)]
        tasks: bool,
    },
    /// Print a workflow definition (or a task definition with `--task`) as JSON.
    Get {
        name: String,
        #[arg(long)]
        version: Option<i32>,
        #[arg(long)]
        task: bool,
    },
    /// Check definition files offline; prints each problem as `FILE: PATH: MESSAGE`.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// One definition read from a file.
enum Def {
    Workflow(Value),
    Task(Value),
}

/// The definitions of one file, each with the JSON path it sits at.
fn read_defs(file: &Path) -> anyhow::Result<Vec<(String, Def)>> {
    let raw = std::fs::read_to_string(file)
        .map_err(|e| InvalidInput(format!("{}: cannot read: {e}", file.display())))?;
    let v: Value = serde_json::from_str(&raw)
        .map_err(|e| InvalidInput(format!("{}: not valid JSON: {e}", file.display())))?;
    let classify = |v: Value| {
        if v.get("tasks").is_some() {
            Def::Workflow(v)
        } else {
            Def::Task(v)
        }
    };
    Ok(match v {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]."), classify(v)))
            .collect(),
        Value::Object(_) => vec![(String::new(), classify(v))],
        _ => {
            return Err(InvalidInput(format!(
                "{}: expected a definition (a JSON object) or a list of them",
                file.display()
            ))
            .into())
        }
    })
}

/// Every problem of one definition as (path, message).
fn problems(prefix: &str, def: &Def) -> Vec<(String, String)> {
    fn typed<T: serde::de::DeserializeOwned>(
        prefix: &str,
        v: &Value,
    ) -> Result<T, Vec<(String, String)>> {
        serde_path_to_error::deserialize::<_, T>(v.clone()).map_err(|e| {
            let path = e.path().to_string();
            vec![(format!("{prefix}{path}"), e.into_inner().to_string())]
        })
    }
    let out: Vec<baton_engine::validate::ValidationError> = match def {
        Def::Workflow(v) => match typed::<WorkflowDef>(prefix, v) {
            Ok(d) => baton_engine::validate::validate_workflow_def(&d),
            Err(e) => return e,
        },
        Def::Task(v) => match typed::<TaskDef>(prefix, v) {
            Ok(d) => baton_engine::validate::validate_task_def(&d, ""),
            Err(e) => return e,
        },
    };
    out.into_iter()
        .map(|e| (format!("{prefix}{}", e.path), e.message))
        .collect()
}

pub async fn run(args: DefArgs) -> anyhow::Result<()> {
    let out = &args.client;
    match args.command {
        DefCommand::Validate { files } => {
            let mut report = Vec::new();
            let mut bad = 0;
            for f in &files {
                let name = f.display().to_string();
                let found: Vec<(String, String)> = match read_defs(f) {
                    Ok(defs) => defs.iter().flat_map(|(p, d)| problems(p, d)).collect(),
                    Err(e) => vec![(String::new(), e.to_string())],
                };
                if !found.is_empty() {
                    bad += 1;
                }
                if out.json {
                    let list: Vec<Value> = found
                        .iter()
                        .map(|(p, m)| json!({"path": p, "message": m}))
                        .collect();
                    report.push(json!({"file": name, "valid": found.is_empty(), "problems": list}));
                } else if found.is_empty() {
                    println!("{name}: ok");
                } else {
                    for (p, m) in &found {
                        if p.is_empty() {
                            println!("{m}");
                        } else {
                            println!("{name}: {p}: {m}");
                        }
                    }
                }
            }
            if out.json {
                println!("{}", Value::Array(report));
            }
            if bad > 0 {
                return Err(InvalidInput(format!(
                    "{bad} of {} files do not validate",
                    files.len()
                ))
                .into());
            }
        }
        DefCommand::Apply { files } => {
            let client = out.connect()?;
            let mut applied = Vec::new();
            for f in &files {
                for (_, def) in read_defs(f)? {
                    match def {
                        Def::Workflow(v) => {
                            client
                                .call(
                                    Method::POST,
                                    "/metadata/workflow?overwrite=true",
                                    Some(v.clone()),
                                )
                                .await?;
                            applied.push(json!({"kind": "workflow", "name": v["name"], "version": v.get("version").cloned().unwrap_or(json!(1))}));
                        }
                        Def::Task(v) => {
                            client
                                .call(Method::POST, "/metadata/taskdefs", Some(json!([v.clone()])))
                                .await?;
                            applied.push(json!({"kind": "task", "name": v["name"]}));
                        }
                    }
                }
            }
            if out.json {
                println!("{}", Value::Array(applied));
            } else {
                for a in applied {
                    match a["kind"].as_str() {
                        Some("workflow") => {
                            println!("workflow {} v{}", text(&a, "name"), text(&a, "version"))
                        }
                        _ => println!("task {}", text(&a, "name")),
                    }
                }
            }
        }
        DefCommand::List { tasks } => {
            let client = out.connect()?;
            let path = if tasks {
                "/metadata/taskdefs"
            } else {
                "/metadata/workflow"
            };
            let all = client.json(path).await?;
            if out.json {
                println!("{all}");
                return Ok(());
            }
            let items = all.as_array().cloned().unwrap_or_default();
            if tasks {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|d| {
                        vec![
                            text(d, "name"),
                            text(d, "retryCount"),
                            text(d, "timeoutSeconds"),
                        ]
                    })
                    .collect();
                print_table(&["NAME", "RETRIES", "TIMEOUT (S)"], &rows);
            } else {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|d| {
                        vec![
                            text(d, "name"),
                            text(d, "version"),
                            d["tasks"].as_array().map_or(0, Vec::len).to_string(),
                            text(d, "description"),
                        ]
                    })
                    .collect();
                print_table(&["NAME", "VERSION", "TASKS", "DESCRIPTION"], &rows);
            }
        }
        DefCommand::Get {
            name,
            version,
            task,
        } => {
            let client = out.connect()?;
            let path = if task {
                format!("/metadata/taskdefs/{}", segment(&name))
            } else {
                match version {
                    Some(v) => format!("/metadata/workflow/{}?version={v}", segment(&name)),
                    None => format!("/metadata/workflow/{}", segment(&name)),
                }
            };
            let def = client.send_json(Method::GET, &path, None).await?;
            if out.json {
                println!("{def}");
            } else {
                println!("{}", serde_json::to_string_pretty(&def).unwrap_or_default());
            }
        }
    }
    Ok(())
}
