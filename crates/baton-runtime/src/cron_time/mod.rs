//! Cron expressions and time zones of schedules: parsing (with the errors naming the field)
//! and the due times they give.

use baton_store::Millis;
use chrono::{DateTime, FixedOffset, TimeZone};

/// Upper bound on next-run computations for one request.
const MAX_NEXT_TIMES: usize = 1000;

mod spring;
mod spring_days;

pub use spring::{parse_cron, CronSchedule};

/// A schedule's time zone: an IANA zone (`Europe/Berlin`, whose offset follows its daylight
/// saving rules, through chrono-tz) or a fixed offset (`UTC`, `+02:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleZone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

impl ScheduleZone {
    /// Seconds the zone's local time is ahead of UTC at `ms` (epoch milliseconds).
    pub fn offset_seconds_at(&self, ms: Millis) -> i32 {
        use chrono::Offset;
        let Some(t) = DateTime::from_timestamp_millis(ms) else {
            return 0;
        };
        match self {
            ScheduleZone::Named(z) => t.with_timezone(z).offset().fix().local_minus_utc(),
            ScheduleZone::Fixed(z) => z.local_minus_utc(),
        }
    }
}

/// Parses a zone: an IANA name (`Europe/Berlin`, `America/New_York`, `Etc/GMT+2`), `UTC`
/// (also empty, `GMT`, `Z`), or a fixed offset such as `+02:00`, `-0530`, `UTC+2`. Errors
/// name the field `zoneId`.
pub fn parse_zone(zone: &str) -> std::result::Result<ScheduleZone, String> {
    if let Ok(tz) = zone.trim().parse::<chrono_tz::Tz>() {
        return Ok(ScheduleZone::Named(tz));
    }
    parse_fixed_offset(zone).map(ScheduleZone::Fixed)
}

fn parse_fixed_offset(zone: &str) -> std::result::Result<FixedOffset, String> {
    let bad = || {
        format!(
            "zoneId: '{zone}' is not a time zone; use an IANA name such as Europe/Berlin, UTC, \
             or a fixed offset such as +02:00"
        )
    };
    let z = zone.trim();
    let upper = z.to_ascii_uppercase();
    let rest = ["ETC/UTC", "ETC/GMT", "UTC", "UCT", "GMT", "Z"]
        .iter()
        .find_map(|p| upper.strip_prefix(p))
        .unwrap_or(&upper);
    if rest.is_empty() {
        return FixedOffset::east_opt(0).ok_or_else(bad);
    }
    let (sign, digits) = match rest.as_bytes()[0] {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        // ASCII only: split_at on a byte that is not a character boundary would panic.
        None if digits.len() == 4 && digits.is_ascii() => digits.split_at(2),
        None => (digits, "0"),
    };
    let ok = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !ok(h) || !ok(m) {
        return Err(bad());
    }
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 18 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// Due times strictly after `after` (epoch ms), not before `start` and not after `end`, at
/// most `limit` of them.
pub fn next_run_times(
    cron: &CronSchedule,
    zone: ScheduleZone,
    after: Millis,
    start: Option<Millis>,
    end: Option<Millis>,
    limit: usize,
) -> Vec<Millis> {
    let from = start.map_or(after, |s| after.max(s.saturating_sub(1)));
    times_after(cron, zone, from)
        .take_while(|t| end.is_none_or(|e| *t <= e))
        .take(limit.min(MAX_NEXT_TIMES))
        .collect()
}

/// Due times strictly after `after`, unbounded.
///
/// Across a daylight saving change: a time the clocks skip runs at the first instant after
/// the gap; a time they repeat runs once, at its first occurrence (croner's rules).
pub(crate) fn times_after(
    cron: &CronSchedule,
    zone: ScheduleZone,
    after: Millis,
) -> Box<dyn Iterator<Item = Millis> + '_> {
    // Past the calendar's range (a start time of Long.MAX_VALUE) nothing is due; starting
    // from 1970 instead would skip through every cron time up to it.
    let Some(from) = DateTime::from_timestamp_millis(after) else {
        return Box::new(std::iter::empty());
    };
    let times = match zone {
        ScheduleZone::Named(z) => in_zone(cron, from.with_timezone(&z)),
        ScheduleZone::Fixed(z) => in_zone(cron, from.with_timezone(&z)),
    };
    Box::new(times.skip_while(move |t| *t <= after))
}

/// The due times of both parts of `cron` after `from`, merged in order.
fn in_zone<'a, Z: TimeZone + 'a>(
    cron: &'a CronSchedule,
    from: DateTime<Z>,
) -> Box<dyn Iterator<Item = Millis> + 'a> {
    let plain = cron.plain.as_ref().map(|c| {
        c.iter_after(from.clone())
            .map(|t| t.timestamp_millis())
            .peekable()
    });
    let computed = cron
        .computed
        .as_ref()
        .map(|f| f.times_after(from).map(|t| t.timestamp_millis()).peekable());
    match (plain, computed) {
        (Some(mut a), Some(mut b)) => Box::new(std::iter::from_fn(move || {
            match (a.peek().copied(), b.peek().copied()) {
                // A day both parts name (`15,L-3` on the 15th) runs once.
                (Some(x), Some(y)) if x == y => {
                    b.next();
                    a.next()
                }
                (Some(x), Some(y)) if y < x => b.next(),
                (Some(_), _) => a.next(),
                (None, _) => b.next(),
            }
        })),
        (Some(a), None) => Box::new(a),
        (None, Some(b)) => Box::new(b),
        (None, None) => Box::new(std::iter::empty()),
    }
}

#[cfg(test)]
mod tests;
