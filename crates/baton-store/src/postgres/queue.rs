//! The task queue: claims with `FOR UPDATE SKIP LOCKED`, under the task definition's limits.
//!
//! A claim is one transaction of at most four statements whatever the batch size: the limit
//! check (only for limited task types), one statement that takes the queue entries and their
//! task rows, the engine's claim rule run here on each task, and one statement that writes
//! every claim (task rows, queue deletions, history, rate-limit hand-outs). Rows another
//! transaction holds are skipped, never waited for, so pollers on any number of connections
//! and nodes neither hand a task out twice nor queue behind each other or behind a commit.
//! A system task queue holds tasks of several definitions: a limited definition's check runs
//! when its first task is met (a few statements per such definition and poll), and the
//! entries it holds back are postponed by the final statement.
//! The workflow row is not touched (ADR 14): the lease is kept on the task row.

use super::to_i64;
use crate::codec::{from_json, to_json};
use crate::{Millis, PollLimits, PollOutcome, PollRequest, Result};
use baton_model::claim::ClaimTerms;
use baton_model::{HistoryEvent, Task};
use deadpool_postgres::{Client, GenericClient};

/// Claims up to `count` visible entries of the queue (see `Store::poll`).
pub(super) async fn poll(c: &mut Client, req: &PollRequest) -> Result<PollOutcome> {
    // Idle workers poll in a loop: an empty queue costs one indexed read, no transaction.
    let next = next_visible_at(&*c, &req.queue).await?;
    if next.is_none_or(|t| t > req.now) {
        return Ok(PollOutcome {
            next_visible_at: next,
            ..Default::default()
        });
    }
    let tx = c.transaction().await?;
    super::plans::generic_plans(&tx).await?;
    let limited = req.limits.concurrent_exec_limit.is_some_and(|l| l > 0)
        || req.limits.rate_limit.is_some_and(|(per, _)| per > 0);
    let (allowed, retry_at) = if limited {
        allowance(&tx, &req.limits, req.now).await?
    } else {
        (usize::MAX, None)
    };
    let want = req.count.min(allowed);
    if want == 0 {
        tx.commit().await?;
        return Ok(PollOutcome {
            next_visible_at: retry_at,
            ..Default::default()
        });
    }

    let terms = ClaimTerms {
        worker_id: req.worker_id.as_deref(),
        now: req.now,
    };
    // Entries and their tasks are locked together; an entry whose task a commit holds is
    // left in the queue for the next poll, one whose task is gone is dropped. Stale entries
    // do not count, so another page is taken until the batch is full or the queue is done.
    let stmt = tx
        .prepare_cached(
            "WITH q AS (
                 SELECT task_id FROM queue
                 WHERE queue_name = $1 AND visible_at <= $2 AND task_id <> ALL($4)
                 ORDER BY priority DESC, visible_at, id LIMIT $3
                 FOR UPDATE SKIP LOCKED
             ), t AS (
                 SELECT tasks.task_id, tasks.json::text AS json FROM tasks JOIN q USING (task_id)
                 FOR UPDATE OF tasks SKIP LOCKED
             )
             SELECT q.task_id, t.json,
                 t.task_id IS NULL AND EXISTS (SELECT 1 FROM tasks x WHERE x.task_id = q.task_id)
             FROM q LEFT JOIN t USING (task_id)",
        )
        .await?;
    let mut seen: Vec<String> = Vec::new();
    let mut dequeued: Vec<String> = Vec::new();
    let mut claimed: Vec<Task> = Vec::new();
    let mut leases: Vec<Option<Millis>> = Vec::new();
    let mut wake_by: Option<Millis> = None;
    // A mixed queue's per-definition allowances, and the entries postponed for them.
    let mut budgets: Vec<DefBudget> = Vec::new();
    let (mut postponed, mut postponed_to): (Vec<String>, Vec<Millis>) = (Vec::new(), Vec::new());
    // One definition name per rate-limited hand-out.
    let mut handout_defs: Vec<String> = Vec::new();
    while claimed.len() < want {
        let page = want - claimed.len();
        let rows = tx
            .query(&stmt, &[&req.queue, &req.now, &to_i64(page), &seen])
            .await?;
        let drained = rows.len() < page;
        let mut progress = false;
        for row in rows {
            let task_id: String = row.try_get(0)?;
            let json: Option<String> = row.try_get(1)?;
            let busy: bool = row.try_get(2)?;
            seen.push(task_id.clone());
            if busy {
                continue;
            }
            let Some(json) = json else {
                progress = true;
                dequeued.push(task_id);
                continue;
            };
            let mut task: Task = from_json(&json, &format!("task {task_id}"))?;
            let limited = match req.def_limits.as_deref() {
                Some(by_def) => by_def.get(&task.task_def_name),
                None => None,
            };
            let mut budget_at: Option<usize> = None;
            if let Some(limits) = limited {
                let k = match budgets.iter().position(|b| b.name == task.task_def_name) {
                    Some(k) => k,
                    None => {
                        budgets.push(def_budget(&tx, &task.task_def_name, limits, req.now).await?);
                        budgets.len() - 1
                    }
                };
                progress = true;
                match &budgets[k] {
                    // Another claimer is handing out this definition's tasks: they wait for
                    // the next poll; the entries after them may still be taken now.
                    b if b.busy => continue,
                    b if b.left == 0 => {
                        // At its limit: stays queued, out of sight until it may go.
                        postponed.push(task_id);
                        postponed_to.push(b.retry_at.unwrap_or(req.now + 1000).max(req.now + 1));
                        continue;
                    }
                    _ => budget_at = Some(k),
                }
            }
            progress = true;
            dequeued.push(task_id.clone());
            // The engine's rule; a task no longer SCHEDULED (a stale entry) is only dequeued.
            let Some(lease) = (req.claim)(&mut task, &terms) else {
                continue;
            };
            if let Some(due) = lease.wake_workflow_by {
                wake_by = Some(wake_by.map_or(due, |w| w.min(due)));
            }
            if let Some(k) = budget_at {
                let b = &mut budgets[k];
                b.left = b.left.saturating_sub(1);
                if b.rated {
                    handout_defs.push(b.name.clone());
                }
            } else if req.limits.rate_limit.is_some_and(|(per, _)| per > 0) {
                handout_defs.push(req.limits.task_def_name.clone());
            }
            leases.push(lease.wake_workflow_by);
            claimed.push(task);
        }
        if drained || !progress {
            break;
        }
    }

    if dequeued.is_empty() && postponed.is_empty() {
        // Nothing to write: nothing was visible after all, or a commit holds every entry seen.
        let next_visible_at = next_visible_at(&tx, &req.queue).await?;
        tx.commit().await?;
        return Ok(PollOutcome {
            next_visible_at,
            ..Default::default()
        });
    }
    let ids: Vec<&str> = claimed.iter().map(|t| t.task_id.as_str()).collect();
    let statuses: Vec<&str> = claimed.iter().map(|t| t.status.as_str()).collect();
    let polls: Vec<i32> = claimed.iter().map(|t| t.poll_count).collect();
    let starts: Vec<i64> = claimed.iter().map(|t| t.start_time).collect();
    let mut docs = Vec::with_capacity(claimed.len());
    let mut events = Vec::with_capacity(claimed.len());
    for task in &claimed {
        docs.push(to_json(task)?);
        let event = HistoryEvent::task(task, req.now);
        events.push((event.workflow_id.clone(), to_json(&event)?));
    }
    let (event_workflows, event_docs): (Vec<String>, Vec<String>) = events.into_iter().unzip();
    let stmt = tx
        .prepare_cached(
            "WITH dequeued AS (
                 DELETE FROM queue WHERE task_id = ANY($1)
             ), claimed AS (
                 UPDATE tasks SET status = u.status, json = u.json::json,
                     poll_count = u.poll_count, lease_until = u.lease, start_time = u.started
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::integer[], $6::bigint[],
                         $11::bigint[])
                     AS u(task_id, status, json, poll_count, lease, started)
                 WHERE tasks.task_id = u.task_id
             ), handed_out AS (
                 INSERT INTO task_handouts (task_def_name, handed_out_at)
                 SELECT d, $10 FROM unnest($9::text[]) AS d
             ), postponed AS (
                 UPDATE queue SET visible_at = p.at
                 FROM unnest($12::text[], $13::bigint[]) AS p(task_id, at)
                 WHERE queue.task_id = p.task_id
             )
             INSERT INTO history (workflow_id, task_id, json)
             SELECT w, t, j::json FROM unnest($7::text[], $2::text[], $8::text[])
                 WITH ORDINALITY AS e(w, t, j, n) ORDER BY n",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &dequeued,
            &ids,
            &statuses,
            &docs,
            &polls,
            &leases,
            &event_workflows,
            &event_docs,
            &handout_defs,
            &req.now,
            &starts,
            &postponed,
            &postponed_to,
        ],
    )
    .await?;
    let next_visible_at = if claimed.is_empty() {
        next_visible_at(&tx, &req.queue).await?
    } else {
        None
    };
    tx.commit().await?;
    Ok(PollOutcome {
        tasks: claimed,
        next_visible_at,
        wake_by,
    })
}

