//! The task queue, run by the writer thread: claiming visible entries for a poll under the
//! task definition's concurrency and rate limits (in a system task queue, those of each task's
//! own definition), and the poll data those claims record.

use super::write::{append_history, wake_by};
use super::writer::WriterCtx;
use crate::codec::{from_json, to_json};
use crate::{Millis, PollOutcome, PollRequest, Result};
use baton_model::claim::{ClaimTerms, Lease};
use baton_model::{HistoryEvent, Task};
use rusqlite::{params, Connection, OptionalExtension};

/// Unregistered poll data is trimmed back to its bound after this many such writes.
pub(crate) const POLL_DATA_TRIM_EVERY: usize = 64;

/// Keeps at most [`super::MAX_UNREGISTERED_POLL_DATA`] poll data rows of task types without
/// a definition, dropping the least recently polled; runs every [`POLL_DATA_TRIM_EVERY`]
/// such writes, so polls of random names cannot grow the table without bound.
fn trim_unregistered_poll_data(ctx: &WriterCtx) -> Result<()> {
    let n = ctx.unregistered_polls.get() + 1;
    if n < POLL_DATA_TRIM_EVERY {
        ctx.unregistered_polls.set(n);
        return Ok(());
    }
    ctx.unregistered_polls.set(0);
    ctx.conn
        .prepare_cached(
            "DELETE FROM poll_data WHERE rowid IN (
                 SELECT p.rowid FROM poll_data p
                 WHERE NOT EXISTS (SELECT 1 FROM task_defs d WHERE d.name = p.queue_name)
                 ORDER BY p.last_poll_time DESC LIMIT -1 OFFSET ?1)",
        )?
        .execute([i64::try_from(super::MAX_UNREGISTERED_POLL_DATA).unwrap_or(i64::MAX)])?;
    Ok(())
}

