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
mod tests;
