//! The per-node cache of committed workflow states (ADR 4, 9); the turns that take its
//! entries out live in `turns.rs`.

use super::*;

/// Running workflows as this node last committed them, so the next update of a workflow
/// does not re-read and re-parse it. Only a hint: every commit still names the version it
/// started from, and a conflict (another node, or a poll this node did not see that the
/// commit would undo) drops the entry and the update re-reads from the store. Claims leave
/// the workflow's version alone (ADR 14); polls keep entries current by handing each claimed
/// task over, taken in when it is newer (a higher poll count) than the cached copy.
///
/// A workflow's turn takes its entry out (a move, whatever the workflow's size) and the
/// commit puts the decided state back, so no update copies the tasks it does not change
/// (ADR 0009). Claims made while the entry is out are kept for the turn to take in.
#[derive(Default)]
pub(super) struct StateCache {
    map: Mutex<HashMap<String, Slot>>,
}

/// A cache entry: here, or out with the turn that holds the workflow (collecting the claims
/// polls make meanwhile, for [`Runtime::absorb_claims`]).
pub(super) enum Slot {
    Here(Box<CachedState>),
    Out(Vec<Task>),
}

/// Claims kept for one turn at most; past that, a commit that writes one of the others
/// conflicts and re-reads.
pub(super) const MAX_CLAIMS_PER_TURN: usize = 1024;

/// One cached workflow: what [`ExecState::from_list`] needs, the task indexes included.
pub(super) struct CachedState {
    pub(super) workflow: Workflow,
    pub(super) def: Arc<WorkflowDef>,
    pub(super) index: Arc<DefIndex>,
    pub(super) tasks: TaskList,
    pub(super) version: i64,
}

/// Enough for every workflow in flight in the benchmarks; bounded so memory stays small.
pub(super) const STATE_CACHE_CAPACITY: usize = 4096;

impl StateCache {
    /// Hands a workflow's entry over to the turn that holds the workflow (None: read the
    /// store); claims made until the turn ends are kept aside.
    pub(super) fn take(&self, id: &str) -> Option<CachedState> {
        match self
            .map
            .lock()
            .insert(id.to_string(), Slot::Out(Vec::new()))
        {
            Some(Slot::Here(state)) => Some(*state),
            _ => None,
        }
    }

    /// Marks the start of a turn's use of the cache; when the returned guard drops, an entry
    /// still out (nothing committed or put back: an error, an unknown id) is removed, so a
    /// failed turn leaves nothing behind.
    pub(super) fn hold<'a>(&'a self, id: &'a str) -> CacheHold<'a> {
        CacheHold { cache: self, id }
    }

    /// The claims made while the turn held the workflow, oldest first.
    pub(super) fn take_claims(&self, id: &str) -> Vec<Task> {
        match self.map.lock().get_mut(id) {
            Some(Slot::Out(claims)) => std::mem::take(claims),
            _ => Vec::new(),
        }
    }

    pub(super) fn forget(&self, id: &str) {
        self.map.lock().remove(id);
    }

    /// Drops every entry (another node may have changed any of them).
    pub(super) fn clear(&self) {
        self.map.lock().clear();
    }

    /// A turn that changed nothing gives its entry back; one that changed something it did
    /// not commit (an error) drops it, and the next turn reads the store.
    pub(super) fn put_back(&self, st: ExecState) {
        let untouched = st.dirty_tasks().next().is_none()
            && st.history.is_empty()
            && st.queue_push.is_empty()
            && st.queue_remove.is_empty()
            && st.removed_tasks.is_empty()
            && st.effects.is_empty()
            && st.wake.is_empty();
        if let (true, Some(version)) = (untouched, st.version) {
            self.insert(st, version);
        }
    }

    pub(super) fn committed(&self, st: ExecState) {
        if st.workflow.status.is_terminal() {
            self.forget(&st.workflow.workflow_id);
            return;
        }
        match st.version {
            Some(v) => self.insert(st, v + 1),
            // A start commits without holding the new workflow's turn: its first task is
            // claimable from the moment the commit lands, so a worker may have completed it
            // (and a turn cached the newer state, or holds the entry now) before this runs.
            // Any entry for the id is then at least as new as the start's.
            None => self.place(st, 1, false),
        }
    }

    pub(super) fn insert(&self, st: ExecState, version: i64) {
        self.place(st, version, true);
    }

    /// Caches `st` as `version`; with `replace` false, only where the id has no entry.
    fn place(&self, st: ExecState, version: i64, replace: bool) {
        let id = st.workflow.workflow_id.clone();
        let mut workflow = st.workflow;
        workflow.workflow_definition = Some(st.def.clone());
        let mut tasks = st.tasks;
        tasks.clear_dirty();
        let state = CachedState {
            workflow,
            def: st.def,
            index: st.index,
            tasks,
            version,
        };
        let mut map = self.map.lock();
        if map.contains_key(&id) {
            if !replace {
                return;
            }
        } else if map.len() >= STATE_CACHE_CAPACITY {
            // An entry out with a turn keeps the claims that turn has not taken in yet.
            let victim = map
                .iter()
                .find(|(_, slot)| matches!(slot, Slot::Here(_)))
                .map(|(k, _)| k.clone());
            if let Some(victim) = victim {
                map.remove(&victim);
            }
        }
        map.insert(id, Slot::Here(Box::new(state)));
    }

