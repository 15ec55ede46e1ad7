//! Execution writes: commits (a group of them in one transaction, ADR 23), logs, removal.
//! A group checks everything its commits can fail on before its first write; a commit that
//! fails its checks is answered alone and writes nothing, and any error after that rolls the
//! whole transaction back.

use super::commit_rows::PreparedCommit;
use crate::{Result, StoreError};
use baton_model::TaskExecLog;
use deadpool_postgres::{Client, GenericClient};
use std::collections::{HashMap, HashSet};

// ----- executions -----

/// Writes `group` in one transaction and answers each of its commits.
///
/// The workflow rows the group names are locked first, in id order (so two groups never
/// wait for each other in a cycle over them), together with the rows of the tasks it writes;
/// then each commit is checked against them (versions, poll counts, free ids), and the
/// commits that pass are written with one multi-row statement per table. The outer error
/// means the transaction failed as a whole and stored nothing; commits must not share a
/// workflow (the committer keeps them apart).
pub(super) async fn commit_group(
    c: &mut Client,
    group: &[PreparedCommit],
) -> Result<Vec<Result<()>>> {
    let tx = c.transaction().await?;
    super::plans::generic_plans(&tx).await?;
    let result = apply(&tx, group).await;
    match result {
        Ok(answers) => {
            tx.commit().await?;
            Ok(answers)
        }
        Err(e) => {
            // Dropping the transaction would roll back too; saying so keeps the connection
            // clean for the pool at once.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    group: &[PreparedCommit],
) -> Result<Vec<Result<()>>> {
    let stored = read_for_checks(tx, group).await?;
    let answers: Vec<Result<()>> = group.iter().map(|p| stored.check(p)).collect();
    let accepted: Vec<&PreparedCommit> = group
        .iter()
        .zip(&answers)
        .filter(|(_, a)| a.is_ok())
        .map(|(p, _)| p)
        .collect();
    if !accepted.is_empty() {
        let mut writes = Pipeline::default();
        plan_writes(tx, &accepted, &mut writes).await?;
        writes.run(tx).await?;
    }
    Ok(answers)
}

/// What the store holds that commits are checked against, read under lock.
struct Stored {
    /// Locked workflow rows: id → version.
    versions: HashMap<String, i64>,
    /// Locked task rows: id → poll count.
    poll_counts: HashMap<String, i32>,
    /// Ids of new workflows that are taken.
    taken: HashSet<String>,
}

/// Locks the rows of every workflow the group updates, reschedules, wakes or unwakes (in id order)
/// and of every task it writes, and reads which new workflow ids are taken: three statements, one
/// round trip. Locking the task rows makes the poll-count check hold until commit: a claim
/// skips a locked task (SKIP LOCKED), and one that got there first raised the count read here.
async fn read_for_checks(
    tx: &deadpool_postgres::Transaction<'_>,
    group: &[PreparedCommit],
) -> Result<Stored> {
    let mut locked: Vec<&str> = Vec::new();
    let mut new_ids: Vec<&str> = Vec::new();
    let mut task_ids: Vec<&str> = Vec::new();
    for p in group {
        for w in &p.workflows {
            match w.expected_version {
                Some(_) => locked.push(&w.id),
                None => new_ids.push(&w.id),
            }
        }
        locked.extend(p.reschedule.iter().map(|r| r.0.as_str()));
        // Workflows the group wakes are locked too, with the others and in the same order:
        // then every row a group changes was locked up front in id order, and two groups
        // (on two lanes or two nodes) can wait for each other but never in a cycle.
        locked.extend(p.wake.iter().map(|w| w.0.as_str()));
        locked.extend(p.unwake.iter().map(|w| w.0.as_str()));
        task_ids.extend(p.tasks.iter().map(|t| t.task_id.as_str()));
    }
    locked.sort_unstable();
    locked.dedup();
    task_ids.sort_unstable();
    task_ids.dedup();

    let lock_workflows = async {
        let mut out = HashMap::new();
        if locked.is_empty() {
            return Ok::<_, StoreError>(out);
        }
        let stmt = tx
            .prepare_cached(
                "SELECT workflow_id, version FROM workflows
                 WHERE workflow_id = ANY($1) ORDER BY workflow_id FOR UPDATE",
            )
            .await?;
        for row in tx.query(&stmt, &[&locked]).await? {
            out.insert(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(out)
    };
    let lock_tasks = async {
        let mut out = HashMap::new();
        if task_ids.is_empty() {
            return Ok::<_, StoreError>(out);
        }
        let stmt = tx
            .prepare_cached(
                "SELECT task_id, poll_count FROM tasks WHERE task_id = ANY($1)
                 ORDER BY task_id FOR UPDATE",
            )
            .await?;
        for row in tx.query(&stmt, &[&task_ids]).await? {
            out.insert(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(out)
    };
    let taken = async {
        let mut out = HashSet::new();
        if new_ids.is_empty() {
            return Ok::<_, StoreError>(out);
        }
        let stmt = tx
            .prepare_cached("SELECT workflow_id FROM workflows WHERE workflow_id = ANY($1)")
            .await?;
        for row in tx.query(&stmt, &[&new_ids]).await? {
            out.insert(row.try_get(0)?);
        }
        Ok(out)
    };
    // Polled together, the three go out in one round trip; the server runs them in order,
    // workflow rows first.
    let (versions, poll_counts, taken) =
        futures_util::future::try_join3(lock_workflows, lock_tasks, taken).await?;
    Ok(Stored {
        versions,
        poll_counts,
        taken,
    })
}

impl Stored {
    /// Checks one commit: a new id must be free, an update and a reschedule must name the
    /// stored version, and no task it writes may have been claimed since its copy was read.
    fn check(&self, p: &PreparedCommit) -> Result<()> {
        for w in &p.workflows {
            match w.expected_version {
                None if self.taken.contains(&w.id) => {
                    return Err(StoreError::AlreadyExists(format!("workflow {}", w.id)));
                }
                None => {}
                Some(v) if self.versions.get(&w.id) != Some(&v) => {
                    return Err(StoreError::Conflict(w.id.clone()));
                }
                Some(_) => {}
            }
        }
        for t in &p.tasks {
            if self
                .poll_counts
                .get(&t.task_id)
                .is_some_and(|stored| *stored > t.poll_count)
            {
                return Err(StoreError::Conflict(t.workflow_id.clone()));
            }
        }
        for (id, version, _) in &p.reschedule {
            if self.versions.get(id) != Some(version) {
                return Err(StoreError::Conflict(id.clone()));
            }
        }
        Ok(())
    }
}

/// A statement's parameter; borrowed from the group where it can be.
pub(super) type Param<'a> = Box<dyn tokio_postgres::types::ToSql + Sync + Send + 'a>;

/// How many rows a write must change; fewer means a check did not hold after all, and the
/// transaction is rolled back with this error.
pub(super) enum Expect {
    Any,
    Rows(u64, StoreError),
}

/// Statements sent together: tokio-postgres pipelines the requests of futures polled at
/// once, so N checked writes cost one round trip instead of N. The server runs them in
/// order; the first error aborts the transaction, which the caller rolls back.
#[derive(Default)]
pub(super) struct Pipeline<'a> {
    statements: Vec<(tokio_postgres::Statement, Vec<Param<'a>>, Expect)>,
}

impl<'a> Pipeline<'a> {
    pub(super) fn push(
        &mut self,
        stmt: tokio_postgres::Statement,
        params: Vec<Param<'a>>,
        expect: Expect,
    ) {
        self.statements.push((stmt, params, expect));
    }

    async fn run(self, tx: &deadpool_postgres::Transaction<'_>) -> Result<()> {
        let refs: Vec<Vec<&(dyn tokio_postgres::types::ToSql + Sync)>> = self
            .statements
            .iter()
            .map(|(_, params, _)| {
                params
                    .iter()
                    .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect()
            })
            .collect();
        let sent = self
            .statements
            .iter()
            .zip(&refs)
            .map(|((stmt, _, _), params)| tx.execute(stmt, params));
        let counts = futures_util::future::try_join_all(sent).await?;
        for ((_, _, expect), n) in self.statements.into_iter().zip(counts) {
            if let Expect::Rows(want, e) = expect {
                if n != want {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

pub(super) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Plans the writes of the checked commits: one statement per table and kind of write,
/// each taking the rows of every commit as column arrays.
async fn plan_writes<'a>(
    tx: &deadpool_postgres::Transaction<'_>,
    group: &[&'a PreparedCommit],
    writes: &mut Pipeline<'a>,
) -> Result<()> {
    let mut seen = HashSet::new();
    let snapshots: Vec<&(String, String)> = group
        .iter()
        .flat_map(|p| &p.snapshots)
        .filter(|(hash, _)| seen.insert(hash.as_str()))
        .collect();
    if !snapshots.is_empty() {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO def_snapshots (hash, json)
                 SELECT h, j::json FROM unnest($1::text[], $2::text[]) AS u(h, j)
                 ON CONFLICT (hash) DO NOTHING",
            )
            .await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&snapshots, |s| s.0.as_str())),
                Box::new(column(&snapshots, |s| s.1.as_str())),
            ],
            Expect::Any,
        );
    }
    super::commit_sql::plan_workflows(tx, group, writes).await?;
    super::commit_sql::plan_tasks(tx, group, writes).await?;
    super::commit_sql::plan_queue(tx, group, writes).await?;
    super::commit_sql::plan_rest(tx, group, writes).await?;
    Ok(())
}

/// One column of `rows` as an array parameter.
pub(super) fn column<'a, T, U>(rows: &[&'a T], f: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(|r| f(r)).collect()
}

/// Appends task log lines outside a commit.
pub(super) async fn append_logs(c: &impl GenericClient, logs: &[TaskExecLog]) -> Result<()> {
    let rows = super::commit_rows::log_rows(logs);
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<&(String, String, i64)> = rows.iter().collect();
    let stmt = c.prepare_cached(super::commit_sql::INSERT_LOGS).await?;
    c.execute(
        &stmt,
        &[
            &column(&rows, |r| r.0.as_str()),
            &column(&rows, |r| r.1.as_str()),
            &column(&rows, |r| r.2),
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn remove_workflow(c: &mut Client, workflow_id: &str) -> Result<()> {
    let tx = c.transaction().await?;
    let n = tx
        .execute(
            &tx.prepare_cached("DELETE FROM workflows WHERE workflow_id = $1")
                .await?,
            &[&workflow_id],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("workflow {workflow_id}")));
    }
    for sql in [
        "DELETE FROM task_logs WHERE task_id IN (SELECT task_id FROM tasks WHERE workflow_id = $1)",
        "DELETE FROM queue WHERE task_id IN (SELECT task_id FROM tasks WHERE workflow_id = $1)",
        "DELETE FROM tasks WHERE workflow_id = $1",
    ] {
        tx.execute(&tx.prepare_cached(sql).await?, &[&workflow_id])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
