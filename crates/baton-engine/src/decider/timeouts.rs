//! Timeouts and timers: task and workflow timeouts, WAIT, and the next wake-up time.

use super::*;

/// When a WAIT task is due, or an error text if its input is unusable.
pub(super) fn wait_due(t: &Task) -> Result<Option<i64>, String> {
    let duration = t.input_data.get("duration").and_then(Value::as_str);
    let until = t
        .input_data
        .get("until")
        .or_else(|| t.input_data.get("wait_until"))
        .and_then(Value::as_str);
    match (duration, until) {
        (Some(_), Some(_)) => Err("WAIT cannot have both 'duration' and 'until'".into()),
        (Some(d), None) => sys::parse_duration(d)
            .map(|ms| Some(after(t.scheduled_time, ms)))
            .ok_or_else(|| format!("WAIT duration '{d}' is not valid (e.g. '30s', '1d 2h 5m')")),
        (None, Some(u)) => sys::parse_until(u)
            .map(Some)
            .ok_or_else(|| format!("WAIT until '{u}' is not valid (use 'yyyy-MM-dd HH:mm z')")),
        (None, None) => Ok(None),
    }
}

pub(super) fn evaluate_wait(st: &mut ExecState, i: usize) -> bool {
    match wait_due(&st.tasks[i]) {
        Err(reason) => {
            st.task_mut(i).reason_for_incompletion = Some(reason);
            st.set_status(i, TaskStatus::FailedWithTerminalError);
            true
        }
        Ok(Some(due)) if due <= st.now => {
            st.set_status(i, TaskStatus::Completed);
            true
        }
        _ => false,
    }
}

/// What a worker task's timeouts (§4.5) say at `now`.
enum Timeout {
    None,
    /// responseTimeoutSeconds passed since the last update (any policy).
    Response(i64),
    /// timeoutSeconds (true) or pollTimeoutSeconds (false) passed, or (`total`)
    /// totalTimeoutSeconds since the first attempt was scheduled; the policy decides.
    Task {
        whole: bool,
        policy: TimeoutPolicy,
        seconds: i64,
        total: bool,
    },
}

/// WAIT and HUMAN wait for an update from outside, not for a worker: of their task
/// definition's timeouts only `timeoutSeconds` (with its policy) applies, as in Conductor;
/// there is no worker to answer a response or poll timeout.
fn waits_outside(task_type: &str) -> bool {
    task_type == sys::WAIT || task_type == sys::HUMAN
}

/// When the task's `totalTimeoutSeconds` (the budget of all its attempts, counted from when
/// the first was scheduled) runs out, for an open worker task under a policy that acts. A
/// task still waiting in the queue spends the budget too (and the store's claim only wakes
/// its workflow by the response timeout: the wake-up must be set while it waits).
fn total_due(st: &ExecState, t: &Task, td: &TaskDef) -> Option<i64> {
    (td.total_timeout_seconds > 0
        && td.timeout_policy != TimeoutPolicy::AlertOnly
        && matches!(t.status, TaskStatus::InProgress | TaskStatus::Scheduled)
        && !waits_outside(&t.task_type))
    .then(|| after_secs(first_scheduled_time(st, t), td.total_timeout_seconds))
}

/// The earliest time one of a worker task's timeouts can change it (`None`: never).
pub(super) fn worker_due(st: &ExecState, t: &Task, td: &TaskDef) -> Option<i64> {
    let start_delay = secs_to_ms(i64::from(t.start_delay_in_seconds));
    let worker = !waits_outside(&t.task_type);
    let mut due: Option<i64> = None;
    let mut at = |d: i64| due = Some(due.map_or(d, |x| x.min(d)));
    if let Some(d) = total_due(st, t, td) {
        at(d);
    }
    if worker && t.status == TaskStatus::InProgress && td.response_timeout_seconds > 0 {
        at(after(
            t.update_time,
            sum_secs_to_ms(&[td.response_timeout_seconds, t.callback_after_seconds]),
        ));
    }
    if td.timeout_policy != TimeoutPolicy::AlertOnly {
        if td.timeout_seconds > 0 && t.start_time > 0 {
            at(after_secs(
                after(t.start_time, start_delay),
                td.timeout_seconds,
            ));
        }
        let pts = i64::from(td.poll_timeout_seconds.unwrap_or(0));
        if worker && t.status == TaskStatus::Scheduled && pts > 0 {
            at(after(
                after(t.scheduled_time, start_delay),
                sum_secs_to_ms(&[pts, t.callback_after_seconds]),
            ));
        }
    }
    due
}

