//! Durations and counts that clients send: the one place their limits live.
//!
//! Policy (see `docs/adr/0007-durations-saturate-at-ten-years.md`):
//!
//! * A negative duration or count is rejected with a 400 naming the field (the validators call
//!   [`check_non_negative`]).
//! * A duration above [`MAX_DURATION_SECONDS`] (ten years) is accepted and stored as sent, so a
//!   definition reads back unchanged, but it *acts* as ten years: effectively "never". Java
//!   clients that write `Long.MAX_VALUE` for "no timeout" get exactly that.
//! * Every conversion of seconds to milliseconds and every "time + duration" goes through
//!   [`secs_to_ms`] and [`after`], which clamp and saturate, so no value can overflow into the
//!   past ("due now").

/// The longest duration Baton acts on: ten years of 365 days, in seconds (315,360,000).
/// Longer durations behave as this one.
pub const MAX_DURATION_SECONDS: i64 = 10 * 365 * 86_400;

/// [`MAX_DURATION_SECONDS`] in milliseconds.
pub const MAX_DURATION_MS: i64 = MAX_DURATION_SECONDS * 1000;

/// Seconds to milliseconds, clamped to `0..=MAX_DURATION_MS` (a negative value counts as 0).
pub fn secs_to_ms(secs: i64) -> i64 {
    secs.clamp(0, MAX_DURATION_SECONDS) * 1000
}

/// [`secs_to_ms`] of the sum of several second counts (e.g. `responseTimeoutSeconds +
/// callbackAfterSeconds`), without overflow.
pub fn sum_secs_to_ms(parts: &[i64]) -> i64 {
    secs_to_ms(
        parts
            .iter()
            .fold(0_i64, |acc, s| acc.saturating_add((*s).max(0))),
    )
}

/// The instant `ms` milliseconds after `at` (epoch ms), with `ms` clamped to
/// `0..=MAX_DURATION_MS` and the sum saturating.
pub fn after(at: i64, ms: i64) -> i64 {
    at.saturating_add(ms.clamp(0, MAX_DURATION_MS))
}

/// The instant `secs` seconds after `at`; see [`after`].
pub fn after_secs(at: i64, secs: i64) -> i64 {
    after(at, secs_to_ms(secs))
}

/// `Err("<field> must be >= 0 (got <v>)")` for a negative value.
pub fn check_non_negative(field: &str, value: i64) -> Result<(), String> {
    if value < 0 {
        Err(format!("{field} must be >= 0 (got {value})"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_clamp_and_saturate() {
        assert_eq!(secs_to_ms(2), 2000);
        assert_eq!(secs_to_ms(-5), 0);
        assert_eq!(secs_to_ms(i64::MAX), MAX_DURATION_MS);
        assert_eq!(sum_secs_to_ms(&[i64::MAX, i64::MAX]), MAX_DURATION_MS);
        assert_eq!(sum_secs_to_ms(&[1, 2]), 3000);
        assert_eq!(after(i64::MAX - 1, MAX_DURATION_MS), i64::MAX);
        assert_eq!(after(1000, -5), 1000);
        assert_eq!(after_secs(0, i64::MAX), MAX_DURATION_MS);
    }

    #[test]
    fn negatives_name_the_field() {
        assert!(check_non_negative("retryCount", 0).is_ok());
        let e = check_non_negative("retryCount", -1)
            .err()
            .unwrap_or_default();
        assert!(e.contains("retryCount") && e.contains("-1"), "{e}");
    }
}
