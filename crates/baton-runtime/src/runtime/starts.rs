//! Starting workflows: by request, under a chosen id, and as a SUB_WORKFLOW's child.

use super::*;

impl Runtime {
    /// Starts a workflow and runs its first decision; returns the new id.
    pub async fn start_workflow(&self, req: StartWorkflowRequest) -> Result<String> {
        let (id, effects) = self.start_child(req, None, None).await?;
        self.drain(effects).await;
        Ok(id)
    }

    /// Starts a workflow under a caller-chosen id (the scheduler's deterministic run ids);
    /// fails with a store AlreadyExists if that id is taken.
    pub(crate) async fn start_workflow_with_id(
        &self,
        req: StartWorkflowRequest,
        workflow_id: String,
    ) -> Result<String> {
        let (id, effects) = self
            .start_with_id(req, workflow_id, None, None, Vec::new())
            .await?;
        self.drain(effects).await;
        Ok(id)
    }

    pub(super) async fn start_child(
        &self,
        req: StartWorkflowRequest,
        parent: Option<String>,
        parent_task: Option<String>,
    ) -> Result<(String, Vec<FollowUp>)> {
        self.start_with_id(
            req,
            uuid::Uuid::now_v7().to_string(),
            parent,
            parent_task,
            Vec::new(),
        )
        .await
    }

    /// Starts a workflow under `workflow_id`; `done` names follow-ups the start carries out
    /// (deleted in its commit).
    pub(crate) async fn start_with_id(
        &self,
        req: StartWorkflowRequest,
        workflow_id: String,
        parent: Option<String>,
        parent_task: Option<String>,
        done: Vec<String>,
    ) -> Result<(String, Vec<FollowUp>)> {
        match self
            .build_start(req, workflow_id, parent, parent_task)
            .await?
        {
            Started::Existing(id) => {
                if !done.is_empty() {
                    self.commit_states(Vec::new(), Vec::new(), done).await?;
                }
                Ok((id, Vec::new()))
            }
            Started::New(st) => {
                let id = st.workflow.workflow_id.clone();
                let follow_ups = self.commit_states(vec![*st], Vec::new(), done).await?;
                Ok((id, follow_ups))
            }
        }
    }

    /// Decides a new execution without committing it (or finds the one its idempotency key
    /// names).
    pub(super) async fn build_start(
        &self,
        req: StartWorkflowRequest,
        workflow_id: String,
        parent: Option<String>,
        parent_task: Option<String>,
    ) -> Result<Started> {
        let keys = [
            ("correlationId", req.correlation_id.as_deref()),
            ("idempotencyKey", req.idempotency_key.as_deref()),
        ];
        for (field, value) in keys {
            if let Some(value) = value {
                baton_model::limits::check_key(field, value).map_err(Error::Invalid)?;
            }
        }
        for (task, domain) in &req.task_to_domain {
            baton_model::limits::check_key("taskToDomain", task).map_err(Error::Invalid)?;
            baton_model::limits::check_key("taskToDomain", domain).map_err(Error::Invalid)?;
        }
        if !(0..=99).contains(&req.priority) {
            return Err(Error::Invalid(format!(
                "priority: {} is outside the range 0..99",
                req.priority
            )));
        }
        let def = match req.workflow_def {
            Some(inline) => {
                self.validate_workflow_def(&inline)?;
                Arc::new(self.populate(inline).await?)
            }
            None => {
                if req.name.trim().is_empty() {
                    return Err(Error::Invalid("name: workflow name cannot be empty".into()));
                }
                self.resolve_def(&req.name, req.version).await?
            }
        };
        if let Some(key) = req.idempotency_key.as_deref().filter(|k| !k.is_empty()) {
            let existing = self.store.find_by_idempotency_key(&def.name, key).await?;
            if let Some(first) = existing.first() {
                match req
                    .idempotency_strategy
                    .unwrap_or(IdempotencyStrategy::Fail)
                {
                    IdempotencyStrategy::ReturnExisting => {
                        return Ok(Started::Existing(first.workflow_id.clone()))
                    }
                    IdempotencyStrategy::Fail => {
                        return Err(Error::Conflict(format!(
                            "a workflow with idempotencyKey '{key}' already exists: {}",
                            first.workflow_id
                        )))
                    }
                    IdempotencyStrategy::FailOnRunning => {
                        if let Some(running) = existing.iter().find(|w| !w.status.is_terminal()) {
                            return Err(Error::Conflict(format!(
                                "a running workflow with idempotencyKey '{key}' exists: {}",
                                running.workflow_id
                            )));
                        }
                    }
                }
            }
        }
        let now = self.now();
        let slow = self.index_for(&def).decides_slowly();
        let registry = Some(self.task_defs().await?);
        let active_domains = if req.task_to_domain.is_empty() {
            None
        } else {
            Some(self.active_domains().await)
        };
        let st = off_async_threads(slow, || {
            engine::new_execution(NewExecution {
                workflow_id,
                def,
                input: req.input,
                correlation_id: req.correlation_id,
                priority: req.priority,
                task_to_domain: req.task_to_domain,
                parent_workflow_id: parent,
                parent_workflow_task_id: parent_task,
                created_by: req.created_by,
                idempotency_key: req.idempotency_key,
                event: None,
                external_input_payload_storage_path: req.external_input_payload_storage_path,
                now,
                registry,
                active_domains,
                limits: self.engine_limits(),
            })
        });
        Ok(Started::New(Box::new(st)))
    }

