//! Cron schedules that start workflows: validation, next-run arithmetic, and the loop that
//! fires due runs.
//!
//! # Exactly once per due time, with several nodes
//!
//! Each schedule row stores `next_run_at`, the due time of its next run. Whichever node sees
//! it due fires it in this order:
//!
//! 1. **Start** the workflow under a deterministic id, a name-based UUID of
//!    `schedule:<name>:<due ms>`, with that string as its `idempotencyKey` (strategy
//!    RETURN_EXISTING). Inserting a workflow whose id exists fails atomically in the store, so
//!    when two nodes start the same run, one insert wins and the other gets AlreadyExists,
//!    which it takes as "already started".
//! 2. **Claim**: compare-and-set `next_run_at` from the due time it read to the next one
//!    ([`Store::claim_due_schedule_run`]). The loser of a race changes nothing.
//!
//! Starting before claiming means a crash between the two steps leaves `next_run_at` where it
//! was; the next attempt (on any node) finds the run already started and just claims it. The
//! other order would lose the run on such a crash. A stale rewrite of `next_run_at` (a pause or
//! an update racing with a claim) can at worst make a node retry a run it already started,
//! which the deterministic id turns into a no-op.
//!
//! # Catch-up
//!
//! When a schedule's due time is found in the past by more than one period (the server was
//! down, or paused), its [`CatchupPolicy`] decides:
//! - `ALL`: every missed time starts its own run, oldest first, at most
//!   [`MAX_CATCHUP_PER_TICK`] per schedule per tick (the rest follow on the next ticks);
//! - `ONE` (default): one run for all missed times, with `_scheduledTime` the latest of them;
//! - `NONE`: one run only if the latest missed time is at most [`NONE_GRACE_MS`] old,
//!   otherwise none.
//!
//! After `ONE` and `NONE` the next due time is the first one after now. Each run's input is the
//! schedule's `startWorkflowRequest.input` plus `_scheduledTime` (the due time it stands for)
//! and `_executionTime` (when it was started), both epoch ms, as in Orkes.
//!
//! A resumed schedule does not catch up the times it was paused through: resuming sets its
//! next run to the first due time after the resume.

use crate::cron_time::times_after;
pub use crate::cron_time::{next_run_times, parse_cron, parse_zone, ScheduleZone};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use baton_model::{IdempotencyStrategy, StartWorkflowRequest};
use baton_store::{CatchupPolicy, Millis, StoreError, WorkflowSchedule};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// At most this many missed runs of one schedule are started per tick under `ALL`.
pub const MAX_CATCHUP_PER_TICK: usize = 100;
/// Under `NONE`, a run is still started if its due time is at most this late.
pub const NONE_GRACE_MS: Millis = 60_000;
/// Due schedules read per tick.
const DUE_BATCH: usize = 64;
/// A schedule whose run could not be started for a store error is retried after this long.
const ERROR_BACKOFF_MS: Millis = 5_000;

/// A schedule's parsed cron and zone.
struct Parsed {
    cron: crate::cron_time::CronSchedule,
    zone: ScheduleZone,
}

impl Parsed {
    fn of(s: &WorkflowSchedule) -> std::result::Result<Parsed, String> {
        Ok(Parsed {
            cron: parse_cron(&s.cron_expression)?,
            zone: parse_zone(&s.zone_id)?,
        })
    }

    fn next_after(&self, s: &WorkflowSchedule, after: Millis) -> Option<Millis> {
        next_run_times(
            &self.cron,
            self.zone,
            after,
            s.schedule_start_time,
            s.schedule_end_time,
            1,
        )
        .first()
        .copied()
    }

    /// The latest due time in `[due, now]` (`due` itself if there is no later one).
    fn latest_due(&self, s: &WorkflowSchedule, due: Millis, now: Millis) -> Millis {
        const WINDOW: Millis = 3_600_000;
        const MAX_STEPS: usize = 100_000;
        let in_range = |t: &Millis| *t <= now && s.schedule_end_time.is_none_or(|e| *t <= e);
        // Frequent schedules missed for long: look at the last hour first.
        if now - due > WINDOW {
            let recent = times_after(&self.cron, self.zone, now - WINDOW)
                .take_while(in_range)
                .take(MAX_STEPS)
                .last();
            if let Some(t) = recent {
                return t;
            }
        }
        times_after(&self.cron, self.zone, due)
            .take_while(in_range)
            .take(MAX_STEPS)
            .last()
            .unwrap_or(due)
    }
}

