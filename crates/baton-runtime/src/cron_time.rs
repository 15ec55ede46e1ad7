//! Cron expressions and time zones of schedules: parsing (with the errors naming the field)
//! and the due times they give.

use baton_store::Millis;
use chrono::{DateTime, FixedOffset};
use std::str::FromStr;

/// Upper bound on next-run computations for one request.
const MAX_NEXT_TIMES: usize = 1000;

/// Parses a cron expression: 6 fields (second minute hour day-of-month month day-of-week, as
/// in Spring and Orkes), 7 (with a year), or 5 (standard cron, minute first; second 0).
/// Numeric days of the week follow cron and Spring: 0 or 7 is Sunday, 1 Monday; names
/// (`MON-FRI`) work too. Errors name the field `cronExpression`.
pub fn parse_cron(expr: &str) -> std::result::Result<cron::Schedule, String> {
    let mut fields: Vec<String> = expr.split_whitespace().map(str::to_string).collect();
    if fields.len() == 5 {
        fields.insert(0, "0".to_string());
    }
    if !(6..=7).contains(&fields.len()) {
        return Err(format!(
            "cronExpression: '{expr}' must have 6 fields (second minute hour day-of-month month \
             day-of-week) or 5 (minute first)"
        ));
    }
    fields[5] = translate_day_of_week(&fields[5]);
    cron::Schedule::from_str(&fields.join(" "))
        .map_err(|e| format!("cronExpression: '{expr}' is not a valid cron expression: {e}"))
}

