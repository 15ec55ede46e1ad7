//! Reads, each one statement on a pooled connection (a snapshot of its own), except
//! `load_workflow`, whose row and tasks come from one repeatable-read transaction.

use super::search::like_escape;
use super::search_key::search_key;
use super::to_i64;
use crate::codec::{from_json, DefCache};
use crate::{FollowUp, Millis, Result, StoreError, WorkflowState};
use baton_model::{HistoryEvent, PollData, Task, TaskDef, TaskExecLog, Workflow, WorkflowDef};
use deadpool_postgres::{Client, GenericClient};
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::IsolationLevel;

/// Decodes the `(name, json)` rows of a definition-like table.
/// A workflow from its row: the row's JSON and its input, kept in a column of its own
/// (written when the workflow starts or a rerun replaces it, not on every commit).
pub(super) fn workflow_from(
    json: &str,
    input: Option<&str>,
    workflow_id: &str,
) -> Result<Workflow> {
    let what = format!("workflow {workflow_id}");
    let mut workflow: Workflow = from_json(json, &what)?;
    if let Some(input) = input {
        workflow.input = from_json(input, &what)?;
    }
    Ok(workflow)
}

/// Rows of (workflow_id, json, input_json) as workflows.
fn decode_workflows(rows: Vec<tokio_postgres::Row>) -> Result<Vec<Workflow>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0)?;
        out.push(workflow_from(row.try_get(1)?, row.try_get(2)?, &id)?);
    }
    Ok(out)
}

fn decode_rows<T: serde::de::DeserializeOwned>(
    rows: Vec<tokio_postgres::Row>,
    what: &str,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get(0)?;
        let json: String = row.try_get(1)?;
        out.push(from_json(&json, &format!("{what} {name}"))?);
    }
    Ok(out)
}

// ----- definitions -----

pub(super) async fn get_task_def(c: &impl GenericClient, name: &str) -> Result<Option<TaskDef>> {
    let stmt = c
        .prepare_cached("SELECT json::text FROM task_defs WHERE name = $1")
        .await?;
    let row = c.query_opt(&stmt, &[&name]).await?;
    row.map(|r| from_json(r.try_get(0)?, &format!("task definition {name}")))
        .transpose()
}

pub(super) async fn list_task_defs(c: &impl GenericClient) -> Result<Vec<TaskDef>> {
    let stmt = c
        .prepare_cached("SELECT name, json::text FROM task_defs ORDER BY name")
        .await?;
    decode_rows(c.query(&stmt, &[]).await?, "task definition")
}

pub(super) async fn get_workflow_def(
    c: &impl GenericClient,
    name: &str,
    version: Option<i32>,
) -> Result<Option<WorkflowDef>> {
    let stmt = c
        .prepare_cached(
            "SELECT json::text FROM workflow_defs
             WHERE name = $1 AND ($2::integer IS NULL OR version = $2)
             ORDER BY version DESC LIMIT 1",
        )
        .await?;
    let row = c.query_opt(&stmt, &[&name, &version]).await?;
    row.map(|r| from_json(r.try_get(0)?, &format!("workflow definition {name}")))
        .transpose()
}

pub(super) async fn list_workflow_defs(c: &impl GenericClient) -> Result<Vec<WorkflowDef>> {
    let stmt = c
        .prepare_cached("SELECT name, json::text FROM workflow_defs ORDER BY name, version")
        .await?;
    decode_rows(c.query(&stmt, &[]).await?, "workflow definition")
}

// ----- executions -----

/// The definition snapshot `hash`, from the cache or the database.
pub(super) async fn snapshot(
    c: &impl GenericClient,
    defs: &DefCache,
    hash: &str,
) -> Result<Arc<WorkflowDef>> {
    if let Some(def) = defs.get(hash) {
        return Ok(def);
    }
    let stmt = c
        .prepare_cached("SELECT json::text FROM def_snapshots WHERE hash = $1")
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&hash]).await? else {
        return Err(StoreError::Corrupt(format!(
            "definition snapshot {hash} is missing"
        )));
    };
    let def: WorkflowDef = from_json(row.try_get(0)?, &format!("definition snapshot {hash}"))?;
    Ok(defs.insert(hash, Arc::new(def)))
}

