//! [`TaskList`]: a workflow's task attempts, with the indexes that keep one decision's cost
//! independent of the workflow's size.
//!
//! The list travels with the workflow between decisions (the runtime's state cache keeps it),
//! so the indexes are built once, when a workflow is loaded from the store, and kept current
//! by every change made through this type. Reading goes through `Deref<Target = [Task]>`;
//! writing goes through [`TaskList::get_mut`] and friends, which record what changed.

use crate::footprint::task_bytes;
use crate::state::base_ref;
use crate::systask as sys;
use baton_model::{Task, TaskStatus, WorkflowTask};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// Past this many tasks waiting for removal (and half the list), the list is compacted.
const COMPACT_MIN: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct TaskList {
    tasks: Vec<Task>,
    /// Task id → position.
    by_id: HashMap<String, usize>,
    /// Reference name (with any loop suffix) → position of its latest attempt.
    by_ref: HashMap<String, usize>,
    /// Reference name without loop suffix → position of the latest task bearing it.
    by_base: HashMap<String, usize>,
    /// Open tasks (neither retried nor handled) the decider visits on every pass. May hold
    /// closed tasks for a while: the decider drops them when it meets them.
    active: BTreeSet<usize>,
    /// Open tasks that cannot change before a time (their earliest timeout; `i64::MAX`:
    /// only an update changes them), keyed by that time. A change moves a task back to
    /// `active`; so does the clock passing its time.
    parked: BTreeSet<(i64, usize)>,
    parked_until: HashMap<usize, i64>,
    /// Tasks changed or created since the last commit.
    dirty: BTreeSet<usize>,
    max_seq: i32,
    /// Definition nodes of dynamically forked tasks, by reference name, parsed once from
    /// their FORK's `forkedTaskDefs`.
    dynamic_nodes: HashMap<String, WorkflowTask>,
    /// JOIN position → how many of its `joinOn` entries are known to have succeeded (a
    /// branch that succeeded stays so until an API operation reopens the workflow).
    join_progress: HashMap<usize, usize>,
    /// Tasks removed (DO_WHILE `keepLastN`) but still in `tasks` until the next compaction;
    /// no index points to them.
    removed: BTreeSet<usize>,
    /// Estimated heap bytes of each task (by position) as last measured: when the list was
    /// built, and for dirty tasks when a commit clears them. Removed tasks count 0.
    sizes: Vec<usize>,
    /// The sum of `sizes`, for the runtime's state cache budget.
    bytes: usize,
}

impl std::ops::Deref for TaskList {
    type Target = [Task];
    fn deref(&self) -> &[Task] {
        &self.tasks
    }
}

impl<'a> IntoIterator for &'a TaskList {
    type Item = &'a Task;
    type IntoIter = std::slice::Iter<'a, Task>;
    fn into_iter(self) -> Self::IntoIter {
        self.tasks.iter()
    }
}

/// Whether the decider still has something to do with a task.
fn is_open(t: &Task) -> bool {
    !t.retried && (!t.executed || !t.status.is_terminal())
}

impl TaskList {
    /// Indexes a workflow's tasks (as loaded from the store); none is dirty.
    pub fn new(tasks: Vec<Task>) -> Self {
        let sizes: Vec<usize> = tasks.iter().map(task_bytes).collect();
        let mut list = TaskList {
            bytes: sizes.iter().sum(),
            sizes,
            tasks,
            ..TaskList::default()
        };
        list.reindex();
        list
    }

