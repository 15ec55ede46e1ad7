//! `permissive` tasks (Conductor's WorkflowTask flag): a permissive task that fails for good
//! does not end the workflow at once. What follows it is scheduled as after a success, a
//! JOIN waits for its other branches before failing, and when the workflow would otherwise
//! end successfully it fails, naming every permissive task whose latest attempt failed.
//! `optional` wins over `permissive`: such a task ends COMPLETED_WITH_ERRORS and counts as
//! a success.

use super::*;

/// Whether the definition node of `task` is permissive and not optional.
pub(super) fn is_permissive(st: &ExecState, task: &Task) -> bool {
    st.node_of(task)
        .is_some_and(|n| n.permissive && !n.optional)
}

/// A failed attempt the decider has settled (tolerated, no retry following): it will not
/// change until the workflow is retried or rerun.
pub(super) fn settled_failure(t: &Task) -> bool {
    t.status.is_terminal() && !t.status.is_successful() && t.executed && !t.retried
}

/// The reason the workflow fails with when it would otherwise end successfully, if a
/// permissive task's latest attempt failed: Conductor's wording, one sentence per task in
/// list order, joined by ". ". O(tasks), once, when the workflow ends.
pub(super) fn failed_permissive_reason(st: &ExecState) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for (i, t) in st.tasks.live() {
        if t.retried || st.latest_by_ref(&t.reference_task_name) != Some(i) {
            continue;
        }
        if t.status.is_terminal() && !t.status.is_successful() && is_permissive(st, t) {
            parts.push(format!(
                "Task {} failed with status: {} and reason: '{}'",
                t.task_id,
                t.status.as_str(),
                java_text(t.reason_for_incompletion.as_deref())
            ));
        }
    }
    (!parts.is_empty()).then(|| parts.join(". "))
}