pub(super) async fn load_workflow(
    c: &mut Client,
    defs: &DefCache,
    workflow_id: &str,
) -> Result<Option<WorkflowState>> {
    // One snapshot for the row, its version and its tasks: a commit landing between the two
    // reads would otherwise pair an old version with newer tasks.
    let tx = c
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let stmt = tx
        .prepare_cached(
            "SELECT json::text, version, def_hash, input_json::text,
                 CASE WHEN woken_at IS NOT NULL THEN wake_seq END
             FROM workflows WHERE workflow_id = $1",
        )
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&workflow_id]).await? else {
        return Ok(None);
    };
    let mut workflow = workflow_from(row.try_get(0)?, row.try_get(3)?, workflow_id)?;
    let version: i64 = row.try_get(1)?;
    let hash: String = row.try_get(2)?;
    let woken: Option<i64> = row.try_get(4)?;
    let stmt = tx
        .prepare_cached(
            "SELECT task_id, json::text FROM tasks WHERE workflow_id = $1 ORDER BY seq, row_id",
        )
        .await?;
    let mut tasks = Vec::new();
    for row in tx.query(&stmt, &[&workflow_id]).await? {
        let id: String = row.try_get(0)?;
        tasks.push(from_json(row.try_get(1)?, &format!("task {id}"))?);
    }
    let def = snapshot(&tx, defs, &hash).await?;
    tx.commit().await?;
    workflow.workflow_definition = Some(def.clone());
    Ok(Some(WorkflowState {
        workflow,
        def,
        tasks,
        version,
        woken,
    }))
}

pub(super) async fn get_workflow(
    c: &impl GenericClient,
    defs: &DefCache,
    workflow_id: &str,
) -> Result<Option<Workflow>> {
    let stmt = c
        .prepare_cached(
            "SELECT json::text, def_hash, input_json::text FROM workflows WHERE workflow_id = $1",
        )
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&workflow_id]).await? else {
        return Ok(None);
    };
    let mut workflow = workflow_from(row.try_get(0)?, row.try_get(2)?, workflow_id)?;
    let hash: String = row.try_get(1)?;
    workflow.workflow_definition = Some(snapshot(c, defs, &hash).await?);
    Ok(Some(workflow))
}

/// The workflow row without its input or definition (see `Store::get_workflow_status`).
pub(super) async fn get_workflow_status(
    c: &impl GenericClient,
    workflow_id: &str,
) -> Result<Option<Workflow>> {
    let stmt = c
        .prepare_cached("SELECT json::text FROM workflows WHERE workflow_id = $1")
        .await?;
    let row = c.query_opt(&stmt, &[&workflow_id]).await?;
    row.map(|r| workflow_from(r.try_get(0)?, None, workflow_id))
        .transpose()
}

pub(super) async fn get_task(c: &impl GenericClient, task_id: &str) -> Result<Option<Task>> {
    let stmt = c
        .prepare_cached("SELECT json::text FROM tasks WHERE task_id = $1")
        .await?;
    let row = c.query_opt(&stmt, &[&task_id]).await?;
    row.map(|r| from_json(r.try_get(0)?, &format!("task {task_id}")))
        .transpose()
}

/// The LIKE pattern of the search keys (migration 16) that hold the key of a text, with
/// `param` (SQL) that key before folding. A key has no `%`, `_` or `\` (each is a letter in
/// it), so the pattern needs no escaping.
fn key_pattern(param: &str) -> String {
    format!("'%' || lower({param}) || '%'")
}