    /// Estimated heap bytes of the tasks, as of the last [`TaskList::clear_dirty`] (tasks
    /// changed since are counted at their earlier size, new ones not yet).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn reindex(&mut self) {
        self.by_id.clear();
        self.by_ref.clear();
        self.by_base.clear();
        self.active.clear();
        self.parked.clear();
        self.parked_until.clear();
        self.join_progress.clear();
        self.max_seq = 0;
        for i in 0..self.tasks.len() {
            self.index_new(i);
        }
        let mut nodes = HashMap::new();
        for t in self.tasks.iter().filter(|t| t.task_type == sys::FORK) {
            if let Some(Value::Array(defs)) = t.input_data.get("forkedTaskDefs") {
                for def in defs {
                    if let Ok(node) = serde_json::from_value::<WorkflowTask>(def.clone()) {
                        nodes.insert(node.task_reference_name.clone(), node);
                    }
                }
            }
        }
        self.dynamic_nodes = nodes;
    }

    fn index_new(&mut self, i: usize) {
        let t = &self.tasks[i];
        self.by_id.insert(t.task_id.clone(), i);
        if let Some(prev) = self.by_ref.insert(t.reference_task_name.clone(), i) {
            // A new attempt of a branch that had succeeded: JOIN progress no longer holds.
            if self.tasks[prev].status.is_successful() && self.tasks[prev].status.is_terminal() {
                self.join_progress.clear();
            }
        }
        self.by_base
            .insert(base_ref(&self.tasks[i].reference_task_name).to_string(), i);
        self.max_seq = self.max_seq.max(self.tasks[i].seq);
        if is_open(&self.tasks[i]) {
            self.active.insert(i);
        }
    }

    /// Appends a task (dirty); returns its position.
    pub fn push(&mut self, task: Task) -> usize {
        self.tasks.push(task);
        self.sizes.push(0);
        let i = self.tasks.len() - 1;
        self.index_new(i);
        self.dirty.insert(i);
        i
    }

    /// A task to change: marked dirty and put back in front of the decider. Its id and
    /// reference name must not change (they are indexed).
    pub fn get_mut(&mut self, i: usize) -> &mut Task {
        self.dirty.insert(i);
        self.wake(i);
        &mut self.tasks[i]
    }

    /// Replaces a task with the stored copy of itself (a poll claimed it), not dirty.
    pub fn refresh(&mut self, i: usize, task: Task) {
        if let Some(slot) = self.tasks.get_mut(i) {
            *slot = task;
            self.wake(i);
        }
    }

    fn wake(&mut self, i: usize) {
        if let Some(at) = self.parked_until.remove(&i) {
            self.parked.remove(&(at, i));
        }
        if !self.removed.contains(&i) {
            self.active.insert(i);
        }
    }

    pub fn mark_dirty(&mut self, i: usize) {
        if i < self.tasks.len() {
            self.dirty.insert(i);
        }
    }

    pub fn is_dirty(&self, i: usize) -> bool {
        self.dirty.contains(&i)
    }

    pub fn dirty(&self) -> impl Iterator<Item = &Task> {
        self.dirty.iter().map(|&i| &self.tasks[i])
    }

    /// After a commit: nothing is dirty any more. The tasks that were are measured again
    /// (they are the ones the commit just wrote, so this follows the commit's own cost).
    pub fn clear_dirty(&mut self) {
        for i in std::mem::take(&mut self.dirty) {
            let size = task_bytes(&self.tasks[i]);
            self.bytes = self.bytes + size - self.sizes[i];
            self.sizes[i] = size;
        }
    }

    pub fn find(&self, task_id: &str) -> Option<usize> {
        self.by_id.get(task_id).copied()
    }

    /// The latest attempt with exactly this reference name.
    pub fn latest_by_ref(&self, reference: &str) -> Option<usize> {
        self.by_ref.get(reference).copied()
    }

    /// The latest task whose reference name, loop suffix stripped or not, is `root`.
    pub fn latest_by_root(&self, root: &str) -> Option<usize> {
        let exact = self.by_ref.get(root).copied();
        let base = self.by_base.get(root).copied();
        exact.max(base)
    }

    pub fn next_seq(&self) -> i32 {
        self.max_seq + 1
    }

    /// The first task at or after `from` the decider must look at.
    pub fn next_active(&self, from: usize) -> Option<usize> {
        self.active.range(from..).next().copied()
    }

    /// Active tasks (a copy: the caller may change the list while walking it).
    pub fn active(&self) -> Vec<usize> {
        self.active.iter().copied().collect()
    }

    /// Every open task, active or parked.
    pub fn open(&self) -> Vec<usize> {
        let mut all: Vec<usize> = self.active.iter().copied().collect();
        all.extend(self.parked.iter().map(|&(_, i)| i));
        all.sort_unstable();
        all
    }

    /// Drops a task the decider is done with from the active set, if it is closed.
    pub fn settle(&mut self, i: usize) -> bool {
        let closed = self.tasks.get(i).is_none_or(|t| !is_open(t));
        if closed {
            self.active.remove(&i);
        }
        closed
    }

    /// Takes an open task out of the decider's passes until `until` (or a change).
    pub fn park(&mut self, i: usize, until: i64) {
        if self.active.remove(&i) {
            self.parked.insert((until, i));
            self.parked_until.insert(i, until);
        }
    }

    /// Puts back in front of the decider every parked task whose time has come.
    pub fn unpark_due(&mut self, now: i64) {
        while let Some(&(at, i)) = self.parked.first() {
            if at > now {
                break;
            }
            self.parked.pop_first();
            self.parked_until.remove(&i);
            self.active.insert(i);
        }
    }

    /// The earliest time a parked task can change by itself.
    pub fn earliest_parked(&self) -> Option<i64> {
        self.parked
            .first()
            .map(|&(at, _)| at)
            .filter(|&at| at < i64::MAX)
    }

    /// Whether any task is still open.
    pub fn any_open(&self) -> bool {
        !self.parked.is_empty() || self.active.iter().any(|&i| is_open(&self.tasks[i]))
    }

    pub fn dynamic_node(&self, reference: &str) -> Option<&WorkflowTask> {
        self.dynamic_nodes.get(reference)
    }

    pub fn add_dynamic_nodes(&mut self, nodes: Vec<WorkflowTask>) {
        for n in nodes {
            self.dynamic_nodes.insert(n.task_reference_name.clone(), n);
        }
    }

    pub fn join_progress(&self, join: usize) -> usize {
        self.join_progress.get(&join).copied().unwrap_or(0)
    }

    pub fn set_join_progress(&mut self, join: usize, done: usize) {
        self.join_progress.insert(join, done);
    }

    /// A successful task may stop being so (an API operation reopened the workflow).
    pub fn forget_join_progress(&mut self) {
        self.join_progress.clear();
    }

    /// Removes a task from the workflow (its row is deleted by the commit). The slot is
    /// reclaimed by a later compaction (positions stay valid until then), so removing costs
    /// O(log n) amortised.
    pub fn remove(&mut self, i: usize) {
        let Some(t) = self.tasks.get(i) else {
            return;
        };
        if !self.removed.insert(i) {
            return;
        }
        self.by_id.remove(&t.task_id);
        if self.by_ref.get(&t.reference_task_name) == Some(&i) {
            self.by_ref.remove(&t.reference_task_name);
        }
        let base = base_ref(&t.reference_task_name);
        if self.by_base.get(base) == Some(&i) {
            self.by_base.remove(base);
        }
        self.active.remove(&i);
        if let Some(at) = self.parked_until.remove(&i) {
            self.parked.remove(&(at, i));
        }
        self.dirty.remove(&i);
        self.bytes -= std::mem::take(&mut self.sizes[i]);
    }

    /// Compacts once removed tasks are many (half the list): O(1) amortised per removal.
    /// Positions change, so only between decisions.
    pub fn compact_if_due(&mut self) {
        if self.removed.len() >= COMPACT_MIN && self.removed.len() * 2 >= self.tasks.len() {
            self.compact();
        }
    }

    /// Drops removed tasks from the list now (positions change; every index is rebuilt).
    pub fn compact(&mut self) {
        if self.removed.is_empty() {
            return;
        }
        let removed = std::mem::take(&mut self.removed);
        let dirty = std::mem::take(&mut self.dirty);
        let old = std::mem::take(&mut self.tasks);
        let sizes = std::mem::take(&mut self.sizes);
        for (i, (t, size)) in old.into_iter().zip(sizes).enumerate() {
            if removed.contains(&i) {
                continue;
            }
            if dirty.contains(&i) {
                self.dirty.insert(self.tasks.len());
            }
            self.tasks.push(t);
            self.sizes.push(size);
        }
        let nodes = std::mem::take(&mut self.dynamic_nodes);
        self.reindex();
        self.dynamic_nodes.extend(nodes);
    }

    /// How many tasks the workflow holds (removed ones left out).
    pub fn live_len(&self) -> usize {
        self.tasks.len() - self.removed.len()
    }

    /// Whether the task at `i` was removed (and awaits compaction).
    pub fn is_removed(&self, i: usize) -> bool {
        self.removed.contains(&i)
    }

    /// Tasks in order, removed ones left out.
    pub fn live(&self) -> impl DoubleEndedIterator<Item = (usize, &Task)> {
        self.tasks
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.removed.contains(i))
    }

    /// Gives the tasks up (removed ones dropped).
    pub fn into_vec(mut self) -> Vec<Task> {
        self.compact();
        self.tasks
    }

    /// Whether a status change of `i` to `status` may undo JOIN progress.
    pub(crate) fn status_changing(&mut self, i: usize, status: TaskStatus) {
        let old = self.tasks[i].status;
        if old.is_terminal() && old.is_successful() && old != status {
            self.join_progress.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, reference: &str, seq: i32) -> Task {
        Task {
            task_id: id.into(),
            reference_task_name: reference.into(),
            seq,
            ..Task::default()
        }
    }

    #[test]
    fn indexes_follow_pushes_and_removals() {
        let mut list = TaskList::new(vec![task("a", "x", 1), task("b", "step__1", 2)]);
        assert_eq!(list.find("b"), Some(1));
        assert_eq!(list.latest_by_root("step"), Some(1));
        let c = list.push(task("c", "step__2", 3));
        assert_eq!(list.latest_by_root("step"), Some(c));
        assert_eq!(list.latest_by_ref("step__1"), Some(1));
        assert_eq!(list.next_seq(), 4);
        assert_eq!(list.dirty().count(), 1);
        list.remove(1);
        assert_eq!(list.find("b"), None);
        assert_eq!(list.latest_by_ref("step__1"), None);
        assert_eq!(list.live().count(), 2);
        list.compact();
        assert_eq!(list.len(), 2);
        assert_eq!(list.find("c"), Some(1));
        assert!(list.is_dirty(1));
    }

    #[test]
    fn parked_tasks_come_back_when_due_or_changed() {
        let mut list = TaskList::new(vec![task("a", "x", 1), task("b", "y", 2)]);
        list.park(0, 100);
        list.park(1, i64::MAX);
        assert_eq!(list.next_active(0), None);
        assert_eq!(list.earliest_parked(), Some(100));
        list.unpark_due(100);
        assert_eq!(list.next_active(0), Some(0));
        list.get_mut(1).poll_count = 1;
        assert_eq!(list.next_active(1), Some(1));
        assert!(list.any_open());
    }

    #[test]
    fn bytes_follow_commits_removals_and_compaction() {
        let mut list = TaskList::new(vec![task("a", "x", 1)]);
        let one = task_bytes(&list[0]);
        assert_eq!(list.bytes(), one);
        let b = list.push(task("b", "y", 2));
        assert_eq!(list.bytes(), one, "measured when the commit clears it");
        list.clear_dirty();
        let two = one + task_bytes(&list[b]);
        assert_eq!(list.bytes(), two);
        list.get_mut(b)
            .output_data
            .insert("blob".into(), Value::String("z".repeat(10_000)));
        list.clear_dirty();
        assert!(list.bytes() >= two + 10_000);
        list.remove(b);
        assert_eq!(list.bytes(), one);
        list.compact();
        assert_eq!(list.bytes(), one);
        assert_eq!(list.bytes(), TaskList::new(list.to_vec()).bytes());
    }
}