/// How many tasks the definition's limits let this poll hand out now, and, when none, the
/// time worth polling again.
///
/// Counting and then claiming is only safe if no other claimer of the same definition counts
/// in between: a transaction-scoped advisory lock per definition makes claimers of limited
/// types take turns, on every connection and node, until their claims are committed.
async fn allowance(
    tx: &deadpool_postgres::Transaction<'_>,
    limits: &PollLimits,
    now: Millis,
) -> Result<(usize, Option<Millis>)> {
    let stmt = tx
        .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended('baton.limit:' || $1, 0))")
        .await?;
    tx.execute(&stmt, &[&limits.task_def_name]).await?;
    counts(tx, &limits.task_def_name, limits, now).await
}

/// What a poll of a mixed queue may still hand out of one definition's tasks.
struct DefBudget {
    name: String,
    /// Another transaction holds the definition's lock: its tasks wait for the next poll.
    busy: bool,
    left: usize,
    retry_at: Option<Millis>,
    rated: bool,
}

/// One definition's allowance in a mixed queue's claim. The lock is only tried: a claim
/// that waited here while holding another definition's lock could deadlock with one that
/// took the two in the other order.
async fn def_budget(
    tx: &deadpool_postgres::Transaction<'_>,
    name: &str,
    limits: &PollLimits,
    now: Millis,
) -> Result<DefBudget> {
    let stmt = tx
        .prepare_cached(
            "SELECT pg_try_advisory_xact_lock(hashtextextended('baton.limit:' || $1, 0))",
        )
        .await?;
    let locked: bool = tx.query_one(&stmt, &[&name]).await?.try_get(0)?;
    let (left, retry_at) = if locked {
        counts(tx, name, limits, now).await?
    } else {
        (0, None)
    };
    Ok(DefBudget {
        name: name.to_string(),
        busy: !locked,
        left,
        retry_at,
        rated: limits.rate_limit.is_some_and(|(per, _)| per > 0),
    })
}