/// Maps numeric days of the week from the cron/Spring numbering (0 and 7 Sunday, 1 Monday …)
/// to the `cron` crate's (1 Sunday … 7 Saturday). Names and `*`/`?` are left alone.
fn translate_day_of_week(field: &str) -> String {
    fn day(part: &str) -> Option<u32> {
        part.parse::<u32>()
            .ok()
            .filter(|n| *n <= 7)
            .map(|n| n % 7 + 1)
    }
    let items: Vec<String> = field
        .split(',')
        .map(|item| {
            let (base, step) = match item.split_once('/') {
                Some((b, s)) => (b, Some(s)),
                None => (item, None),
            };
            let base = match base.split_once('-') {
                Some((a, b)) => match (day(a), day(b)) {
                    // `5-7` (Friday to Sunday) wraps round in the crate's numbering.
                    (Some(x), Some(y)) if x > y && step.is_none() => {
                        if y == 1 {
                            format!("{x}-7,1")
                        } else {
                            format!("{x}-7,1-{y}")
                        }
                    }
                    (Some(x), Some(y)) => format!("{x}-{y}"),
                    (Some(x), None) => format!("{x}-{b}"),
                    (None, Some(y)) => format!("{a}-{y}"),
                    (None, None) => base.to_string(),
                },
                None => day(base).map_or_else(|| base.to_string(), |d| d.to_string()),
            };
            match step {
                Some(s) => format!("{base}/{s}"),
                None => base,
            }
        })
        .collect();
    items.join(",")
}

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
    cron: &cron::Schedule,
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
pub(crate) fn times_after(
    cron: &cron::Schedule,
    zone: ScheduleZone,
    after: Millis,
) -> Box<dyn Iterator<Item = Millis> + '_> {
    // Past the calendar's range (a start time of Long.MAX_VALUE) nothing is due; starting
    // from 1970 instead would skip through every cron time up to it.
    let Some(from) = DateTime::from_timestamp_millis(after) else {
        return Box::new(std::iter::empty());
    };
    let times: Box<dyn Iterator<Item = Millis> + '_> = match zone {
        ScheduleZone::Named(z) => Box::new(
            cron.after(&from.with_timezone(&z))
                .map(|t| t.timestamp_millis()),
        ),
        ScheduleZone::Fixed(z) => Box::new(
            cron.after(&from.with_timezone(&z))
                .map(|t| t.timestamp_millis()),
        ),
    };
    Box::new(times.skip_while(move |t| *t <= after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> ScheduleZone {
        ScheduleZone::Fixed(FixedOffset::east_opt(0).unwrap())
    }

    #[test]
    fn five_and_six_fields() {
        let every_second = parse_cron("*/1 * * * * *").unwrap();
        assert_eq!(
            next_run_times(&every_second, utc(), 10_500, None, None, 3),
            vec![11_000, 12_000, 13_000]
        );
        assert_eq!(
            next_run_times(&every_second, utc(), 11_000, None, None, 1),
            vec![12_000]
        );
        let hourly = parse_cron("0 * * * *").unwrap();
        assert_eq!(
            next_run_times(&hourly, utc(), 0, None, None, 2),
            vec![3_600_000, 7_200_000]
        );
        let err = parse_cron("not a cron").unwrap_err();
        assert!(err.starts_with("cronExpression:"), "{err}");
        let err = parse_cron("* * * * * * * *").unwrap_err();
        assert!(err.starts_with("cronExpression:"), "{err}");
        assert!(parse_cron("0 0 61 * * *").is_err());
    }

    #[test]
    fn start_end_and_limit() {
        let c = parse_cron("*/1 * * * * *").unwrap();
        assert_eq!(
            next_run_times(&c, utc(), 0, Some(5_000), Some(7_000), 10),
            vec![5_000, 6_000, 7_000]
        );
    }

    #[test]
    fn start_beyond_the_calendar_has_no_runs() {
        let c = parse_cron("*/1 * * * * *").unwrap();
        assert!(next_run_times(&c, utc(), 0, Some(i64::MAX), None, 1).is_empty());
        assert!(next_run_times(&c, utc(), i64::MAX, None, None, 1).is_empty());
    }

    #[test]
    fn days_of_week_use_cron_numbering() {
        // 1970-01-05 was a Monday.
        let monday = 4 * 86_400_000;
        let weekdays = parse_cron("0 9 * * 1-5").unwrap();
        let next = next_run_times(&weekdays, utc(), monday, None, None, 6);
        let days: Vec<i64> = next.iter().map(|t| t / 86_400_000).collect();
        assert_eq!(days, vec![4, 5, 6, 7, 8, 11]);
        let named = parse_cron("0 0 9 ? * MON-FRI").unwrap();
        assert_eq!(next_run_times(&named, utc(), monday, None, None, 6), next);
        let sunday = parse_cron("0 0 * * 0").unwrap();
        assert_eq!(
            next_run_times(&sunday, utc(), monday, None, None, 1)[0] / 86_400_000,
            10
        );
        let weekend = parse_cron("0 0 * * 6-7").unwrap();
        let days: Vec<i64> = next_run_times(&weekend, utc(), monday, None, None, 2)
            .iter()
            .map(|t| t / 86_400_000)
            .collect();
        assert_eq!(days, vec![9, 10]);
        assert_eq!(translate_day_of_week("5-7"), "6-7,1");
        assert_eq!(translate_day_of_week("*/2"), "*/2");
        assert_eq!(translate_day_of_week("MON,3"), "MON,4");
    }

    #[test]
    fn zones() {
        let at = |z: &str| parse_zone(z).unwrap().offset_seconds_at(0);
        assert_eq!(at("UTC"), 0);
        assert_eq!(at(""), 0);
        assert_eq!(at("+02:00"), 7200);
        assert_eq!(at("UTC-0530"), -19800);
        assert_eq!(at("GMT+2"), 7200);
        // IANA names, with their daylight saving time (and Etc/GMT+2's inverted sign).
        // Any text is an error, never a panic (a multi-byte character among the digits).
        assert!(parse_zone("+€1").is_err());
        assert!(parse_zone("GMT-é1").is_err());
        let berlin = parse_zone("Europe/Berlin").unwrap();
        assert_eq!(berlin.offset_seconds_at(1_736_000_000_000), 3600, "January");
        assert_eq!(berlin.offset_seconds_at(1_752_000_000_000), 7200, "July");
        assert_eq!(at("Etc/GMT+2"), -7200);
        for bad in ["Mars/Olympus", "+25:00", "+1:2:3", "UTC+"] {
            let err = parse_zone(bad).unwrap_err();
            assert!(err.starts_with("zoneId:"), "{bad}: {err}");
        }
        // 09:00 at +02:00 is 07:00 UTC.
        let c = parse_cron("0 9 * * *").unwrap();
        let t = next_run_times(&c, parse_zone("+02:00").unwrap(), 0, None, None, 1)[0];
        assert_eq!(t, 7 * 3_600_000);
        // 09:00 in New York is 14:00 UTC in January and 13:00 UTC in July.
        let ny = parse_zone("America/New_York").unwrap();
        let jan = 1_735_689_600_000; // 2025-01-01T00:00:00Z
        let jul = 1_751_328_000_000; // 2025-07-01T00:00:00Z
        assert_eq!(
            next_run_times(&c, ny, jan, None, None, 1)[0],
            jan + 14 * 3_600_000
        );
        assert_eq!(
            next_run_times(&c, ny, jul, None, None, 1)[0],
            jul + 13 * 3_600_000
        );
    }
}
