//! Definitions: task and workflow definitions, their per-node caches, and the active
//! task domains a start chooses among.

use super::*;

impl Runtime {
    pub async fn register_task_defs(&self, mut defs: Vec<TaskDef>) -> Result<()> {
        if defs.is_empty() {
            return Err(Error::Invalid(
                "the list of task definitions is empty".into(),
            ));
        }
        let mut errors = Vec::new();
        for (i, d) in defs.iter().enumerate() {
            errors.extend(validate_task_def(d, &format!("[{i}].")));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let now = self.now();
        for d in &mut defs {
            d.create_time = now;
            d.update_time = 0;
        }
        self.store.put_task_defs(defs).await?;
        self.invalidate_defs();
        Ok(())
    }

    pub async fn update_task_def(&self, mut def: TaskDef) -> Result<()> {
        let errors = validate_task_def(&def, "");
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let existing = self.store.get_task_def(&def.name).await?.ok_or_else(|| {
            Error::NotFound(format!("No such taskType found by name: {}", def.name))
        })?;
        def.create_time = existing.create_time;
        def.created_by = existing.created_by;
        def.update_time = self.now();
        self.store.update_task_def(def).await.map_err(not_found)?;
        self.invalidate_defs();
        Ok(())
    }

    pub async fn get_task_def(&self, name: &str) -> Result<TaskDef> {
        self.store
            .get_task_def(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("No such taskType found by name: {name}")))
    }

    pub async fn list_task_defs(&self) -> Result<Vec<TaskDef>> {
        Ok(self.store.list_task_defs().await?)
    }

    pub async fn delete_task_def(&self, name: &str) -> Result<()> {
        self.store.delete_task_def(name).await.map_err(not_found)?;
        self.invalidate_defs();
        Ok(())
    }

    pub fn validate_workflow_def(&self, def: &WorkflowDef) -> Result<()> {
        let errors = validate_workflow_def(def);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }

    pub async fn register_workflow_def(&self, mut def: WorkflowDef, overwrite: bool) -> Result<()> {
        self.validate_workflow_def(&def)?;
        let now = self.now();
        if def.create_time == 0 {
            def.create_time = now;
        }
        if overwrite {
            def.update_time = now;
        }
        let (name, version) = (def.name.clone(), def.version);
        self.store
            .put_workflow_def(def, overwrite)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => {
                    Error::Conflict(format!("Workflow with {name}.{version} already exists!"))
                }
                other => Error::Store(other),
            })?;
        self.invalidate_defs();
        Ok(())
    }

    /// `PUT /api/metadata/workflow`: upsert each; validation failures fail the whole request.
    pub async fn update_workflow_defs(&self, defs: Vec<WorkflowDef>) -> Result<BulkResponse> {
        let mut errors = Vec::new();
        for (i, d) in defs.iter().enumerate() {
            for mut e in validate_workflow_def(d) {
                e.path = format!("[{i}].{}", e.path);
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let mut out = BulkResponse::default();
        for mut d in defs {
            let name = d.name.clone();
            d.update_time = self.now();
            match self.store.put_workflow_def(d, true).await {
                Ok(()) => out.bulk_successful_results.push(name),
                Err(e) => {
                    out.bulk_error_results.insert(name, e.to_string());
                }
            }
        }
        self.invalidate_defs();
        Ok(out)
    }

    pub async fn get_workflow_def(&self, name: &str, version: Option<i32>) -> Result<WorkflowDef> {
        self.store
            .get_workflow_def(name, version)
            .await?
            .ok_or_else(|| Error::NotFound(no_such_workflow(name, version)))
    }

    pub async fn list_workflow_defs(&self) -> Result<Vec<WorkflowDef>> {
        Ok(self.store.list_workflow_defs().await?)
    }

    pub async fn delete_workflow_def(&self, name: &str, version: i32) -> Result<()> {
        self.store
            .delete_workflow_def(name, version)
            .await
            .map_err(not_found)?;
        self.invalidate_defs();
        Ok(())
    }

    /// (task type, domain) pairs polled in the last 10 s (Conductor's
    /// `activeWorkerLastPollTimeout`), cached for a second.
    pub(super) async fn active_domains(&self) -> ActiveDomains {
        {
            let cached = self.active_domains.lock();
            let now = self.now();
            if cached.0.is_some_and(|at| (0..1000).contains(&(now - at))) {
                return cached.1.clone();
            }
        }
        let now = self.now();
        let set: HashSet<(String, String)> = match self.store.poll_data().await {
            Ok(rows) => rows
                .into_iter()
                .filter(|p| now - p.last_poll_time <= 10_000)
                .filter_map(|p| {
                    p.domain
                        .filter(|d| !d.is_empty())
                        .map(|d| (p.queue_name, d))
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read poll data for domain selection");
                HashSet::new()
            }
        };
        let set = Arc::new(set);
        *self.active_domains.lock() = (Some(now), set.clone());
        set
    }

    pub(super) async fn task_defs(&self) -> Result<Arc<HashMap<String, TaskDef>>> {
        let generation = {
            let c = self.caches.lock();
            if let Some(t) = c.task_defs.clone() {
                return Ok(t);
            }
            c.generation
        };
        let all = self.store.list_task_defs().await?;
        let map: Arc<HashMap<String, TaskDef>> =
            Arc::new(all.into_iter().map(|d| (d.name.clone(), d)).collect());
        let mut c = self.caches.lock();
        if c.generation == generation {
            c.task_defs = Some(map.clone());
        }
        Ok(map)
    }

    /// Fills `taskDefinition` into every node from the registry, so that the execution keeps
    /// the exact settings it started with (§4.1 step 2).
    pub(super) async fn populate(&self, mut def: WorkflowDef) -> Result<WorkflowDef> {
        let registry = self.task_defs().await?;
        def.for_each_task_mut(&mut |node| {
            if node.task_definition.is_none() {
                if let Some(td) = registry.get(&node.name) {
                    node.task_definition = Some(td.clone());
                }
            }
        });
        Ok(def)
    }

    pub(super) async fn resolve_def(
        &self,
        name: &str,
        version: Option<i32>,
    ) -> Result<Arc<WorkflowDef>> {
        let key = (name.to_string(), version);
        let generation = {
            let c = self.caches.lock();
            if let Some(d) = c.workflow_defs.get(&key).cloned() {
                return Ok(d);
            }
            c.generation
        };
        let def = self
            .store
            .get_workflow_def(name, version)
            .await?
            .ok_or_else(|| Error::NotFound(no_such_workflow(name, version)))?;
        let def = Arc::new(self.populate(def).await?);
        let mut c = self.caches.lock();
        if c.generation == generation {
            c.workflow_defs.insert(key, def.clone());
        }
        Ok(def)
    }

    pub(super) fn index_for(&self, def: &Arc<WorkflowDef>) -> Arc<DefIndex> {
        let key = Arc::as_ptr(def) as usize;
        let mut c = self.caches.lock();
        if let Some((_, idx)) = c.indexes.get(&key) {
            return idx.clone();
        }
        if c.indexes.len() > 4096 {
            c.indexes.clear();
        }
        let idx = Arc::new(DefIndex::build(def));
        c.indexes.insert(key, (def.clone(), idx.clone()));
        idx
    }
}