fn store_error(e: StoreError, name: &str) -> Error {
    match e {
        StoreError::NotFound(_) => Error::NotFound(format!("schedule '{name}' not found")),
        other => Error::Store(other),
    }
}

// ------------------------------------------------------------------ operations

impl Runtime {
    /// Creates or replaces a schedule after checking it (each error names its field) and
    /// computes its next run. Answers the schedule as stored.
    pub async fn save_schedule(&self, mut s: WorkflowSchedule) -> Result<WorkflowSchedule> {
        s.name = s.name.trim().to_string();
        if s.name.is_empty() {
            return Err(Error::Invalid("name: a schedule needs a name".into()));
        }
        if s.name.contains('/') || s.name.chars().any(char::is_control) {
            return Err(Error::Invalid(format!(
                "name: '{}' may not contain '/' or control characters",
                s.name
            )));
        }
        if s.zone_id.trim().is_empty() {
            s.zone_id = "UTC".into();
        }
        let parsed = Parsed::of(&s).map_err(Error::Invalid)?;
        for (field, t) in [
            ("scheduleStartTime", s.schedule_start_time),
            ("scheduleEndTime", s.schedule_end_time),
        ] {
            if let Some(t) = t {
                baton_model::duration::check_non_negative(field, t).map_err(Error::Invalid)?;
            }
        }
        if let (Some(start), Some(end)) = (s.schedule_start_time, s.schedule_end_time) {
            if end < start {
                return Err(Error::Invalid(format!(
                    "scheduleEndTime: {end} is before scheduleStartTime {start}"
                )));
            }
        }
        let req = &s.start_workflow_request;
        if req.workflow_def.is_none() {
            if req.name.trim().is_empty() {
                return Err(Error::Invalid(
                    "startWorkflowRequest.name: the workflow to start is missing".into(),
                ));
            }
            if let Err(Error::NotFound(m)) = self.get_workflow_def(&req.name, req.version).await {
                return Err(Error::NotFound(format!("startWorkflowRequest.name: {m}")));
            }
        }
        let policy = s.effective_catchup();
        s.catchup_policy = Some(policy);
        s.run_catchup_schedule_instances = policy == CatchupPolicy::All;
        let now = self.now();
        let existing = self.store().get_schedule(&s.name).await?;
        s.create_time = existing.map_or(now, |e| e.create_time);
        s.updated_time = now;
        s.next_run_time = parsed.next_after(&s, now);
        self.store().put_schedule(s.clone()).await?;
        Ok(s)
    }