/// Claims up to `count` visible entries of the queue (see `Store::poll`).
/// `record_poll`: whether to upsert the queue's poll data.
pub(crate) fn poll(ctx: &WriterCtx, req: &PollRequest, record_poll: bool) -> Result<PollOutcome> {
    let conn = &ctx.conn;
    let now = req.now;
    let mut claimed: Vec<Task> = Vec::new();
    let mut wake_by: Option<Millis> = None;
    // Per-definition allowances of a mixed queue, found as its tasks are met (few per poll).
    let mut budgets: Vec<DefBudget> = Vec::new();
    let (allowed, retry_at) = allowance(conn, &req.limits, now)?;
    let want = req.count.min(allowed);
    if want == 0 {
        return Ok(PollOutcome {
            tasks: Vec::new(),
            next_visible_at: retry_at,
            wake_by: None,
        });
    }
    while claimed.len() < want {
        let page = want - claimed.len();
        let ids: Vec<String> = {
            let mut stmt = conn.prepare_cached(
                // Without statistics the planner would rather range-scan `queue_visible`
                // and sort every visible entry; walk the claim order instead.
                "SELECT task_id FROM queue INDEXED BY queue_claim
                 WHERE queue_name = ?1 AND visible_at <= ?2
                 ORDER BY priority DESC, visible_at, rowid LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![req.queue, now, i64::try_from(page).unwrap_or(i64::MAX)],
                |r| r.get::<_, String>(0),
            )?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let fetched = ids.len();
        for task_id in ids {
            let def = match &req.def_limits {
                Some(by_def) => match limited_def(conn, &task_id, by_def)? {
                    Some((name, limits)) => {
                        let k = match budgets.iter().position(|b| b.name == name) {
                            Some(k) => k,
                            None => {
                                let (left, retry_at) = allowance(conn, limits, now)?;
                                let rated = limits.rate_limit.is_some_and(|(per, _)| per > 0);
                                budgets.push(DefBudget {
                                    name,
                                    left,
                                    retry_at,
                                    rated,
                                });
                                budgets.len() - 1
                            }
                        };
                        let budget = &budgets[k];
                        if budget.left == 0 {
                            // At its limit: stays queued, out of sight until it may go.
                            let at = budget.retry_at.unwrap_or(now + 1000).max(now + 1);
                            conn.prepare_cached(
                                "UPDATE queue SET visible_at = ?2 WHERE task_id = ?1",
                            )?
                            .execute(params![task_id, at])?;
                            continue;
                        }
                        Some(budget.name.clone())
                    }
                    None => None,
                },
                None => None,
            };
            conn.prepare_cached("DELETE FROM queue WHERE task_id = ?1")?
                .execute([&task_id])?;
            if let Some((task, lease)) = claim(conn, &task_id, req)? {
                claimed.push(task);
                if let Some(due) = lease.wake_workflow_by {
                    wake_by = Some(wake_by.map_or(due, |w| w.min(due)));
                }
                if let Some(b) = def.and_then(|d| budgets.iter_mut().find(|b| b.name == d)) {
                    b.left = b.left.saturating_sub(1);
                    if b.rated {
                        conn.prepare_cached(
                            "INSERT INTO task_handouts (task_def_name, handed_out_at)
                             VALUES (?1, ?2)",
                        )?
                        .execute(params![b.name, now])?;
                    }
                }
            }
        }
        if fetched < page {
            ctx.hints.drained(&req.queue);
            break;
        }
    }

    if record_poll {
        let task_type = match req.domain.as_deref() {
            Some(d) if !d.is_empty() => req
                .queue
                .strip_prefix(d)
                .and_then(|rest| rest.strip_prefix(':'))
                .unwrap_or(&req.queue),
            _ => req.queue.as_str(),
        };
        conn.prepare_cached(
            "INSERT INTO poll_data (queue_name, domain, worker_id, last_poll_time)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (queue_name, domain) DO UPDATE SET worker_id = excluded.worker_id,
                 last_poll_time = excluded.last_poll_time",
        )?
        .execute(params![
            task_type,
            req.domain.as_deref().unwrap_or(""),
            req.worker_id.as_deref().unwrap_or(""),
            now
        ])?;
        if !req.registered {
            trim_unregistered_poll_data(ctx)?;
        }
    }

    if req.limits.rate_limit.is_some_and(|(per, _)| per > 0) {
        for _ in &claimed {
            conn.prepare_cached(
                "INSERT INTO task_handouts (task_def_name, handed_out_at) VALUES (?1, ?2)",
            )?
            .execute(params![req.limits.task_def_name, now])?;
        }
    }

    let next_visible_at = if claimed.is_empty() {
        next_visible_at(conn, &req.queue)?
    } else {
        None
    };
    Ok(PollOutcome {
        tasks: claimed,
        next_visible_at,
        wake_by,
    })
}

/// What a poll of a mixed queue may still hand out of one definition's tasks.
struct DefBudget {
    name: String,
    left: usize,
    retry_at: Option<Millis>,
    rated: bool,
}

/// The definition of a queued task and its limits, if `by_def` limits it.
fn limited_def<'a>(
    conn: &Connection,
    task_id: &str,
    by_def: &'a std::collections::HashMap<String, crate::PollLimits>,
) -> Result<Option<(String, &'a crate::PollLimits)>> {
    let name: Option<String> = conn
        .prepare_cached("SELECT task_def_name FROM tasks WHERE task_id = ?1")?
        .query_row([task_id], |r| r.get(0))
        .optional()?;
    Ok(name.and_then(|n| by_def.get(&n).map(|l| (n, l))))
}

