//! Retry-delay arithmetic (CONDUCTOR-API.md §4.4).

use baton_model::{RetryLogic, TaskDef};

/// Delay in milliseconds before the retry of an attempt whose `retryCount` was `n`
/// (0 for the first failure). `jitter` is a uniform sample in `0..=backoffJitterMs`.
pub fn retry_delay_ms(def: &TaskDef, n: i32, jitter_ms: i64) -> i64 {
    let d = i64::from(def.retry_delay_seconds.max(0));
    let n = n.max(0);
    let secs: i64 = match def.retry_logic {
        RetryLogic::Fixed => d,
        RetryLogic::ExponentialBackoff => {
            let factor = 1_i64.checked_shl(n as u32).unwrap_or(i64::MAX);
            d.saturating_mul(factor)
        }
        RetryLogic::LinearBackoff => d
            .saturating_mul(i64::from(def.backoff_scale_factor.max(1)))
            .saturating_mul(i64::from(n) + 1),
    };
    // Conductor computes in int and clamps overflow to INT_MAX.
    let mut secs = secs.min(i64::from(i32::MAX));
    if def.max_retry_delay_seconds > 0 {
        secs = secs.min(i64::from(def.max_retry_delay_seconds));
    }
    secs.saturating_mul(1000).saturating_add(jitter_ms.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(logic: RetryLogic, d: i32, s: i32) -> TaskDef {
        let mut t = TaskDef::named("t");
        t.retry_logic = logic;
        t.retry_delay_seconds = d;
        t.backoff_scale_factor = s;
        t
    }

    #[test]
    fn fixed_is_constant() {
        let t = def(RetryLogic::Fixed, 10, 2);
        assert_eq!(
            [0, 1, 2].map(|n| retry_delay_ms(&t, n, 0)),
            [10_000, 10_000, 10_000]
        );
    }

    #[test]
    fn exponential_doubles() {
        let t = def(RetryLogic::ExponentialBackoff, 10, 2);
        assert_eq!(
            [0, 1, 2].map(|n| retry_delay_ms(&t, n, 0)),
            [10_000, 20_000, 40_000]
        );
    }

    #[test]
    fn linear_scales() {
        let t = def(RetryLogic::LinearBackoff, 10, 2);
        assert_eq!(
            [0, 1, 2].map(|n| retry_delay_ms(&t, n, 0)),
            [20_000, 40_000, 60_000]
        );
    }

    #[test]
    fn overflow_clamps_and_cap_applies() {
        let mut t = def(RetryLogic::ExponentialBackoff, 1000, 1);
        assert_eq!(retry_delay_ms(&t, 200, 0), i64::from(i32::MAX) * 1000);
        t.max_retry_delay_seconds = 30;
        assert_eq!(retry_delay_ms(&t, 5, 0), 30_000);
        t.retry_logic = RetryLogic::Fixed;
        assert_eq!(retry_delay_ms(&t, 0, 7), 30_007);
    }
}
