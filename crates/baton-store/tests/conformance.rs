//! The store conformance suite: every `Store` method against a real database.
//!
//! The suite (module `suite`) is written against `Arc<dyn Store>` so that every backend runs
//! the same checks; each backend adds a module of entry points that hand it a fresh store.
//! The SQLite entry points give each test its own file under the system temp directory; the
//! PostgreSQL ones their own database (see `support/pg.rs`).

use baton_store::Store;
use std::sync::Arc;

#[path = "support/pg.rs"]
mod pg;

#[path = "conformance/by_tasks.rs"]
mod by_tasks;
#[path = "conformance/capped_counts.rs"]
mod capped_counts;
#[path = "conformance/classifier.rs"]
mod classifier;
#[path = "conformance/classifier_pages.rs"]
mod classifier_pages;
#[path = "conformance/def_limits.rs"]
mod def_limits;
#[path = "conformance/definitions.rs"]
mod definitions;
#[path = "conformance/durability.rs"]
mod durability;
#[path = "conformance/events.rs"]
mod events;
#[path = "conformance/executions.rs"]
mod executions;
#[path = "conformance/export.rs"]
mod export;
#[path = "conformance/free_text_pages.rs"]
mod free_text_pages;
#[path = "conformance/history.rs"]
mod history;
#[path = "conformance/punctuation.rs"]
mod punctuation;
#[path = "conformance/queues.rs"]
mod queues;
#[path = "conformance/search.rs"]
mod search;
#[path = "conformance/task_free_text.rs"]
mod task_free_text;
#[path = "conformance/task_search.rs"]
mod task_search;
#[path = "conformance/task_updates.rs"]
mod task_updates;
#[path = "conformance/timers.rs"]
mod timers;

pub mod suite {
    pub use super::by_tasks::search_workflows_by_tasks;
    pub use super::capped_counts::capped_totals_and_pages_past_the_cap;
    pub use super::classifier::search_by_classifier;
    pub use super::classifier_pages::plain_workflow_pages_in_order;
    pub use super::def_limits::poll_limits_by_definition;
    pub use super::definitions::*;
    pub use super::durability::*;
    pub use super::events::*;
    pub use super::executions::*;
    pub use super::export::*;
    pub use super::free_text_pages::{
        a_workflow_input_is_kept_replaced_and_removed, free_text_pages_follow_their_workflows,
        free_text_pages_in_order,
    };
    pub use super::history::*;
    pub use super::punctuation::free_text_keeps_punctuation;
    pub use super::queues::*;
    pub use super::search::*;
    pub use super::task_free_text::{
        task_free_text_across_index_batches, task_free_text_matches_the_search_document,
        task_free_text_reads_the_start_of_long_input_and_output,
    };
    pub use super::task_search::*;
    pub use super::task_updates::task_updates_move_their_search_keys;
    pub use super::timers::*;
    use super::*;
    use baton_model::{
        HistoryEvent, QueueEntry, Task, TaskDef, TaskStatus, Workflow, WorkflowDef, WorkflowStatus,
    };
    use baton_store::{Commit, FollowUp, PollRequest, TaskWrite, WorkflowWrite};

    pub const NOW: i64 = 1_700_000_000_000;

    // ----- fixtures -----

    pub fn def(name: &str, version: i32) -> WorkflowDef {
        serde_json::from_value(serde_json::json!({
            "name": name,
            "version": version,
            "tasks": [
                {"name": "a", "taskReferenceName": "a_ref", "type": "SIMPLE"},
                {"name": "b", "taskReferenceName": "b_ref", "type": "SIMPLE"}
            ]
        }))
        .unwrap()
    }

    pub fn workflow(id: &str, name: &str) -> Workflow {
        Workflow {
            workflow_id: id.to_string(),
            workflow_name: name.to_string(),
            workflow_version: 1,
            status: WorkflowStatus::Running,
            start_time: NOW,
            create_time: NOW,
            update_time: NOW,
            ..Default::default()
        }
    }

    pub fn task(workflow_id: &str, task_id: &str, seq: i32, task_type: &str) -> Task {
        Task {
            task_id: task_id.to_string(),
            workflow_instance_id: workflow_id.to_string(),
            task_type: task_type.to_string(),
            task_def_name: task_type.to_string(),
            reference_task_name: format!("{task_type}_ref"),
            seq,
            status: TaskStatus::Scheduled,
            scheduled_time: NOW - 100,
            response_timeout_seconds: 30,
            workflow_task: Some(Box::new(baton_model::WorkflowTask::new(
                task_type,
                &format!("{task_type}_ref"),
                "SIMPLE",
            ))),
            task_definition: Some(Box::new(TaskDef::named(task_type))),
            ..Default::default()
        }
    }

    pub fn entry(t: &Task, priority: i32, visible_at: i64) -> QueueEntry {
        QueueEntry {
            queue: t.queue_name(),
            task_id: t.task_id.clone(),
            workflow_id: t.workflow_instance_id.clone(),
            priority,
            visible_at,
        }
    }

