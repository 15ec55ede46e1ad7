//! The per-node cache of committed workflow states (ADR 4, 9), bounded by workflows and by
//! bytes (ADR 36); the turns that take its entries out live in `turns.rs`.

use super::frequencies::Frequencies;
use super::*;
use baton_engine::footprint;
use std::collections::BTreeMap;

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
///
/// Bounded twice (ADR 36): by workflows, and by the estimated bytes of the entries here.
/// Past either, the least recently committed entries here are dropped; entries out with a
/// turn are never dropped (they hold that turn's claims). Entries unused for the idle time
/// are dropped by the sweeper (ADR 42). When the cache is full, a state that was not cached
/// gets in only if its workflow was asked for more often lately than the entry it would push
/// out (ADR 44): workers serve the workflows in flight in turn, and when they outnumber the
/// cache plain LRU would drop each entry just before its next use.
pub(super) struct StateCache {
    limits: StateCacheLimits,
    /// The runtime's clock, which stamps each use for [`StateCache::drop_idle`].
    clock: Clock,
    inner: Mutex<Entries>,
}

/// The two bounds of a [`StateCache`].
#[derive(Debug, Clone, Copy)]
pub(super) struct StateCacheLimits {
    /// Most workflows with an entry, here or out with a turn.
    pub(super) workflows: usize,
    /// Most estimated bytes of the entries here; a state larger than this alone is not kept.
    pub(super) bytes: usize,
    /// Milliseconds an entry here may go unused before [`StateCache::drop_idle`] drops it
    /// (0: never).
    pub(super) idle_ms: i64,
}

struct Entries {
    map: HashMap<String, Slot>,
    /// The entries here by their last use (a commit or a put-back), oldest first.
    lru: BTreeMap<u64, String>,
    last_use: u64,
    /// Estimated bytes of the entries here.
    bytes: usize,
    evicted_for_workflows: u64,
    evicted_for_bytes: u64,
    evicted_idle: u64,
    not_admitted: u64,
    /// How often each workflow's state was asked for lately (every [`StateCache::take`]).
    asked: Frequencies,
}

/// A cache entry: here, or out with the turn that holds the workflow (collecting the claims
/// polls make meanwhile, for [`Runtime::absorb_claims`]).
enum Slot {
    Here {
        state: Box<CachedState>,
        /// Its key in [`Entries::lru`].
        used: u64,
        /// When it was last used, by the runtime's clock (epoch milliseconds).
        used_at: i64,
    },
    Out {
        /// Whether the turn took a cached state (false: it read the store).
        cached: bool,
        claims: Vec<Task>,
        /// The size of the workflow's input when the entry was taken (None: read from the
        /// store), kept so the commit need not measure an input it did not change.
        input_bytes: Option<usize>,
    },
}

/// What the state cache holds, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StateCacheStats {
    /// Workflows cached (entries out with a turn not counted).
    pub workflows: usize,
    /// Their estimated bytes.
    pub bytes: usize,
    /// Entries dropped because the workflow bound was reached.
    pub evicted_for_workflows: u64,
    /// Entries dropped, or states not kept, because of the byte budget.
    pub evicted_for_bytes: u64,
    /// Entries dropped because they went unused for the idle time.
    pub evicted_idle: u64,
    /// States not cached because the cache was full of workflows asked for as often.
    pub not_admitted: u64,
    /// Entries out with a turn now (none once every turn has ended).
    pub out_with_turns: usize,
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
    /// Estimated bytes of the workflow's input (part of `bytes`).
    input_bytes: usize,
    /// Estimated bytes of the whole entry (see [`baton_engine::footprint`]).
    bytes: usize,
}