    /// Decides the child of a parent's SUB_WORKFLOW task without committing it: the child
    /// is committed with the parent's update that records it
    /// ([`Runtime::update_task_starting`]), so it exists only if the parent's task was still
    /// open then. The child id is derived from the parent task, so a repeated start (after a
    /// crash, or a second claim of the task) finds the same child.
    pub(crate) async fn prepare_sub_workflow(&self, task: &Task) -> Result<SubWorkflowStart> {
        let input = &task.input_data;
        let child_id = child_workflow_id(task);
        if self.store.get_workflow_status(&child_id).await?.is_some() {
            return Ok(SubWorkflowStart {
                id: child_id,
                new: None,
            });
        }
        // The status row: the fields a child inherits, without the parent's input (a
        // dynamic fork's input names every branch, and each branch reads this).
        let parent = self
            .store
            .get_workflow_status(&task.workflow_instance_id)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "Workflow with id: {} not found.",
                    task.workflow_instance_id
                ))
            })?;
        let inline = match input.get("subWorkflowDefinition") {
            Some(v) if v.is_object() => Some(
                serde_json::from_value::<WorkflowDef>(v.clone())
                    .map_err(|e| Error::Invalid(format!("subWorkflowDefinition: {e}")))?,
            ),
            _ => None,
        };
        // The version as the decider resolved it; anything but a whole number fails the task.
        let version =
            match input.get("subWorkflowVersion") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(
                    || {
                        Error::Invalid(format!(
                            "subWorkflowParam.version: {v} is not a version number"
                        ))
                    },
                )?),
            };
        let req = StartWorkflowRequest {
            name: input
                .get("subWorkflowName")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            version,
            input: input
                .get("workflowInput")
                .and_then(|v| v.as_object())
                .cloned()
                .unwrap_or_default(),
            correlation_id: parent.correlation_id.clone(),
            task_to_domain: input
                .get("subWorkflowTaskToDomain")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_else(|| parent.task_to_domain.clone()),
            priority: parent.priority,
            workflow_def: inline,
            ..StartWorkflowRequest::default()
        };
        let started = self
            .build_start(
                req,
                child_id,
                Some(task.workflow_instance_id.clone()),
                Some(task.task_id.clone()),
            )
            .await?;
        Ok(match started {
            Started::Existing(id) => SubWorkflowStart { id, new: None },
            Started::New(st) => SubWorkflowStart {
                id: st.workflow.workflow_id.clone(),
                new: Some(st),
            },
        })
    }
}

/// A SUB_WORKFLOW task's child: its id, and its first state when it does not exist yet.
pub(crate) struct SubWorkflowStart {
    pub(crate) id: String,
    pub(crate) new: Option<Box<ExecState>>,
}