    /// The writes of `tasks`, as the runtime makes them (default search-document bound).
    pub fn writes(tasks: Vec<Task>) -> Vec<TaskWrite> {
        tasks
            .iter()
            .map(|t| TaskWrite::of(t, &t.workflow_instance_id).unwrap())
            .collect()
    }

    /// A new workflow whose tasks are all queued, visible now.
    pub fn insert(wf: Workflow, def: &Arc<WorkflowDef>, tasks: Vec<Task>) -> WorkflowWrite {
        let queue_push = tasks.iter().map(|t| entry(t, 0, NOW)).collect();
        let history = vec![HistoryEvent::workflow(
            &wf.workflow_id,
            "RUNNING",
            NOW,
            None,
        )];
        WorkflowWrite {
            workflow: wf,
            def: def.clone(),
            expected_version: None,
            tasks: writes(tasks),
            removed_tasks: vec![],
            queue_push,
            queue_remove: vec![],
            history,
            next_wake_at: None,
            keep_input: false,
        }
    }

    /// An update of an existing workflow that changes nothing else.
    pub fn update(wf: Workflow, def: &Arc<WorkflowDef>, version: i64) -> WorkflowWrite {
        WorkflowWrite {
            workflow: wf,
            def: def.clone(),
            expected_version: Some(version),
            tasks: vec![],
            removed_tasks: vec![],
            queue_push: vec![],
            queue_remove: vec![],
            history: vec![],
            next_wake_at: None,
            keep_input: false,
        }
    }

    pub fn one(write: WorkflowWrite) -> Commit {
        Commit {
            workflows: vec![write],
            ..Default::default()
        }
    }

    pub fn follow_up(id: &str, workflow_id: &str) -> FollowUp {
        FollowUp {
            id: id.to_string(),
            workflow_id: workflow_id.to_string(),
            payload: serde_json::json!({"do": id, "nested": {"n": [1, 2]}}),
            created_at: NOW,
        }
    }

    pub fn poll_req(queue: &str, count: usize, worker: &str, now: i64) -> PollRequest {
        PollRequest {
            queue: queue.to_string(),
            count,
            worker_id: Some(worker.to_string()),
            domain: None,
            now,
            limits: Default::default(),
            def_limits: None,
            registered: true,
            claim: baton_engine::claim::claim,
        }
    }

    pub async fn version_of(store: &Arc<dyn Store>, id: &str) -> i64 {
        store.load_workflow(id).await.unwrap().unwrap().version
    }

    pub async fn queue_size(store: &Arc<dyn Store>, queue: &str) -> i64 {
        store
            .queue_sizes()
            .await
            .unwrap()
            .into_iter()
            .find(|(q, _)| q == queue)
            .map(|(_, n)| n)
            .unwrap_or(0)
    }
}

/// Calls `$backend!` with every check of the suite, so that each backend runs the same list.
macro_rules! every_suite_check {
    ($backend:ident) => {
        $backend!(
            capped_totals_and_pages_past_the_cap,
            free_text_pages_in_order,
            free_text_pages_follow_their_workflows,
            a_workflow_input_is_kept_replaced_and_removed,
            search_workflows_by_tasks,
            search_by_classifier,
            plain_workflow_pages_in_order,
            every_page_matches_the_whole_order,
            counted_totals_match_the_rows,
            free_text_matches_the_search_document,
            free_text_keeps_punctuation,
            task_free_text_matches_the_search_document,
            task_free_text_across_index_batches,
            task_free_text_reads_the_start_of_long_input_and_output,
            queue_counts_stay_exact,
            task_defs,
            documents_read_back_exactly,
            poll_limits,
            poll_limits_by_definition,
            search_tasks,
            search_grammar_filters,
            task_updates_move_their_search_keys,
            event_handlers_and_published_events,
            workflow_defs,
            commit_roundtrip,
            version_conflict_changes_nothing,
            reschedule_moves_only_the_wake_up,
            follow_ups_are_stored_and_done_with_commits,
            batch_with_conflict_commits_the_rest,
            poll_claims_in_order,
            poll_with_domain,
            poll_without_response_timeout_keeps_wake,
            commits_from_before_a_claim_cannot_undo_it,
            updates_keep_the_input_unless_they_replace_it,
            keys_secrets_and_deliveries,
            stale_queue_entry_is_dropped,
            concurrent_pollers_claim_each_task_once,
            due_workflows_and_next_wake,
            wake_other_workflow,
            pending_wake_outlives_a_stale_decision,
            history_order_and_remove,
            task_logs,
            search_filters_and_pages,
            queue_entries_of_one_workflow,
            finished_before_lists_ended_executions_by_end_time,
        );
    };
}

#[path = "conformance/postgres.rs"]
mod postgres;
#[path = "conformance/sqlite.rs"]
mod sqlite;