/// The counting half of [`allowance`], under the definition's lock already taken.
async fn counts(
    tx: &deadpool_postgres::Transaction<'_>,
    name: &str,
    limits: &PollLimits,
    now: Millis,
) -> Result<(usize, Option<Millis>)> {
    let mut allowed = usize::MAX;
    let mut retry_at: Option<Millis> = None;
    if let Some(limit) = limits.concurrent_exec_limit.filter(|l| *l > 0) {
        let stmt = tx
            .prepare_cached(
                "SELECT COUNT(*) FROM tasks WHERE task_def_name = $1 AND status = 'IN_PROGRESS'",
            )
            .await?;
        let running: i64 = tx.query_one(&stmt, &[&name]).await?.try_get(0)?;
        let free = (i64::from(limit) - running).max(0);
        allowed = allowed.min(usize::try_from(free).unwrap_or(0));
        if free == 0 {
            // A completion frees a slot; its commit wakes the pollers, this is the fallback.
            retry_at = Some(now + 1000);
        }
    }
    if let Some((per, window)) = limits.rate_limit.filter(|(per, _)| *per > 0) {
        let window_ms = baton_model::duration::secs_to_ms(i64::from(window.max(1)));
        let since = now - window_ms;
        let stmt = tx
            .prepare_cached(
                "DELETE FROM task_handouts WHERE task_def_name = $1 AND handed_out_at <= $2",
            )
            .await?;
        tx.execute(&stmt, &[&name, &since]).await?;
        let stmt = tx
            .prepare_cached(
                "SELECT COUNT(*), MIN(handed_out_at) FROM task_handouts WHERE task_def_name = $1",
            )
            .await?;
        let row = tx.query_one(&stmt, &[&name]).await?;
        let recent: i64 = row.try_get(0)?;
        let oldest: Option<Millis> = row.try_get(1)?;
        let free = (i64::from(per) - recent).max(0);
        allowed = allowed.min(usize::try_from(free).unwrap_or(0));
        if free == 0 {
            let at = oldest.map_or(baton_model::duration::after(now, window_ms), |o| {
                baton_model::duration::after(o, window_ms).saturating_add(1)
            });
            retry_at = Some(retry_at.map_or(at, |r: Millis| r.min(at)));
        }
    }
    Ok((allowed, retry_at))
}

