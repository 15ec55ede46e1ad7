//! Unit tests of the state cache: bounds, turns, claims, idle drops and admission.

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