impl StateCache {
    pub(super) fn new(limits: StateCacheLimits, clock: Clock) -> Self {
        StateCache {
            limits,
            clock,
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                lru: BTreeMap::new(),
                last_use: 0,
                bytes: 0,
                evicted_for_workflows: 0,
                evicted_for_bytes: 0,
                evicted_idle: 0,
                not_admitted: 0,
                asked: Frequencies::new(limits.workflows),
            }),
        }
    }

    /// Drops the entries here unused for longer than the idle time; returns how many. The
    /// least recently used come first in the LRU order, so this stops at the first entry
    /// still in use and costs nothing when none is idle.
    pub(super) fn drop_idle(&self) -> usize {
        if self.limits.idle_ms <= 0 {
            return 0;
        }
        let cutoff = self.clock.now_ms().saturating_sub(self.limits.idle_ms);
        let mut e = self.inner.lock();
        let e = &mut *e;
        let mut dropped = 0;
        while let Some((_, oldest)) = e.lru.first_key_value() {
            match e.map.get(oldest) {
                Some(Slot::Here { used_at, .. }) if *used_at < cutoff => {}
                _ => break,
            }
            let Some((_, id)) = e.lru.pop_first() else {
                break;
            };
            if let Some(Slot::Here { state, .. }) = e.map.remove(&id) {
                e.bytes -= state.bytes;
            }
            dropped += 1;
        }
        e.evicted_idle += dropped as u64;
        dropped
    }

    /// Hands a workflow's entry over to the turn that holds the workflow (None: read the
    /// store); claims made until the turn ends are kept aside.
    pub(super) fn take(&self, id: &str) -> Option<CachedState> {
        let mut e = self.inner.lock();
        e.asked.record(id);
        let out = Slot::Out {
            cached: false,
            claims: Vec::new(),
            input_bytes: None,
        };
        match e.map.insert(id.to_string(), out) {
            Some(Slot::Here { state, used, .. }) => {
                e.lru.remove(&used);
                e.bytes -= state.bytes;
                if let Some(Slot::Out {
                    cached,
                    input_bytes,
                    ..
                }) = e.map.get_mut(id)
                {
                    *cached = true;
                    *input_bytes = Some(state.input_bytes);
                }
                Some(*state)
            }
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
        match self.inner.lock().map.get_mut(id) {
            Some(Slot::Out { claims, .. }) => std::mem::take(claims),
            _ => Vec::new(),
        }
    }

    pub(super) fn forget(&self, id: &str) {
        let mut e = self.inner.lock();
        if let Some(Slot::Here { state, used, .. }) = e.map.remove(id) {
            e.lru.remove(&used);
            e.bytes -= state.bytes;
        }
    }

    /// Drops every entry (another node may have changed any of them).
    pub(super) fn clear(&self) {
        let mut e = self.inner.lock();
        e.map.clear();
        e.lru.clear();
        e.bytes = 0;
    }

    pub(super) fn stats(&self) -> StateCacheStats {
        let e = self.inner.lock();
        StateCacheStats {
            workflows: e.lru.len(),
            bytes: e.bytes,
            evicted_for_workflows: e.evicted_for_workflows,
            evicted_for_bytes: e.evicted_for_bytes,
            evicted_idle: e.evicted_idle,
            not_admitted: e.not_admitted,
            out_with_turns: e.map.len() - e.lru.len(),
        }
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
        // Measured outside the lock; the input only if the turn did not bring its size.
        let carried = match self.inner.lock().map.get(&id) {
            Some(Slot::Out { input_bytes, .. }) if !st.input_changed => *input_bytes,
            _ => None,
        };
        let input_bytes = carried.unwrap_or_else(|| footprint::map_bytes(&st.workflow.input));
        let mut workflow = st.workflow;
        workflow.workflow_definition = Some(st.def.clone());
        let mut tasks = st.tasks;
        tasks.clear_dirty();
        let bytes = std::mem::size_of::<CachedState>()
            + 2 * id.len()
            + input_bytes
            + footprint::workflow_bytes_without_input(&workflow)
            + tasks.bytes();
        let mut state = CachedState {
            workflow,
            def: st.def,
            index: st.index,
            tasks,
            version,
            input_bytes,
            bytes,
        };
        let mut e = self.inner.lock();
        let e = &mut *e;
        if !replace && e.map.contains_key(&id) {
            return;
        }
        // Whether the state is in the cache already (here, or out with this turn).
        let mut cached = true;
        match e.map.remove(&id) {
            Some(Slot::Here { state, used, .. }) => {
                e.lru.remove(&used);
                e.bytes -= state.bytes;
            }
            // Claims made after the turn took its claims in (between `take_claims` and its
            // commit landing): dropped with the slot, the next turn's copy would lack them,
            // and the commit of such a task's completion would conflict with its stored
            // claim and re-read the whole workflow.
            Some(Slot::Out {
                claims,
                cached: was_cached,
                ..
            }) => {
                cached = was_cached;
                for task in &claims {
                    take_in_claim(&mut state.tasks, task);
                }
            }
            None => cached = false,
        }
        if bytes > self.limits.bytes {
            // Alone over the budget: not kept (its next turn reads the store), rather than
            // emptying the cache for one workflow.
            e.evicted_for_bytes += 1;
            return;
        }
        // Oldest first; an entry out with a turn keeps the claims that turn has not taken
        // in yet, so only entries here (the ones in `lru`) are dropped.
        let mut admitted = cached;
        loop {
            let over_workflows = e.map.len() >= self.limits.workflows;
            let over_bytes = e.bytes + bytes > self.limits.bytes;
            if !over_workflows && !over_bytes {
                break;
            }
            let Some((_, victim)) = e.lru.first_key_value() else {
                break;
            };
            if !admitted {
                // A newcomer takes the place of the oldest entry only if asked for more
                // often lately. Its count includes the ask that brought it here, while the
                // oldest entry's next ask is still to come (workflows served in turn), so
                // that one is granted; a tie keeps the entry, and a cache outnumbered by
                // workflows served in turn keeps serving the ones it holds.
                if e.asked.estimate(&id) <= e.asked.estimate(victim).saturating_add(1) {
                    e.not_admitted += 1;
                    return;
                }
                admitted = true;
            }
            let Some((_, victim)) = e.lru.pop_first() else {
                break;
            };
            if let Some(Slot::Here { state, .. }) = e.map.remove(&victim) {
                e.bytes -= state.bytes;
            }
            if over_workflows {
                e.evicted_for_workflows += 1;
            } else {
                e.evicted_for_bytes += 1;
            }
        }
        e.last_use += 1;
        let used = e.last_use;
        e.lru.insert(used, id.clone());
        e.bytes += bytes;
        e.map.insert(
            id,
            Slot::Here {
                state: Box::new(state),
                used,
                used_at: self.clock.now_ms(),
            },
        );
    }

    /// A poll claimed `task`.
    pub(super) fn claimed(&self, task: &Task) {
        let mut e = self.inner.lock();
        let id = &task.workflow_instance_id;
        let entry = match e.map.get_mut(id) {
            Some(Slot::Here { state, .. }) => state,
            Some(Slot::Out { claims, .. }) => {
                if claims.len() < MAX_CLAIMS_PER_TURN {
                    claims.push(task.clone());
                }
                return;
            }
            None => return,
        };
        take_in_claim(&mut entry.tasks, task);
    }

    /// Removes `id`'s entry if it is still out (see [`StateCache::hold`]).
    fn release(&self, id: &str) {
        let mut e = self.inner.lock();
        if matches!(e.map.get(id), Some(Slot::Out { .. })) {
            e.map.remove(id);
        }
    }
}