    pub async fn get_schedule(&self, name: &str) -> Result<WorkflowSchedule> {
        self.store()
            .get_schedule(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("schedule '{name}' not found")))
    }

    /// Every schedule, or those that start `workflow_name`.
    pub async fn list_schedules(
        &self,
        workflow_name: Option<&str>,
    ) -> Result<Vec<WorkflowSchedule>> {
        let mut all = self.store().list_schedules().await?;
        if let Some(w) = workflow_name {
            all.retain(|s| s.start_workflow_request.name == w);
        }
        Ok(all)
    }

    pub async fn delete_schedule(&self, name: &str) -> Result<()> {
        self.store()
            .delete_schedule(name)
            .await
            .map_err(|e| store_error(e, name))
    }

    /// Pauses a schedule, recording why (`reason`, shown as `pausedReason`).
    pub async fn pause_schedule(&self, name: &str, reason: Option<String>) -> Result<()> {
        let mut s = self.get_schedule(name).await?;
        if !s.paused || (reason.is_some() && s.paused_reason != reason) {
            s.paused = true;
            if reason.is_some() {
                s.paused_reason = reason;
            }
            s.updated_time = self.now();
            self.store().put_schedule(s).await?;
        }
        Ok(())
    }

    /// Unpauses a schedule; its next run is the first due time from now (times it was paused
    /// through are not caught up).
    pub async fn resume_schedule(&self, name: &str) -> Result<()> {
        let mut s = self.get_schedule(name).await?;
        if s.paused {
            let parsed = Parsed::of(&s).map_err(Error::Invalid)?;
            let now = self.now();
            s.paused = false;
            s.paused_reason = None;
            s.updated_time = now;
            s.next_run_time = parsed.next_after(&s, now);
            self.store().put_schedule(s).await?;
        }
        Ok(())
    }

    /// Workflows started by schedules (all, or those of `schedule_names`), optionally only
    /// of `workflow_names`, newest first: one page with the total, each with its schedule.
    pub async fn schedule_executions(
        &self,
        schedule_names: &[String],
        workflow_names: &[String],
        start: usize,
        size: usize,
    ) -> Result<(i64, Vec<(String, baton_model::Workflow)>)> {
        let prefixes = if schedule_names.is_empty() {
            vec!["schedule:".to_string()]
        } else {
            schedule_names
                .iter()
                .map(|n| format!("schedule:{n}:"))
                .collect()
        };
        let query = baton_store::WorkflowQuery {
            idempotency_key_prefixes: prefixes,
            workflow_types: workflow_names.to_vec(),
            offset: start,
            limit: size,
            ..baton_store::WorkflowQuery::default()
        };
        let (total, found) = self.store().search_workflows(&query).await?;
        let out = found
            .into_iter()
            .map(|w| {
                // `schedule:<name>:<time>`; a name may itself hold ':'.
                let name = w
                    .idempotency_key
                    .as_deref()
                    .and_then(|k| k.strip_prefix("schedule:"))
                    .and_then(|k| k.rsplit_once(':'))
                    .map(|(n, _)| n.to_string())
                    .unwrap_or_default();
                (name, w)
            })
            .collect();
        Ok((total, out))
    }

    /// The next `limit` due times of a cron expression from `start` (default now) up to `end`.
    pub fn next_schedule_times(
        &self,
        cron_expression: &str,
        zone_id: Option<&str>,
        start: Option<Millis>,
        end: Option<Millis>,
        limit: usize,
    ) -> Result<Vec<Millis>> {
        let cron = parse_cron(cron_expression).map_err(Error::Invalid)?;
        let zone = parse_zone(zone_id.unwrap_or("UTC")).map_err(Error::Invalid)?;
        let after = start.map_or_else(|| self.now(), |s| s.saturating_sub(1));
        Ok(next_run_times(&cron, zone, after, None, end, limit))
    }

    // ------------------------------------------------------------------ the loop

    /// Fires due schedules until cancelled, then sleeps until the next due time (at most a
    /// second, so schedules written by other nodes are seen).
    pub async fn run_scheduler(self: Arc<Self>, cancel: CancellationToken) {
        let mut backoff: HashMap<String, Millis> = HashMap::new();
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let now = self.now();
            backoff.retain(|_, until| *until > now);
            let progressed = self.scheduler_tick(now, &mut backoff).await;
            let now = self.now();
            let next = match self.store().next_schedule_run_at().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler could not read the next due time");
                    None
                }
            };
            let mut sleep_ms = next.map_or(1000, |t| (t - now).clamp(0, 1000));
            if sleep_ms == 0 && progressed > 0 {
                continue;
            }
            if progressed == 0 {
                // What is due is backed off, or was just claimed by another node.
                sleep_ms = sleep_ms.max(if backoff.is_empty() { 10 } else { 500 });
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
            }
        }
    }

    /// Fires every schedule due by the runtime's clock, once, and answers how many it
    /// handled. The scheduler loop does this on its own; tests that move a manual clock call
    /// it to fire what became due and then assert on the runs (or their absence).
    pub async fn fire_due_schedules(&self) -> usize {
        self.scheduler_tick(self.now(), &mut HashMap::new()).await
    }

    /// One pass over the due schedules; answers how many were handled.
    async fn scheduler_tick(&self, now: Millis, backoff: &mut HashMap<String, Millis>) -> usize {
        let due = match self
            .store()
            .due_schedules(now, DUE_BATCH + backoff.len())
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler could not list due schedules");
                return 0;
            }
        };
        let mut handled = 0;
        for s in due {
            if backoff.contains_key(&s.name) {
                continue;
            }
            match self.fire_schedule(&s, now).await {
                Ok(()) => handled += 1,
                Err(e) => {
                    tracing::warn!(schedule = %s.name, error = %e, "could not fire schedule; retrying later");
                    backoff.insert(s.name.clone(), self.now() + ERROR_BACKOFF_MS);
                }
            }
        }
        handled
    }

    /// Fires the due run(s) of one schedule per its catch-up policy and claims them.
    async fn fire_schedule(&self, s: &WorkflowSchedule, now: Millis) -> Result<()> {
        let Some(due) = s.next_run_time else {
            return Ok(());
        };
        let parsed = match Parsed::of(s) {
            Ok(p) => p,
            Err(e) => {
                // Only possible for a row written by another build; stop it rather than spin.
                tracing::warn!(schedule = %s.name, error = %e, "schedule disabled: it no longer parses");
                self.store()
                    .claim_due_schedule_run(&s.name, due, None)
                    .await?;
                return Ok(());
            }
        };
        match s.effective_catchup() {
            CatchupPolicy::All => {
                let mut at = due;
                for _ in 0..MAX_CATCHUP_PER_TICK {
                    self.start_scheduled_run(s, at, at).await?;
                    let next = parsed.next_after(s, at);
                    if !self
                        .store()
                        .claim_due_schedule_run(&s.name, at, next)
                        .await?
                    {
                        break; // another node is on it
                    }
                    match next {
                        Some(n) if n <= now => at = n,
                        _ => break,
                    }
                }
            }
            policy @ (CatchupPolicy::One | CatchupPolicy::None) => {
                let latest = parsed.latest_due(s, due, now);
                if policy == CatchupPolicy::One || now - latest <= NONE_GRACE_MS {
                    self.start_scheduled_run(s, due, latest).await?;
                } else {
                    tracing::info!(schedule = %s.name, missed_since = due, "skipping missed runs (catchupPolicy NONE)");
                }
                let next = parsed.next_after(s, now.max(latest));
                self.store()
                    .claim_due_schedule_run(&s.name, due, next)
                    .await?;
            }
        }
        Ok(())
    }

    /// Starts the run claimed by the due time `key` (the stored `next_run_at`), standing for
    /// the due time `scheduled`. Idempotent: a second call for the same key starts nothing.
    /// Store failures are returned (the run is retried later); a run that cannot start for
    /// any other reason (its workflow definition was deleted, …) is logged and skipped.
    async fn start_scheduled_run(
        &self,
        s: &WorkflowSchedule,
        key: Millis,
        scheduled: Millis,
    ) -> Result<()> {
        let mut req: StartWorkflowRequest = s.start_workflow_request.clone();
        req.input.insert("_scheduledTime".into(), json!(scheduled));
        req.input.insert("_executionTime".into(), json!(self.now()));
        let idempotency_key = format!("schedule:{}:{key}", s.name);
        let id = uuid::Uuid::new_v3(&uuid::Uuid::NAMESPACE_OID, idempotency_key.as_bytes());
        req.idempotency_key = Some(idempotency_key);
        req.idempotency_strategy = Some(IdempotencyStrategy::ReturnExisting);
        match self.start_workflow_with_id(req, id.to_string()).await {
            Ok(id) => {
                tracing::info!(schedule = %s.name, workflow = %id, scheduled, "schedule started a workflow");
                Ok(())
            }
            Err(Error::Store(StoreError::AlreadyExists(_))) => Ok(()),
            Err(Error::Store(e)) => Err(Error::Store(e)),
            Err(e) => {
                tracing::warn!(schedule = %s.name, scheduled, error = %e, "scheduled run skipped: the workflow could not be started");
                Ok(())
            }
        }
    }
}