    /// A poll claimed `task`.
    pub(super) fn claimed(&self, task: &Task) {
        let mut map = self.map.lock();
        let id = &task.workflow_instance_id;
        let entry = match map.get_mut(id) {
            Some(Slot::Here(entry)) => entry,
            Some(Slot::Out(claims)) => {
                if claims.len() < MAX_CLAIMS_PER_TURN {
                    claims.push(task.clone());
                }
                return;
            }
            None => return,
        };
        if let Some(i) = entry.tasks.find(&task.task_id) {
            if entry.tasks[i].poll_count < task.poll_count {
                entry.tasks.refresh(i, task.clone());
            }
        }
    }

    /// Removes `id`'s entry if it is still out (see [`StateCache::hold`]).
    fn release(&self, id: &str) {
        let mut map = self.map.lock();
        if matches!(map.get(id), Some(Slot::Out(_))) {
            map.remove(id);
        }
    }
}

/// See [`StateCache::hold`].
pub(super) struct CacheHold<'a> {
    cache: &'a StateCache,
    id: &'a str,
}

impl Drop for CacheHold<'_> {
    fn drop(&mut self) {
        self.cache.release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str, version: Option<i64>, task_ids: &[&str]) -> ExecState {
        let def: WorkflowDef = serde_json::from_value(serde_json::json!({"name": "w"}))
            .expect("a definition with a name parses");
        let index = Arc::new(DefIndex::build(&def));
        let workflow = Workflow {
            workflow_id: id.to_string(),
            status: WorkflowStatus::Running,
            ..Workflow::default()
        };
        let tasks = task_ids
            .iter()
            .map(|t| Task {
                task_id: t.to_string(),
                workflow_instance_id: id.to_string(),
                ..Task::default()
            })
            .collect();
        ExecState::new(workflow, Arc::new(def), index, tasks, version, 0)
    }

    fn cached_tasks(cache: &StateCache, id: &str) -> Option<(i64, usize)> {
        cache.take(id).map(|c| (c.version, c.tasks.len()))
    }

    /// The race baton-scale's chain hit: a worker completed a new workflow's first task (and
    /// the turn cached version 2, with the next task) before the start's own commit put
    /// version 1 in the cache, which then lacked the task the worker was handed next.
    #[test]
    fn a_start_does_not_replace_a_newer_entry() {
        let cache = StateCache::default();
        cache.committed(state("w1", Some(1), &["t1", "t2"]));
        cache.committed(state("w1", None, &["t1"]));
        assert_eq!(cached_tasks(&cache, "w1"), Some((2, 2)));
    }

    #[test]
    fn a_start_does_not_replace_an_entry_out_with_a_turn() {
        let cache = StateCache::default();
        cache.committed(state("w1", Some(1), &["t1"]));
        assert!(cache.take("w1").is_some());
        cache.committed(state("w1", None, &["t1"]));
        // Still out: the turn's claims survive and nothing is cached meanwhile.
        assert!(cache.take("w1").is_none());
    }

    #[test]
    fn a_start_caches_a_new_workflow_and_a_turn_replaces_it() {
        let cache = StateCache::default();
        cache.committed(state("w1", None, &["t1"]));
        cache.committed(state("w1", Some(1), &["t1", "t2"]));
        assert_eq!(cached_tasks(&cache, "w1"), Some((2, 2)));
    }

    #[test]
    fn eviction_spares_entries_out_with_a_turn() {
        let cache = StateCache::default();
        cache.committed(state("out", None, &[]));
        assert!(cache.take("out").is_some());
        cache.claimed(&Task {
            task_id: "t1".into(),
            workflow_instance_id: "out".into(),
            poll_count: 1,
            ..Task::default()
        });
        for i in 0..STATE_CACHE_CAPACITY + 10 {
            cache.committed(state(&format!("w{i}"), None, &[]));
        }
        assert_eq!(cache.take_claims("out").len(), 1);
    }

    /// An update naming an unknown workflow took its (empty) entry out and failed: before
    /// the hold, the slot stayed out for good, uncounted and never evicted.
    #[test]
    fn a_turn_that_commits_nothing_leaves_no_entry() {
        let cache = StateCache::default();
        {
            let _hold = cache.hold("nope");
            assert!(cache.take("nope").is_none());
            cache.claimed(&Task {
                task_id: "t1".into(),
                workflow_instance_id: "nope".into(),
                poll_count: 1,
                ..Task::default()
            });
        }
        cache.committed(state("w1", None, &[]));
        {
            let _hold = cache.hold("w1");
            assert!(cache.take("w1").is_some());
            // The turn's decision failed after changing the state: not put back.
        }
        assert!(cache.map.lock().is_empty());
    }
}