/// How many tasks the definition's limits let this poll hand out now, and, when none, the
/// time worth polling again.
fn allowance(
    conn: &Connection,
    limits: &crate::PollLimits,
    now: Millis,
) -> Result<(usize, Option<Millis>)> {
    let mut allowed = usize::MAX;
    let mut retry_at: Option<Millis> = None;
    if let Some(limit) = limits.concurrent_exec_limit.filter(|l| *l > 0) {
        let running: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM tasks INDEXED BY tasks_in_progress_by_def
                 WHERE task_def_name = ?1 AND status = 'IN_PROGRESS'",
            )?
            .query_row([&limits.task_def_name], |r| r.get(0))?;
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
        conn.prepare_cached(
            "DELETE FROM task_handouts WHERE task_def_name = ?1 AND handed_out_at <= ?2",
        )?
        .execute(params![limits.task_def_name, since])?;
        let (recent, oldest): (i64, Option<Millis>) = conn
            .prepare_cached(
                "SELECT COUNT(*), MIN(handed_out_at) FROM task_handouts WHERE task_def_name = ?1",
            )?
            .query_row([&limits.task_def_name], |r| Ok((r.get(0)?, r.get(1)?)))?;
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

pub(crate) fn next_visible_at(conn: &Connection, queue: &str) -> Result<Option<Millis>> {
    Ok(conn
        .prepare_cached("SELECT MIN(visible_at) FROM queue WHERE queue_name = ?1")?
        .query_row([queue], |r| r.get(0))?)
}

/// Claims one task whose queue entry was just removed, by the engine's rules
/// (`req.claim`), and persists the claim. `None` if the task is gone or the rules refuse it
/// (no longer SCHEDULED: a stale entry).
///
/// The workflow row is not touched, so pollers never queue behind a workflow's commits: the
/// task row's poll count guards commits from copies that have not seen this claim
/// (`write::put_task`), and its `lease_until` keeps the workflow's wake-up no later than the
/// lease's end until a commit that saw the claim rewrites the task.
fn claim(conn: &Connection, task_id: &str, req: &PollRequest) -> Result<Option<(Task, Lease)>> {
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT workflow_id, json FROM tasks WHERE task_id = ?1")?
        .query_row([task_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((workflow_id, json)) = row else {
        return Ok(None);
    };
    let mut task: Task = from_json(&json, &format!("task {task_id}"))?;
    let terms = ClaimTerms {
        worker_id: req.worker_id.as_deref(),
        now: req.now,
    };
    let Some(lease) = (req.claim)(&mut task, &terms) else {
        return Ok(None);
    };
    conn.prepare_cached(
        "UPDATE tasks SET status = ?2, json = ?3, poll_count = ?4, lease_until = ?5,
             start_time = ?6, end_time = ?7
         WHERE task_id = ?1",
    )?
    .execute(params![
        task_id,
        task.status.as_str(),
        to_json(&task)?,
        task.poll_count,
        lease.wake_workflow_by,
        task.start_time,
        task.end_time
    ])?;
    if let Some(due) = lease.wake_workflow_by {
        wake_by(conn, &workflow_id, due)?;
    }
    append_history(conn, &HistoryEvent::task(&task, req.now))?;
    Ok(Some((task, lease)))
}

/// The queue entries of one workflow's tasks, in claim order (`baton migrate` copies them).
pub(crate) fn queue_entries(
    conn: &Connection,
    workflow_id: &str,
) -> Result<Vec<baton_model::QueueEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT q.queue_name, q.task_id, q.workflow_id, q.priority, q.visible_at
         FROM queue q JOIN tasks t ON t.task_id = q.task_id
         WHERE t.workflow_id = ?1
         ORDER BY q.priority DESC, q.visible_at, q.task_id",
    )?;
    let rows = stmt.query_map([workflow_id], |r| {
        Ok(baton_model::QueueEntry {
            queue: r.get(0)?,
            task_id: r.get(1)?,
            workflow_id: r.get(2)?,
            priority: r.get(3)?,
            visible_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Ended executions by end time (retention); see `Store::finished_before`.
pub(crate) fn finished_before(
    conn: &Connection,
    end_before: Millis,
    limit: usize,
) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT workflow_id FROM workflows WHERE status IN ('COMPLETED', 'FAILED', 'TIMED_OUT', 'TERMINATED') AND end_time < ?1 ORDER BY end_time, workflow_id LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![end_before, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| r.get(0),
    )?;
    Ok(rows.collect::<Result<Vec<String>, _>>()?)
}
