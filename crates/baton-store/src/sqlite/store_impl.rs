//! [`Store`] for [`SqliteStore`]: each operation handed to the writer thread (mutations) or a
//! reader connection (reads), as the module documentation of `sqlite` describes.

use super::*;
#[async_trait]
impl Store for SqliteStore {
    fn task_text_bytes(&self) -> usize {
        self.inner.task_text_bytes
    }

    async fn put_task_defs(&self, defs: Vec<TaskDef>) -> Result<()> {
        let now = self.inner.clock.now_ms();
        self.write(move |w| write_defs::put_task_defs(&w.conn, defs, now))
            .await
    }

    async fn update_task_def(&self, def: TaskDef) -> Result<()> {
        let now = self.inner.clock.now_ms();
        self.write(move |w| write_defs::update_task_def(&w.conn, def, now))
            .await
    }

    async fn get_task_def(&self, name: &str) -> Result<Option<TaskDef>> {
        let name = name.to_string();
        self.read(move |c, _| read::get_task_def(c, &name)).await
    }

    async fn list_task_defs(&self) -> Result<Vec<TaskDef>> {
        self.read(|c, _| read::list_task_defs(c)).await
    }

    async fn delete_task_def(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |w| write_defs::delete_task_def(&w.conn, &name))
            .await
    }

    async fn put_workflow_def(&self, def: WorkflowDef, overwrite: bool) -> Result<()> {
        let now = self.inner.clock.now_ms();
        self.write(move |w| write_defs::put_workflow_def(&w.conn, def, overwrite, now))
            .await
    }

    async fn get_workflow_def(
        &self,
        name: &str,
        version: Option<i32>,
    ) -> Result<Option<WorkflowDef>> {
        let name = name.to_string();
        self.read(move |c, _| read::get_workflow_def(c, &name, version))
            .await
    }

    async fn list_workflow_defs(&self) -> Result<Vec<WorkflowDef>> {
        self.read(|c, _| read::list_workflow_defs(c)).await
    }

    async fn delete_workflow_def(&self, name: &str, version: i32) -> Result<()> {
        let name = name.to_string();
        self.write(move |w| write_defs::delete_workflow_def(&w.conn, &name, version))
            .await
    }

    async fn load_workflow(&self, workflow_id: &str) -> Result<Option<WorkflowState>> {
        let id = workflow_id.to_string();
        self.read(move |c, defs| read::load_workflow(c, defs, &id))
            .await
    }

    /// The row without tasks; `workflow_definition` is attached (from the snapshot cache).
    async fn get_workflow(&self, workflow_id: &str) -> Result<Option<Workflow>> {
        let id = workflow_id.to_string();
        self.read(move |c, defs| read::get_workflow(c, defs, &id))
            .await
    }

    async fn get_workflow_status(&self, workflow_id: &str) -> Result<Option<Workflow>> {
        let id = workflow_id.to_string();
        self.read(move |c, _| read::get_workflow_status(c, &id))
            .await
    }

    async fn get_task(&self, task_id: &str) -> Result<Option<Task>> {
        let id = task_id.to_string();
        self.read(move |c, _| read::get_task(c, &id)).await
    }

    async fn commit(&self, commit: Commit) -> Result<()> {
        // `commit` checks every version before its first write, unless a workflow appears
        // twice (the second check would read the row before the first write).
        let mut ids: Vec<&str> = commit
            .workflows
            .iter()
            .map(|w| w.workflow.workflow_id.as_str())
            .collect();
        ids.sort_unstable();
        let unique = ids.windows(2).all(|p| p[0] != p[1]);
        drop(ids);
        self.write_job(move |w| write::commit(w, commit), !unique)
            .await
    }

    async fn pending_follow_ups(&self, limit: usize) -> Result<Vec<crate::FollowUp>> {
        self.read(move |c, _| read::pending_follow_ups(c, limit))
            .await
    }

    async fn remove_workflow(&self, workflow_id: &str) -> Result<()> {
        let id = workflow_id.to_string();
        self.write(move |w| write::remove_workflow(&w.conn, &id))
            .await
    }

    /// Results carry no tasks and no definition. `limit: 0` means no limit.
    async fn search_workflows(&self, query: &WorkflowQuery) -> Result<(i64, Vec<Workflow>)> {
        let query = query.clone();
        self.read(move |c, _| search::search_workflows(c, &query))
            .await
    }

    async fn search_tasks(&self, query: &crate::TaskQuery) -> Result<(i64, Vec<Task>)> {
        let query = query.clone();
        self.read(move |c, _| search::search_tasks(c, &query)).await
    }

    async fn search_task_workflow_ids(&self, query: &crate::TaskQuery) -> Result<Vec<String>> {
        let query = query.clone();
        self.read(move |c, _| search::search_task_workflow_ids(c, &query))
            .await
    }

    /// One read: the scan, then each workflow of the page, on one connection (the trait's
    /// default would make a round trip through the reader pool per workflow).
    async fn search_workflows_by_tasks(
        &self,
        scan: &crate::TaskQuery,
        start: usize,
        size: usize,
    ) -> Result<(i64, Vec<Workflow>)> {
        let scan = scan.clone();
        self.read(move |c, defs| search::search_workflows_by_tasks(c, defs, &scan, (start, size)))
            .await
    }

    async fn find_by_idempotency_key(&self, name: &str, key: &str) -> Result<Vec<Workflow>> {
        let (name, key) = (name.to_string(), key.to_string());
        self.read(move |c, _| read::find_by_idempotency_key(c, &name, &key))
            .await
    }

    async fn poll(&self, request: PollRequest) -> Result<PollOutcome> {
        let record = self.poll_data_due(&request);
        if request.count == 0 && !record {
            return Ok(PollOutcome::default());
        }
        if !record && !self.inner.hints.may_have_work(&request.queue) {
            // The last poll found the queue drained and nothing was pushed since: look on a
            // reader whether an entry has become visible before bothering the writer.
            let queue = request.queue.clone();
            let next = self
                .read(move |c, _| queue::next_visible_at(c, &queue))
                .await?;
            if next.is_none_or(|t| t > request.now) {
                return Ok(PollOutcome {
                    tasks: Vec::new(),
                    next_visible_at: next,
                    wake_by: None,
                });
            }
        }
        // A poll fails only on an unexpected error (which then abandons the batch).
        self.write_job(move |w| queue::poll(w, &request, record), false)
            .await
    }

    async fn due_workflows(&self, now: Millis, limit: usize) -> Result<Vec<String>> {
        self.read(move |c, _| read::due_workflows(c, now, limit))
            .await
    }

    async fn next_wake_at(&self) -> Result<Option<Millis>> {
        self.read(|c, _| read::next_wake_at(c)).await
    }

    async fn finished_before(&self, end_before: Millis, limit: usize) -> Result<Vec<String>> {
        self.read(move |c, _| queue::finished_before(c, end_before, limit))
            .await
    }

    async fn queue_entries(&self, workflow_id: &str) -> Result<Vec<baton_model::QueueEntry>> {
        let id = workflow_id.to_string();
        self.read(move |c, _| queue::queue_entries(c, &id)).await
    }

    async fn queue_sizes(&self) -> Result<Vec<(String, i64)>> {
        self.read(|c, _| read::queue_sizes(c)).await
    }

    async fn queue_stats(&self, now: Millis) -> Result<Vec<crate::QueueStat>> {
        self.read(move |c, _| read::queue_stats(c, now)).await
    }

    async fn active_workflow_stats(&self) -> Result<Vec<crate::ActiveWorkflows>> {
        self.read(|c, _| read::active_workflow_stats(c)).await
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn put_api_key(&self, key: crate::ApiKey) -> Result<()> {
        self.write(move |w| auth::put_key(&w.conn, &key)).await
    }

    async fn get_api_key(&self, key_id: &str) -> Result<Option<crate::ApiKey>> {
        let id = key_id.to_string();
        self.read(move |c, _| auth::get_key(c, &id)).await
    }

    async fn list_api_keys(&self) -> Result<Vec<crate::ApiKey>> {
        self.read(|c, _| auth::list_keys(c)).await
    }

    async fn revoke_api_key(&self, key_id: &str, at: Millis) -> Result<bool> {
        let id = key_id.to_string();
        self.write(move |w| auth::revoke_key(&w.conn, &id, at))
            .await
    }

    async fn server_secret(&self, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>> {
        let name = name.to_string();
        self.write(move |w| auth::secret(&w.conn, &name, &candidate))
            .await
    }

    async fn webhook_delivery(
        &self,
        hook: &str,
        delivery_id: &str,
    ) -> Result<Option<crate::WebhookDelivery>> {
        let (hook, id) = (hook.to_string(), delivery_id.to_string());
        self.read(move |c, _| auth::get_delivery(c, &hook, &id))
            .await
    }

    async fn record_webhook_delivery(
        &self,
        delivery: crate::WebhookDelivery,
    ) -> Result<Option<crate::WebhookDelivery>> {
        self.write(move |w| auth::record_delivery(&w.conn, &delivery))
            .await
    }

    async fn poll_data(&self) -> Result<Vec<PollData>> {
        self.read(|c, _| read::poll_data(c)).await
    }

    async fn append_task_logs(&self, logs: Vec<TaskExecLog>) -> Result<()> {
        if logs.is_empty() {
            return Ok(());
        }
        self.write(move |w| write::append_logs(&w.conn, logs)).await
    }

    async fn task_logs(&self, task_id: &str) -> Result<Vec<TaskExecLog>> {
        let id = task_id.to_string();
        self.read(move |c, _| read::task_logs(c, &id)).await
    }

    async fn history(&self, workflow_id: &str) -> Result<Vec<HistoryEvent>> {
        let id = workflow_id.to_string();
        self.read(move |c, _| read::history(c, &id)).await
    }

    async fn delete_history(&self, workflow_id: &str) -> Result<()> {
        let id = workflow_id.to_string();
        self.write(move |w| write::delete_history(&w.conn, &id))
            .await
    }

    async fn put_schedule(&self, schedule: crate::WorkflowSchedule) -> Result<()> {
        self.write(move |w| schedules::put(&w.conn, schedule)).await
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<crate::WorkflowSchedule>> {
        let name = name.to_string();
        self.read(move |c, _| schedules::get(c, &name)).await
    }

    async fn list_schedules(&self) -> Result<Vec<crate::WorkflowSchedule>> {
        self.read(|c, _| schedules::list(c)).await
    }

    async fn delete_schedule(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |w| schedules::delete(&w.conn, &name)).await
    }

    async fn due_schedules(
        &self,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<crate::WorkflowSchedule>> {
        self.read(move |c, _| schedules::due(c, now, limit)).await
    }

    async fn next_schedule_run_at(&self) -> Result<Option<Millis>> {
        self.read(|c, _| schedules::next_run_at(c)).await
    }

    async fn claim_due_schedule_run(
        &self,
        name: &str,
        expected: Millis,
        next: Option<Millis>,
    ) -> Result<bool> {
        let name = name.to_string();
        self.write(move |w| schedules::claim(&w.conn, &name, expected, next))
            .await
    }

    async fn put_event_handler(
        &self,
        handler: baton_model::EventHandler,
        create_only: bool,
    ) -> Result<()> {
        events::put_handler(self, handler, create_only).await
    }

    async fn list_event_handlers(&self) -> Result<Vec<baton_model::EventHandler>> {
        events::list_handlers(self).await
    }

    async fn event_handlers_for(
        &self,
        event: &str,
        active_only: bool,
    ) -> Result<Vec<baton_model::EventHandler>> {
        events::handlers_for(self, event, active_only).await
    }

    async fn delete_event_handler(&self, name: &str) -> Result<()> {
        events::delete_handler(self, name).await
    }

    async fn record_event(&self, event: baton_model::PublishedEvent) -> Result<i64> {
        events::record_event(self, event).await
    }

    async fn published_events(
        &self,
        event: Option<&str>,
        limit: usize,
    ) -> Result<Vec<baton_model::PublishedEvent>> {
        events::published_events(self, event, limit).await
    }
}
