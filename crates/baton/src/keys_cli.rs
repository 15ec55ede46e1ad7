//! `baton keys create|list|revoke`: API keys, managed directly in the database, SQLite or
//! PostgreSQL (no server needed; a running server sees a revocation within a second). Data
//! goes to stdout.

use anyhow::{bail, Context};
use baton_server::auth::{keys, Role};
use baton_store::ApiKey;
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct KeysArgs {
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST:PORT/DATABASE`.
    #[arg(
        long,
        env = "BATON_DB",
        default_value = "sqlite://baton.db",
        global = true
    )]
    db: String,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(clap::Subcommand, Debug)]
enum KeysCommand {
    /// Create a key; prints its id and secret as JSON. The secret is shown only this once.
    Create {
        /// admin (everything), operator (workflows, no metadata), worker (poll, update),
        /// viewer (read only).
        #[arg(long)]
        role: String,
        /// A label for people.
        #[arg(long, default_value = "")]
        name: String,
        /// Limit a worker key to these task types (comma-separated): its polls, updates,
        /// logs and task and queue reads for other types are refused (403).
        #[arg(long, value_delimiter = ',')]
        task_types: Option<Vec<String>>,
    },
    /// List keys (ids, names, roles, revocation), one JSON object per line; never secrets.
    List,
    /// Revoke a key: its tokens and basic auth stop working.
    Revoke { key_id: String },
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let store = crate::migrate::open_url(&args.db, false).await?;
    match args.command {
        KeysCommand::Create {
            role,
            name,
            task_types,
        } => {
            let Some(role) = Role::parse(&role) else {
                bail!("--role {role}: unknown role; use one of {}", Role::NAMES);
            };
            let task_types = task_types.map(checked_task_types).transpose()?;
            if task_types.is_some() && role != Role::Worker {
                bail!(
                    "--task-types limits worker keys only; --role {} keys reach every type",
                    role.as_str()
                );
            }
            let key = tokio::task::spawn_blocking(keys::make_key)
                .await
                .context("hashing the secret")?
                .map_err(anyhow::Error::msg)?;
            store
                .put_api_key(ApiKey {
                    key_id: key.key_id.clone(),
                    name: name.clone(),
                    role: role.as_str().to_string(),
                    secret_hash: key.secret_hash.clone(),
                    created_at: baton_runtime::Clock::System.now_ms(),
                    revoked_at: None,
                    task_types: task_types.clone(),
                })
                .await?;
            println!(
                "{}",
                json!({"keyId": key.key_id, "keySecret": key.secret, "role": role.as_str(),
                       "name": name, "taskTypes": task_types})
            );
            eprintln!("keep the secret now: it is stored only as a hash and cannot be shown again");
        }
        KeysCommand::List => {
            for k in store.list_api_keys().await? {
                println!(
                    "{}",
                    json!({"keyId": k.key_id, "name": k.name, "role": k.role,
                           "taskTypes": k.task_types,
                           "createdAt": k.created_at, "revokedAt": k.revoked_at})
                );
            }
        }
        KeysCommand::Revoke { key_id } => {
            if !store
                .revoke_api_key(&key_id, baton_runtime::Clock::System.now_ms())
                .await?
            {
                match store.get_api_key(&key_id).await? {
                    Some(_) => bail!("key {key_id} is already revoked"),
                    None => bail!("no key {key_id}"),
                }
            }
            println!("{}", json!({"keyId": key_id, "revoked": true}));
        }
    }
    Ok(())
}

/// The `--task-types` list trimmed, without duplicates, each name non-empty and free of
/// white space.
fn checked_task_types(raw: Vec<String>) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in raw.iter().map(|t| t.trim()) {
        if t.is_empty() {
            bail!("--task-types: a task type name is empty; give names separated by commas");
        }
        if t.chars().any(char::is_whitespace) {
            bail!("--task-types: '{t}' contains white space; task type names cannot");
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}
