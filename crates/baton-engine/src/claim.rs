//! The claim rules: what handing a task to a worker does to it. Stores run [`claim`] inside
//! their claim transaction (it is passed to them as `baton_model::claim::ClaimRule`) and only
//! persist its result, so SQLite and PostgreSQL cannot drift apart on what a claim means.

use baton_model::claim::{ClaimTerms, Lease};
use baton_model::{duration, Task, TaskStatus};

/// Claims a SCHEDULED task for `terms.worker_id` at `terms.now`: IN_PROGRESS, first start
/// times kept from an earlier claim, one more poll, the worker's id, any callback delay
/// cleared (the task is running now), and its queue wait. The lease ends at the response
/// timeout, when the task has one. `None`, and no change, for a task in any other state.
pub fn claim(task: &mut Task, terms: &ClaimTerms<'_>) -> Option<Lease> {
    if task.status != TaskStatus::Scheduled {
        return None;
    }
    let now = terms.now;
    task.status = TaskStatus::InProgress;
    if task.start_time == 0 {
        task.start_time = now;
    }
    if task.first_start_time == 0 {
        task.first_start_time = now;
    }
    task.poll_count += 1;
    task.worker_id = terms.worker_id.map(str::to_string);
    task.update_time = now;
    task.callback_after_seconds = 0;
    task.queue_wait_time = now.saturating_sub(task.scheduled_time);
    Some(Lease {
        wake_workflow_by: (task.response_timeout_seconds > 0)
            .then(|| duration::after_secs(now, task.response_timeout_seconds)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduled(response_timeout_seconds: i64) -> Task {
        Task {
            task_id: "t".into(),
            status: TaskStatus::Scheduled,
            scheduled_time: 1_000,
            response_timeout_seconds,
            callback_after_seconds: 30,
            ..Default::default()
        }
    }

    #[test]
    fn a_claim_starts_the_task_and_leases_it_until_the_response_timeout() {
        let mut t = scheduled(10);
        let lease = claim(
            &mut t,
            &ClaimTerms {
                worker_id: Some("w1"),
                now: 4_000,
            },
        );
        assert_eq!(
            lease,
            Some(Lease {
                wake_workflow_by: Some(14_000)
            })
        );
        assert_eq!(t.status, TaskStatus::InProgress);
        assert_eq!((t.start_time, t.first_start_time), (4_000, 4_000));
        assert_eq!(t.poll_count, 1);
        assert_eq!(t.worker_id.as_deref(), Some("w1"));
        assert_eq!(t.queue_wait_time, 3_000);
        assert_eq!(t.callback_after_seconds, 0);
    }

    #[test]
    fn a_task_without_response_timeout_has_an_open_lease() {
        let mut t = scheduled(0);
        let lease = claim(
            &mut t,
            &ClaimTerms {
                worker_id: None,
                now: 2_000,
            },
        );
        assert_eq!(
            lease,
            Some(Lease {
                wake_workflow_by: None
            })
        );
        assert_eq!(t.worker_id, None);
    }

    #[test]
    fn a_reclaimed_task_keeps_its_first_start_time() {
        let mut t = scheduled(0);
        t.start_time = 500;
        t.first_start_time = 500;
        t.poll_count = 2;
        claim(
            &mut t,
            &ClaimTerms {
                worker_id: Some("w2"),
                now: 9_000,
            },
        );
        assert_eq!(
            (t.start_time, t.first_start_time, t.poll_count),
            (500, 500, 3)
        );
    }

    #[test]
    fn only_scheduled_tasks_can_be_claimed() {
        for status in [
            TaskStatus::InProgress,
            TaskStatus::Completed,
            TaskStatus::Canceled,
        ] {
            let mut t = scheduled(10);
            t.status = status;
            let before = t.clone();
            assert_eq!(
                claim(
                    &mut t,
                    &ClaimTerms {
                        worker_id: Some("w"),
                        now: 5
                    }
                ),
                None
            );
            assert_eq!(t, before);
        }
    }
}