/// A WHERE clause built from optional filters, with its bound values.
#[derive(Default)]
pub(super) struct Filter {
    pub(super) sql: String,
    pub(super) args: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Filter {
    /// Appends ` AND <cond>` where `{}` in `cond` stands for the next parameter.
    pub(super) fn and(&mut self, cond: &str, value: impl ToSql + Sync + Send + 'static) {
        self.args.push(Box::new(value));
        self.sql.push_str(" AND ");
        self.sql
            .push_str(&cond.replace("{}", &format!("${}", self.args.len())));
    }

    /// Free text in a search document (`search_text`, kept in lower case): `text` with its
    /// case folded the same way (`lower`), what `ILIKE` matches on a UTF-8 database, which
    /// folds both sides for each row, without folding each candidate row again. The
    /// document's key (`search_key`, migration 16) holds the key of the folded text too:
    /// that condition is the one the trigram index answers, with punctuation inside its
    /// words; the document's own drops the key's false candidates.
    pub(super) fn free_text_in(&mut self, text: Option<&str>) {
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            self.and(
                &format!("search_key LIKE {}", key_pattern("{}")),
                search_key(text),
            );
            self.and(
                "search_text LIKE '%' || lower({}) || '%' ESCAPE '\\'",
                like_escape(text),
            );
        }
    }

    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

pub(super) async fn find_by_idempotency_key(
    c: &impl GenericClient,
    name: &str,
    key: &str,
) -> Result<Vec<Workflow>> {
    let stmt = c
        .prepare_cached(
            "SELECT workflow_id, json::text, input_json::text FROM workflows
             WHERE name = $1 AND idempotency_key = $2 ORDER BY start_time DESC, row_id DESC",
        )
        .await?;
    decode_workflows(c.query(&stmt, &[&name, &key]).await?)
}

// ----- queues and timers -----

/// The due times up to `$1` of every workflow, as rows `(workflow_id, at)`: a workflow is due
/// by its own wake-up, by a pending wake from another workflow, and by the leases claims granted on its tasks that no commit has seen
/// yet (claims do not touch the workflow row, see `queue.rs`).
macro_rules! due_times {
    () => {
        "SELECT workflow_id, next_wake_at AS at FROM workflows
         WHERE next_wake_at IS NOT NULL AND next_wake_at <= $1
         UNION ALL
         SELECT workflow_id, woken_at FROM workflows
         WHERE woken_at IS NOT NULL AND woken_at <= $1
         UNION ALL
         SELECT workflow_id, lease_until FROM tasks
         WHERE lease_until IS NOT NULL AND lease_until <= $1"
    };
}

/// Workflows due by `now`, earliest first.
pub(super) async fn due_workflows(
    c: &impl GenericClient,
    now: Millis,
    limit: usize,
) -> Result<Vec<String>> {
    let stmt = c
        .prepare_cached(concat!(
            "SELECT workflow_id FROM (",
            due_times!(),
            ") due GROUP BY workflow_id ORDER BY MIN(at), workflow_id LIMIT $2"
        ))
        .await?;
    let rows = c.query(&stmt, &[&now, &to_i64(limit)]).await?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(StoreError::from))
        .collect()
}

/// Claims up to `limit` due workflows no other sweeper holds, until `until`: the other
/// nodes' sweepers skip them until then or until a commit of the workflow ends the claim.
/// The claim is re-checked on the locked row, so two nodes racing never both take one.
pub(super) async fn claim_due_workflows(
    c: &impl GenericClient,
    now: Millis,
    limit: usize,
    until: Millis,
) -> Result<Vec<String>> {
    let stmt = c
        .prepare_cached(concat!(
            "WITH due AS (SELECT d.workflow_id, MIN(d.at) AS at FROM (",
            due_times!(),
            ") d JOIN workflows w ON w.workflow_id = d.workflow_id
                 WHERE w.sweep_until IS NULL OR w.sweep_until <= $1
                 GROUP BY d.workflow_id ORDER BY MIN(d.at), d.workflow_id LIMIT $2
             ), claimed AS (
                 SELECT w.workflow_id FROM workflows w JOIN due ON due.workflow_id = w.workflow_id
                 WHERE w.sweep_until IS NULL OR w.sweep_until <= $1
                 FOR UPDATE OF w SKIP LOCKED
             )
             UPDATE workflows w SET sweep_until = $3 FROM claimed
             WHERE w.workflow_id = claimed.workflow_id
             RETURNING w.workflow_id"
        ))
        .await?;
    let rows = c.query(&stmt, &[&now, &to_i64(limit), &until]).await?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(StoreError::from))
        .collect()
}