pub(super) async fn next_visible_at(c: &impl GenericClient, queue: &str) -> Result<Option<Millis>> {
    let stmt = c
        .prepare_cached("SELECT MIN(visible_at) FROM queue WHERE queue_name = $1")
        .await?;
    Ok(c.query_one(&stmt, &[&queue]).await?.try_get(0)?)
}

/// Records who polled the queue last (its own statement, after the claim).
pub(super) async fn record_poll(c: &impl GenericClient, req: &PollRequest) -> Result<()> {
    let task_type = match req.domain.as_deref() {
        Some(d) if !d.is_empty() => req
            .queue
            .strip_prefix(d)
            .and_then(|rest| rest.strip_prefix(':'))
            .unwrap_or(&req.queue),
        _ => req.queue.as_str(),
    };
    let stmt = c
        .prepare_cached(
            "INSERT INTO poll_data (queue_name, domain, worker_id, last_poll_time)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (queue_name, domain) DO UPDATE SET worker_id = excluded.worker_id,
                 last_poll_time = excluded.last_poll_time",
        )
        .await?;
    c.execute(
        &stmt,
        &[
            &task_type,
            &req.domain.as_deref().unwrap_or(""),
            &req.worker_id.as_deref().unwrap_or(""),
            &req.now,
        ],
    )
    .await?;
    if !req.registered {
        // Polls of random names must not grow the table without bound: keep the most
        // recently polled unregistered types only.
        let stmt = c
            .prepare_cached(
                "DELETE FROM poll_data p USING (
                     SELECT queue_name, domain FROM poll_data d
                     WHERE NOT EXISTS (SELECT 1 FROM task_defs t WHERE t.name = d.queue_name)
                     ORDER BY last_poll_time DESC OFFSET $1
                 ) old WHERE p.queue_name = old.queue_name AND p.domain = old.domain",
            )
            .await?;
        c.execute(&stmt, &[&to_i64(crate::sqlite::MAX_UNREGISTERED_POLL_DATA)])
            .await?;
    }
    Ok(())
}

/// The queue entries of one workflow's tasks, in claim order (`baton migrate` copies them).
pub(super) async fn queue_entries(
    c: &impl deadpool_postgres::GenericClient,
    workflow_id: &str,
) -> Result<Vec<baton_model::QueueEntry>> {
    let stmt = c
        .prepare_cached(
            "SELECT q.queue_name, q.task_id, q.workflow_id, q.priority, q.visible_at
             FROM queue q JOIN tasks t ON t.task_id = q.task_id
             WHERE t.workflow_id = $1
             ORDER BY q.priority DESC, q.visible_at, q.id",
        )
        .await?;
    let rows = c.query(&stmt, &[&workflow_id]).await?;
    Ok(rows
        .iter()
        .map(|r| baton_model::QueueEntry {
            queue: r.get(0),
            task_id: r.get(1),
            workflow_id: r.get(2),
            priority: r.get(3),
            visible_at: r.get(4),
        })
        .collect())
}

/// Ended executions by end time (retention); see `Store::finished_before`.
pub(super) async fn finished_before(
    c: &impl deadpool_postgres::GenericClient,
    end_before: crate::Millis,
    limit: usize,
) -> Result<Vec<String>> {
    let stmt = c
        .prepare_cached(
            "SELECT workflow_id FROM workflows WHERE status IN ('COMPLETED', 'FAILED', 'TIMED_OUT', 'TERMINATED') AND end_time < $1 ORDER BY end_time, workflow_id LIMIT $2",
        )
        .await?;
    let rows = c
        .query(&stmt, &[&end_before, &super::to_i64(limit)])
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