/// Replaces the cached copy of a claimed task with the claim's, unless the copy is as new.
fn take_in_claim(tasks: &mut TaskList, task: &Task) {
    if let Some(i) = tasks.find(&task.task_id) {
        if tasks[i].poll_count < task.poll_count {
            tasks.refresh(i, task.clone());
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

    fn cache() -> StateCache {
        bounded(
            RuntimeConfig::DEFAULT_STATE_CACHE_WORKFLOWS,
            RuntimeConfig::DEFAULT_STATE_CACHE_BYTES,
        )
    }

    /// A cache with these bounds, no idle time and the system clock.
    fn bounded(workflows: usize, bytes: usize) -> StateCache {
        let limits = StateCacheLimits {
            workflows,
            bytes,
            idle_ms: 0,
        };
        StateCache::new(limits, Clock::System)
    }

    /// A cache whose byte budget holds `n` states of [`big`]'s size, and not `n + 1`.
    fn cache_for_big_states(n: usize) -> StateCache {
        let probe = cache();
        probe.committed(big("probe", None));
        let one = probe.stats().bytes;
        bounded(100, n * one + one / 2)
    }

    /// A running workflow with one task holding 64 KiB of output.
    fn big(id: &str, version: Option<i64>) -> ExecState {
        let mut st = state(id, version, &[]);
        let mut task = Task {
            task_id: format!("{id}-t"),
            workflow_instance_id: id.to_string(),
            ..Task::default()
        };
        task.output_data.insert(
            "blob".into(),
            serde_json::Value::String("x".repeat(64 << 10)),
        );
        st.tasks = TaskList::new(vec![task]);
        st
    }

    fn cached_ids(cache: &StateCache) -> Vec<String> {
        let e = cache.inner.lock();
        let mut ids: Vec<String> = e.lru.values().cloned().collect();
        ids.sort();
        ids
    }

    fn claim(workflow: &str) -> Task {
        Task {
            task_id: "t1".into(),
            workflow_instance_id: workflow.into(),
            poll_count: 1,
            ..Task::default()
        }
    }

    fn cached_tasks(cache: &StateCache, id: &str) -> Option<(i64, usize)> {
        cache.take(id).map(|c| (c.version, c.tasks.len()))
    }

    /// The race baton-scale's chain hit: a worker completed a new workflow's first task (and
    /// the turn cached version 2, with the next task) before the start's own commit put
    /// version 1 in the cache, which then lacked the task the worker was handed next.
    #[test]
    fn a_start_does_not_replace_a_newer_entry() {
        let cache = cache();
        cache.committed(state("w1", Some(1), &["t1", "t2"]));
        cache.committed(state("w1", None, &["t1"]));
        assert_eq!(cached_tasks(&cache, "w1"), Some((2, 2)));
    }

    #[test]
    fn a_start_does_not_replace_an_entry_out_with_a_turn() {
        let cache = cache();
        cache.committed(state("w1", Some(1), &["t1"]));
        assert!(cache.take("w1").is_some());
        cache.committed(state("w1", None, &["t1"]));
        // Still out: the turn's claims survive and nothing is cached meanwhile.
        assert!(cache.take("w1").is_none());
    }

    /// A claim that arrives after the turn took its claims in, before its commit lands, is
    /// in the state the commit caches.
    #[test]
    fn a_commit_keeps_the_claims_made_while_it_was_landing() {
        let cache = cache();
        cache.committed(state("w1", Some(1), &["t1", "t2"]));
        let out = cache.take("w1").expect("cached");
        assert!(cache.take_claims("w1").is_empty());
        cache.claimed(&claim("w1"));
        let turn = ExecState::from_list(
            out.workflow,
            out.def,
            out.index,
            out.tasks,
            Some(out.version),
            0,
        );
        cache.committed(turn);
        let next = cache.take("w1").expect("cached again");
        assert_eq!(next.version, 3);
        let t1 = next.tasks.find("t1").expect("t1 is there");
        assert_eq!(next.tasks[t1].poll_count, 1, "the claim was kept");
    }

    #[test]
    fn a_start_caches_a_new_workflow_and_a_turn_replaces_it() {
        let cache = cache();
        cache.committed(state("w1", None, &["t1"]));
        cache.committed(state("w1", Some(1), &["t1", "t2"]));
        assert_eq!(cached_tasks(&cache, "w1"), Some((2, 2)));
    }

    /// Workers take tasks oldest first, so the workflows in flight are served in turn, the
    /// worst order for LRU: a count bound under them made nearly every update read its
    /// workflow from the store (ADR 42). By default the byte budget binds first for
    /// ordinary workflows (ten tasks each here).
    #[test]
    fn the_default_byte_budget_binds_before_the_default_count() {
        let probe = cache();
        let ids: Vec<String> = (0..10).map(|i| format!("task-{i:032}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        probe.committed(state("probe", None, &ids));
        let one = probe.stats().bytes;
        assert!(one > 0, "a cached state has a size");
        let by_bytes = RuntimeConfig::DEFAULT_STATE_CACHE_BYTES / one;
        assert!(
            RuntimeConfig::DEFAULT_STATE_CACHE_WORKFLOWS >= by_bytes,
            "the byte budget holds {by_bytes} states of {one} bytes, the count bound only {}",
            RuntimeConfig::DEFAULT_STATE_CACHE_WORKFLOWS
        );
    }

    /// Entries unused for the idle time go, oldest first, by the runtime's clock; entries
    /// used since, and entries out with a turn, stay.
    #[test]
    fn idle_entries_are_dropped_by_the_clock() {
        let clock = Clock::manual(1_000_000);
        let limits = StateCacheLimits {
            workflows: 100,
            bytes: usize::MAX,
            idle_ms: 300_000,
        };
        let cache = StateCache::new(limits, clock.clone());
        for id in ["old", "used", "out"] {
            cache.committed(state(id, None, &["t1"]));
        }
        let out = cache.take("out").expect("cached");
        clock.advance(Duration::from_secs(200));
        let used = cache.take("used").expect("cached");
        cache.insert(
            ExecState::from_list(used.workflow, used.def, used.index, used.tasks, Some(1), 0),
            1,
        );
        cache.committed(state("new", None, &["t1"]));
        assert_eq!(cache.drop_idle(), 0, "nothing idle for 300 s yet");
        clock.advance(Duration::from_secs(101));
        assert_eq!(cache.drop_idle(), 1);
        assert_eq!(cached_ids(&cache), ["new", "used"]);
        assert_eq!(cache.stats().evicted_idle, 1);
        assert_eq!(cache.stats().out_with_turns, 1);
        clock.advance(Duration::from_secs(200));
        assert_eq!(cache.drop_idle(), 2);
        assert!(cached_ids(&cache).is_empty());
        assert_eq!(cache.stats().bytes, 0);
        cache.insert(
            ExecState::from_list(out.workflow, out.def, out.index, out.tasks, Some(1), 0),
            1,
        );
        assert_eq!(cached_ids(&cache), ["out"]);
    }

    #[test]
    fn eviction_spares_entries_out_with_a_turn() {
        let cache = bounded(16, usize::MAX);
        cache.committed(state("out", None, &[]));
        assert!(cache.take("out").is_some());
        cache.claimed(&Task {
            task_id: "t1".into(),
            workflow_instance_id: "out".into(),
            poll_count: 1,
            ..Task::default()
        });
        // Fifteen starts fill the cache; ten workflows asked for twice each then push out
        // as many of them (never asked for).
        for i in 0..15 {
            cache.committed(state(&format!("w{i}"), None, &[]));
        }
        for i in 15..25 {
            let id = format!("w{i}");
            assert!(cache.take(&id).is_none());
            assert!(cache.take(&id).is_none());
            cache.committed(state(&id, Some(0), &[]));
        }
        assert_eq!(cache.stats().evicted_for_workflows, 10);
        assert_eq!(cache.take_claims("out").len(), 1);
    }

    #[test]
    fn the_workflow_bound_drops_the_least_recently_committed() {
        let cache = bounded(3, usize::MAX);
        for id in ["a", "b", "c"] {
            cache.committed(state(id, None, &["t1"]));
        }
        // A turn on "a" makes it the most recent; "b" is now the oldest.
        let a = cache.take("a").expect("cached");
        cache.insert(
            ExecState::from_list(a.workflow, a.def, a.index, a.tasks, Some(1), 0),
            1,
        );
        // Two turns on "d" read the store: asked for twice, more than "b" and its next ask.
        assert!(cache.take("d").is_none());
        assert!(cache.take("d").is_none());
        cache.committed(state("d", Some(0), &["t1"]));
        assert_eq!(cached_ids(&cache), ["a", "c", "d"]);
        assert_eq!(cache.stats().evicted_for_workflows, 1);
    }

    #[test]
    fn the_byte_budget_drops_the_least_recently_committed() {
        let cache = cache_for_big_states(3);
        for id in ["a", "b", "c"] {
            cache.committed(big(id, None));
        }
        assert_eq!(cached_ids(&cache), ["a", "b", "c"]);
        cache.committed(big("a", Some(1)));
        assert!(cache.take("d").is_none());
        assert!(cache.take("d").is_none());
        cache.committed(big("d", Some(0)));
        assert_eq!(cached_ids(&cache), ["a", "c", "d"]);
        let stats = cache.stats();
        assert_eq!((stats.workflows, stats.evicted_for_bytes), (3, 1));
        assert!(stats.bytes <= cache.limits.bytes, "{stats:?}");
    }

    #[test]
    fn an_entry_out_with_a_turn_outlives_the_byte_budget() {
        let cache = cache_for_big_states(2);
        cache.committed(big("out", None));
        assert!(cache.take("out").is_some());
        cache.claimed(&claim("out"));
        for i in 0..10 {
            cache.committed(big(&format!("w{i}"), None));
        }
        assert_eq!(cache.take_claims("out").len(), 1);
        // w0 and w1 filled the budget; the later starts, asked for no more often, were not
        // admitted. The entry's commit puts it back; the oldest other one goes.
        assert_eq!(cache.stats().not_admitted, 8);
        cache.committed(big("out", Some(1)));
        assert_eq!(cached_ids(&cache), ["out", "w1"]);
    }

    #[test]
    fn a_full_cache_admits_only_workflows_asked_for_more_often() {
        let cache = bounded(3, usize::MAX);
        for id in ["a", "b", "c"] {
            cache.committed(state(id, None, &[]));
            let st = cache.take(id).expect("cached");
            cache.insert(
                ExecState::from_list(st.workflow, st.def, st.index, st.tasks, Some(1), 0),
                2,
            );
        }
        // Asked for once, then twice: as often as the oldest entry "a" with its next ask,
        // which is due. Not admitted.
        for not_admitted in 1..=2 {
            assert!(cache.take("d").is_none());
            cache.committed(state("d", Some(0), &[]));
            assert_eq!(cached_ids(&cache), ["a", "b", "c"]);
            assert_eq!(cache.stats().not_admitted, not_admitted);
        }
        // A third time: now more often, and "a" goes.
        assert!(cache.take("d").is_none());
        cache.committed(state("d", Some(0), &[]));
        assert_eq!(cached_ids(&cache), ["b", "c", "d"]);
        assert_eq!(cache.stats().evicted_for_workflows, 1);
    }

    /// Workers serve the workflows in flight in turn. With twice as many as the cache holds,
    /// LRU drops every entry just before its next use (no hits at all); the admission test
    /// keeps the entries it has, which then hit on every round. (Bound by bytes, so that the
    /// sketch has the default count bound's width, as in a server.)
    #[test]
    fn workflows_served_in_turn_keep_hitting_a_cache_they_outnumber() {
        const CACHED: usize = 50;
        let probe = cache();
        probe.committed(big("probe", None));
        let one = probe.stats().bytes;
        let cache = bounded(
            RuntimeConfig::DEFAULT_STATE_CACHE_WORKFLOWS,
            CACHED * one + one / 2,
        );
        let ids: Vec<String> = (0..2 * CACHED).map(|i| format!("w{i}")).collect();
        for id in &ids {
            cache.committed(big(id, None));
        }
        // Served in turn, cached and not cached alternating: w0, w50, w1, w51, ...
        let order: Vec<&String> = (0..CACHED)
            .flat_map(|i| [&ids[i], &ids[i + CACHED]])
            .collect();
        let mut hits = 0;
        for round in 0..5_i64 {
            for &id in &order {
                let version = match cache.take(id) {
                    Some(st) => {
                        hits += usize::from(round > 0);
                        st.version
                    }
                    None => round,
                };
                cache.committed(big(id, Some(version)));
            }
        }
        assert!(hits >= 4 * CACHED * 9 / 10, "{hits} hits in 4 rounds");
    }

    #[test]
    fn a_state_over_the_whole_budget_is_not_kept() {
        let cache = cache_for_big_states(1);
        cache.committed(state("small", None, &["t1"]));
        let mut huge = big("huge", None);
        let task = big("h1", None).tasks[0].clone();
        huge.tasks = TaskList::new(vec![task; 3]);
        cache.committed(huge);
        assert_eq!(cached_ids(&cache), ["small"]);
        assert_eq!(cache.stats().evicted_for_bytes, 1);
    }

    #[test]
    fn bytes_follow_takes_commits_and_forgets() {
        let cache = cache();
        cache.committed(big("a", None));
        let one = cache.stats().bytes;
        assert!(one > 64 << 10, "{one}");
        cache.committed(state("b", None, &[]));
        let both = cache.stats().bytes;
        let a = cache.take("a").expect("cached");
        assert_eq!(cache.stats().bytes, both - one);
        cache.insert(
            ExecState::from_list(a.workflow, a.def, a.index, a.tasks, Some(1), 0),
            1,
        );
        assert_eq!(cache.stats().bytes, both);
        cache.forget("a");
        cache.forget("b");
        assert_eq!(cache.stats(), StateCacheStats::default());
    }

    /// An update naming an unknown workflow took its (empty) entry out and failed: before
    /// the hold, the slot stayed out for good, uncounted and never evicted.
    #[test]
    fn a_turn_that_commits_nothing_leaves_no_entry() {
        let cache = cache();
        {
            let _hold = cache.hold("nope");
            assert!(cache.take("nope").is_none());
            cache.claimed(&claim("nope"));
        }
        cache.committed(state("w1", None, &[]));
        {
            let _hold = cache.hold("w1");
            assert!(cache.take("w1").is_some());
            // The turn's decision failed after changing the state: not put back.
        }
        assert!(cache.inner.lock().map.is_empty());
    }
}