/// The earliest time a sweeper may find work: a workflow another sweeper claimed counts from
/// the end of its claim.
pub(super) async fn next_wake_at(c: &impl GenericClient) -> Result<Option<Millis>> {
    let stmt = c
        .prepare_cached(
            "SELECT LEAST(
                 (SELECT MIN(next_wake_at) FROM workflows
                  WHERE next_wake_at IS NOT NULL AND sweep_until IS NULL),
                 (SELECT MIN(GREATEST(next_wake_at, sweep_until)) FROM workflows
                  WHERE sweep_until IS NOT NULL AND next_wake_at IS NOT NULL),
                 (SELECT MIN(woken_at) FROM workflows
                  WHERE woken_at IS NOT NULL AND sweep_until IS NULL),
                 (SELECT MIN(GREATEST(woken_at, sweep_until)) FROM workflows
                  WHERE sweep_until IS NOT NULL AND woken_at IS NOT NULL),
                 (SELECT t.lease_until FROM tasks t JOIN workflows w USING (workflow_id)
                  WHERE t.lease_until IS NOT NULL AND w.sweep_until IS NULL
                  ORDER BY t.lease_until LIMIT 1),
                 (SELECT MIN(GREATEST(t.lease_until, w.sweep_until))
                  FROM workflows w JOIN tasks t USING (workflow_id)
                  WHERE w.sweep_until IS NOT NULL AND t.lease_until IS NOT NULL))",
        )
        .await?;
    Ok(c.query_one(&stmt, &[]).await?.try_get(0)?)
}

pub(super) async fn pending_follow_ups(
    c: &impl GenericClient,
    limit: usize,
) -> Result<Vec<FollowUp>> {
    let stmt = c
        .prepare_cached(
            "SELECT id, workflow_id, payload::text, created_at FROM follow_ups
             ORDER BY id LIMIT $1",
        )
        .await?;
    let mut out = Vec::new();
    for row in c.query(&stmt, &[&to_i64(limit)]).await? {
        out.push(FollowUp {
            id: row.try_get(0)?,
            workflow_id: row.try_get(1)?,
            payload: from_json(row.try_get(2)?, "follow-up")?,
            created_at: row.try_get(3)?,
        });
    }
    Ok(out)
}

pub(super) async fn queue_sizes(c: &impl GenericClient) -> Result<Vec<(String, i64)>> {
    let stmt = c
        .prepare_cached(
            // The slots of each queue (migration 7's triggers keep them).
            "SELECT queue_name, SUM(n)::bigint FROM queue_counts GROUP BY queue_name
             HAVING SUM(n) > 0 ORDER BY queue_name",
        )
        .await?;
    let rows = c.query(&stmt, &[]).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub(super) async fn poll_data(c: &impl GenericClient) -> Result<Vec<PollData>> {
    let stmt = c
        .prepare_cached(
            "SELECT queue_name, domain, worker_id, last_poll_time FROM poll_data
             ORDER BY queue_name, domain",
        )
        .await?;
    let mut out = Vec::new();
    for r in c.query(&stmt, &[]).await? {
        let domain: String = r.try_get(1)?;
        out.push(PollData {
            queue_name: r.try_get(0)?,
            domain: (!domain.is_empty()).then_some(domain),
            worker_id: r.try_get(2)?,
            last_poll_time: r.try_get(3)?,
        });
    }
    Ok(out)
}

// ----- logs and history -----

pub(super) async fn task_logs(c: &impl GenericClient, task_id: &str) -> Result<Vec<TaskExecLog>> {
    let stmt = c
        .prepare_cached("SELECT log, created_time FROM task_logs WHERE task_id = $1 ORDER BY id")
        .await?;
    let mut out = Vec::new();
    for r in c.query(&stmt, &[&task_id]).await? {
        out.push(TaskExecLog {
            log: r.try_get(0)?,
            task_id: Some(task_id.to_string()),
            created_time: r.try_get(1)?,
        });
    }
    Ok(out)
}

pub(super) async fn history(
    c: &impl GenericClient,
    workflow_id: &str,
) -> Result<Vec<HistoryEvent>> {
    let stmt = c
        .prepare_cached("SELECT id, json::text FROM history WHERE workflow_id = $1 ORDER BY id")
        .await?;
    let mut out = Vec::new();
    for r in c.query(&stmt, &[&workflow_id]).await? {
        let id: i64 = r.try_get(0)?;
        let mut event: HistoryEvent = from_json(r.try_get(1)?, &format!("history event {id}"))?;
        event.id = id;
        out.push(event);
    }
    Ok(out)
}
