//! Durable follow-ups: what one workflow's commit requires of other workflows.
//!
//! A decision can require work on *other* workflows: a failed workflow's failure workflow
//! must start, and the running children of a workflow that ended must end too. Each such
//! [`Effect`] is stored as a [`FollowUp`] row in the same commit as its cause (see
//! [`Runtime::commit_states`]), and deleted in the commit that carries it out. So:
//!
//! - nothing is dropped: a parent with 300 running children gets all 300 terminated, each
//!   child's own children in turn, however deep, in bounded steps;
//! - a crash between the cause and its follow-up only delays it: the follow-up loop finds it
//!   on the next start (or on another node);
//! - carrying one out twice is harmless (terminating a terminal workflow changes nothing; a
//!   failure workflow is started under an id fixed by its cause, so a second start finds it).
//!
//! The operation that caused follow-ups carries out up to [`INLINE_BUDGET`] of them before it
//! answers (so a terminated parent's children are usually terminated by the time the API
//! answers); the rest are left to the follow-up loop, which works in batches of [`BATCH`].

use crate::error::{Error, Result};
use crate::runtime::{Mutation, Runtime};
use baton_engine::{self as engine, Effect};
use baton_model::{StartWorkflowRequest, Workflow};
use baton_store::{FollowUp, StoreError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most follow-ups an API operation carries out before answering (the rest go to the loop).
pub(crate) const INLINE_BUDGET: usize = 64;
/// Follow-ups the loop reads and carries out per round.
const BATCH: usize = 64;
/// How often the loop looks for follow-ups left by a crash or by another node.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The stored form of an effect.
pub(crate) fn to_follow_up(workflow_id: &str, effect: &Effect, now: i64) -> Result<FollowUp> {
    let payload = serde_json::to_value(effect)
        .map_err(|e| Error::Store(StoreError::Corrupt(format!("follow-up: {e}"))))?;
    Ok(FollowUp {
        id: uuid::Uuid::now_v7().to_string(),
        workflow_id: workflow_id.to_string(),
        payload,
        created_at: now,
    })
}

impl Runtime {
    /// Carries out follow-ups and the follow-ups they leave in turn (a worklist), up to
    /// [`INLINE_BUDGET`]; what is left stays stored and the follow-up loop is woken for it.
    pub(crate) async fn drain(&self, mut pending: Vec<FollowUp>) {
        let mut budget = INLINE_BUDGET;
        while !pending.is_empty() {
            if budget == 0 {
                self.follow_ups_nudge.notify_one();
                return;
            }
            budget -= 1;
            let follow_up = pending.remove(0);
            match self.carry_out(&follow_up).await {
                Ok(more) => pending.extend(more),
                Err(e) => {
                    // Still stored: the loop tries again.
                    tracing::warn!(follow_up = %follow_up.id, error = %e, "follow-up failed; will retry");
                    self.follow_ups_nudge.notify_one();
                }
            }
        }
    }

    /// Carries out stored follow-ups until cancelled: at start (left by a crash), when an
    /// operation left more than its budget, and every second (left by other nodes).
    pub async fn run_follow_ups(self: Arc<Self>, cancel: CancellationToken) {
        loop {
            let mut retry_soon = false;
            loop {
                if cancel.is_cancelled() {
                    return;
                }
                let batch = match self.store().pending_follow_ups(BATCH).await {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not list follow-ups");
                        retry_soon = true;
                        break;
                    }
                };
                let full = batch.len() == BATCH;
                let mut failed = 0;
                for follow_up in &batch {
                    // Only this follow-up, not its successors: they are stored and come
                    // in the next batch, so one round stays bounded.
                    if let Err(e) = self.carry_out(follow_up).await {
                        tracing::warn!(follow_up = %follow_up.id, error = %e, "follow-up failed; will retry");
                        failed += 1;
                    }
                }
                if failed > 0 {
                    retry_soon = true;
                }
                if !full || failed == batch.len() {
                    break;
                }
            }
            let wait = if retry_soon {
                Duration::from_secs(5)
            } else {
                IDLE_CHECK
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.follow_ups_nudge.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Carries out one follow-up and deletes it in the same commit; returns the follow-ups
    /// that commit left. An error leaves it stored (it is retried); a follow-up that can
    /// never succeed (an unknown failure workflow) is logged and deleted.
    async fn carry_out(&self, follow_up: &FollowUp) -> Result<Vec<FollowUp>> {
        let done = vec![follow_up.id.clone()];
        let effect: Effect = match serde_json::from_value(follow_up.payload.clone()) {
            Ok(effect) => effect,
            Err(e) => {
                tracing::error!(follow_up = %follow_up.id, error = %e, "unreadable follow-up; dropped");
                self.forget_follow_up(done).await?;
                return Ok(Vec::new());
            }
        };
        match effect {
            Effect::TerminateWorkflow {
                workflow_id,
                reason,
            } => {
                let outcome = self
                    .mutate_raw(&workflow_id, done.clone(), |st| {
                        if st.workflow.status.is_terminal() {
                            return Ok(Mutation::Unchanged(()));
                        }
                        engine::terminate_workflow(st, Some(reason.clone()), false);
                        Ok(Mutation::Changed((), Vec::new()))
                    })
                    .await;
                match outcome {
                    Ok(((), more)) => Ok(more),
                    Err(Error::NotFound(_)) => {
                        // The child was removed meanwhile: nothing left to end.
                        self.forget_follow_up(done).await?;
                        Ok(Vec::new())
                    }
                    Err(e) => Err(e),
                }
            }
            Effect::StartFailureWorkflow {
                workflow_id,
                name,
                version,
                input,
                correlation_id,
                task_to_domain,
            } => {
                let depth = self.workflow_depth(&follow_up.workflow_id).await?;
                let limit = self.config().max_workflow_depth;
                if depth >= limit {
                    tracing::warn!(
                        failed = %follow_up.workflow_id, failure_workflow = %name, limit,
                        "failure workflow not started: the chain of failure workflows reached \
                         the workflow depth limit (--max-workflow-depth)"
                    );
                    self.forget_follow_up(done).await?;
                    return Ok(Vec::new());
                }
                let req = StartWorkflowRequest {
                    name: name.clone(),
                    version,
                    input,
                    correlation_id,
                    task_to_domain,
                    ..StartWorkflowRequest::default()
                };
                match self
                    .start_with_id(req, workflow_id, None, None, done.clone())
                    .await
                {
                    Ok((_, more)) => Ok(more),
                    Err(Error::Store(StoreError::AlreadyExists(_))) => {
                        // Started before (by this follow-up, on another node or before a crash).
                        self.forget_follow_up(done).await?;
                        Ok(Vec::new())
                    }
                    Err(e @ (Error::NotFound(_) | Error::Invalid(_) | Error::Validation(_))) => {
                        tracing::warn!(workflow = %name, error = %e, "could not start failure workflow");
                        self.forget_follow_up(done).await?;
                        Ok(Vec::new())
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    async fn forget_follow_up(&self, done: Vec<String>) -> Result<()> {
        self.commit_states(Vec::new(), Vec::new(), done).await?;
        Ok(())
    }

    /// How many workflows started this one, following parents (sub-workflows) and failure
    /// causes (failure workflows); reads at most [`RuntimeConfig::max_workflow_depth`] + 1
    /// status rows (and the input of a workflow without a parent, which names a failure
    /// workflow's cause). A workflow that no longer exists counts as the end of the chain.
    /// Remembered: a parent's depth is read for each child it starts, and never changes.
    ///
    /// [`RuntimeConfig::max_workflow_depth`]: crate::RuntimeConfig::max_workflow_depth
    pub(crate) async fn workflow_depth(&self, workflow_id: &str) -> Result<usize> {
        if let Some(depth) = self.remembered_depth(workflow_id) {
            return Ok(depth);
        }
        let limit = self.config().max_workflow_depth;
        let mut current = workflow_id.to_string();
        let mut depth = 0;
        while depth <= limit {
            let Some(next) = self.started_by(&current).await? else {
                break;
            };
            depth += 1;
            current = next;
        }
        self.remember_depth(workflow_id, depth);
        Ok(depth)
    }

    /// The workflow that started this one, if any (see [`started_by`]); the status row
    /// names a parent, and only a workflow without one has its input read.
    async fn started_by(&self, workflow_id: &str) -> Result<Option<String>> {
        let Some(w) = self.store().get_workflow_status(workflow_id).await? else {
            return Ok(None);
        };
        if w.parent_workflow_id
            .as_deref()
            .is_some_and(|p| !p.is_empty())
        {
            return Ok(started_by(&w));
        }
        Ok(self
            .store()
            .get_workflow(workflow_id)
            .await?
            .and_then(|w| started_by(&w)))
    }
}

/// The workflow that started this one: its parent, or, for a failure workflow, the
/// workflow whose failure started it (its input names that workflow twice: `workflowId`
/// and `failedWorkflow.workflowId`).
fn started_by(w: &Workflow) -> Option<String> {
    if let Some(parent) = w.parent_workflow_id.as_deref().filter(|p| !p.is_empty()) {
        return Some(parent.to_string());
    }
    let cause = w.input.get("workflowId")?.as_str()?;
    let failed = w.input.get("failedWorkflow")?;
    (failed.get("workflowId").and_then(Value::as_str) == Some(cause)).then(|| cause.to_string())
}