fn timeout_of(st: &ExecState, t: &Task, def: &TaskDef, now: i64) -> Timeout {
    let worker = !waits_outside(&t.task_type);
    if total_due(st, t, def).is_some_and(|due| now >= due) {
        return Timeout::Task {
            whole: true,
            policy: def.timeout_policy,
            seconds: def.total_timeout_seconds,
            total: true,
        };
    }
    if worker
        && t.status == TaskStatus::InProgress
        && def.response_timeout_seconds > 0
        && now.saturating_sub(t.update_time)
            >= sum_secs_to_ms(&[def.response_timeout_seconds, t.callback_after_seconds])
    {
        return Timeout::Response(def.response_timeout_seconds);
    }
    let start_delay = secs_to_ms(i64::from(t.start_delay_in_seconds));
    let timed_out = def.timeout_seconds > 0
        && t.start_time > 0
        && now >= after_secs(after(t.start_time, start_delay), def.timeout_seconds);
    let pts = i64::from(def.poll_timeout_seconds.unwrap_or(0));
    let poll_timed_out = worker
        && t.status == TaskStatus::Scheduled
        && pts > 0
        && now
            >= after(
                after(t.scheduled_time, start_delay),
                sum_secs_to_ms(&[pts, t.callback_after_seconds]),
            );
    if !(timed_out || poll_timed_out) {
        return Timeout::None;
    }
    Timeout::Task {
        whole: timed_out,
        policy: def.timeout_policy,
        seconds: if timed_out { def.timeout_seconds } else { pts },
        total: false,
    }
}

/// Applies task timeouts (§4.5) to worker tasks, and to WAIT and HUMAN tasks (see
/// [`waits_outside`]). Returns true if the task changed.
pub(super) fn check_task_timeouts(st: &mut ExecState, i: usize) -> bool {
    let t = &st.tasks[i];
    if sys::is_system(&t.task_type) && !waits_outside(&t.task_type) {
        return false;
    }
    let timeout = timeout_of(st, t, &st.task_def_of(t), st.now);
    let what = match timeout {
        Timeout::None => return false,
        Timeout::Response(seconds) => {
            let reason = format!(
                "responseTimeout: {} exceeded for the taskId: {} with Task Definition: {}",
                seconds, t.task_id, t.task_def_name
            );
            st.task_mut(i).reason_for_incompletion = Some(reason);
            st.set_status(i, TaskStatus::TimedOut);
            return true;
        }
        Timeout::Task {
            total: true,
            seconds,
            ..
        } => {
            format!("Task total timeout of {seconds} seconds (all attempts) exceeded")
        }
        Timeout::Task {
            whole: true,
            seconds,
            ..
        } => {
            format!("Task timed out after {seconds} seconds")
        }
        Timeout::Task { seconds, .. } => format!("Task poll timed out after {seconds} seconds"),
    };
    let Timeout::Task { policy, .. } = timeout else {
        return false;
    };
    match policy {
        TimeoutPolicy::AlertOnly => false,
        TimeoutPolicy::Retry => {
            st.task_mut(i).reason_for_incompletion =
                Some(format!("{what}. Timeout policy configured to RETRY"));
            st.set_status(i, TaskStatus::TimedOut);
            true
        }
        TimeoutPolicy::TimeOutWf => {
            let reason = format!("{what}. Timeout policy configured to TIME_OUT_WF");
            st.task_mut(i).reason_for_incompletion = Some(reason.clone());
            st.set_status(i, TaskStatus::TimedOut);
            st.task_mut(i).executed = true;
            fail_workflow(st, WorkflowStatus::TimedOut, reason, Some(i));
            true
        }
    }
}

/// Takes a waiting task out of the decider's passes when nothing but a change to it, or
/// its own timeout, can move it: worker and HUMAN tasks until their earliest timeout, system
/// tasks that only an update completes (HTTP, EVENT…) for good. JOIN, DO_WHILE, WAIT and
/// SUB_WORKFLOW stay: they depend on other tasks or on the clock.
pub(super) fn park_if_quiet(st: &mut ExecState, i: usize) {
    let t = &st.tasks[i];
    let until = match t.task_type.as_str() {
        sys::JOIN
        | sys::EXCLUSIVE_JOIN
        | sys::DO_WHILE
        | sys::WHILE
        | sys::WAIT
        | sys::SUB_WORKFLOW => return,
        sys::HUMAN => worker_due(st, t, &st.task_def_of(t)).unwrap_or(i64::MAX),
        ty if sys::is_system(ty) => i64::MAX,
        _ => worker_due(st, t, &st.task_def_of(t)).unwrap_or(i64::MAX),
    };
    st.tasks.park(i, until);
}

pub(super) fn check_workflow_timeout(st: &mut ExecState) -> bool {
    let def = st.def.clone();
    if def.timeout_seconds <= 0 || def.timeout_policy != WorkflowTimeoutPolicy::TimeOutWf {
        return false;
    }
    let base = if st.workflow.last_retried_time > 0 {
        st.workflow.last_retried_time
    } else {
        st.workflow.create_time
    };
    let elapsed = st.now.saturating_sub(base);
    if elapsed < secs_to_ms(def.timeout_seconds) {
        return false;
    }
    let reason = format!(
        "Workflow timed out after {} seconds. Timeout configured as {} seconds. Timeout policy configured to TIME_OUT_WF",
        elapsed / 1000,
        def.timeout_seconds
    );
    fail_workflow(st, WorkflowStatus::TimedOut, reason, None);
    true
}

/// The earliest time a timeout or timer can change this workflow.
pub(super) fn compute_wake(st: &mut ExecState) {
    let def = st.def.clone();
    if def.timeout_seconds > 0 {
        let base = if st.workflow.last_retried_time > 0 {
            st.workflow.last_retried_time
        } else {
            st.workflow.create_time
        };
        let due = after_secs(base, def.timeout_seconds);
        // TIME_OUT_WF ends the workflow then. ALERT_ONLY keeps it running, but it is still
        // decided once at its timeout, so the passing of the timeout is observed (and can be
        // reported) rather than noticed only if something else happens to wake it.
        if def.timeout_policy == WorkflowTimeoutPolicy::TimeOutWf || st.now < due {
            st.wake_at(due);
        }
    }
    let mut dues = Vec::new();
    if let Some(at) = st.tasks.earliest_parked() {
        dues.push(at);
    }
    // Parked tasks are covered above; the rest of the open tasks are few.
    for i in st.tasks.active() {
        let t = &st.tasks[i];
        if t.retried || t.status.is_terminal() {
            continue;
        }
        if t.task_type == sys::WAIT {
            if let Ok(Some(due)) = wait_due(t) {
                dues.push(due);
            }
            dues.extend(worker_due(st, t, &st.task_def_of(t)));
            continue;
        }
        if t.task_type == sys::SUB_WORKFLOW && t.status == TaskStatus::InProgress {
            // A child wakes its parent when it ends; this is the safety net should that
            // wake-up be lost (the parent row rewritten in between, or a crash).
            dues.push(after(st.now, SUB_WORKFLOW_CHECK_MS));
            continue;
        }
        if sys::is_system(&t.task_type) {
            continue;
        }
        dues.extend(worker_due(st, t, &st.task_def_of(t)));
    }
    for d in dues {
        st.wake_at(d);
    }
}
