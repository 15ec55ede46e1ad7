//! Cron expressions and time zones of schedules: parsing (with the errors naming the field)
//! and the due times they give.

use baton_store::Millis;
use chrono::{DateTime, FixedOffset};

/// Upper bound on next-run computations for one request.
const MAX_NEXT_TIMES: usize = 1000;

/// A parsed cron expression.
pub type CronSchedule = croner::Cron;

/// Parses a cron expression as Conductor's scheduler (Spring's `CronExpression`) reads it:
/// 6 fields, second minute hour day-of-month month day-of-week; also 7 (with a year) and 5
/// (standard cron, minute first; second 0). Days of the week: 0 or 7 is Sunday, 1 Monday, or
/// names (`MON-FRI`). Spring's extensions work: `L` (last day of the month, `5L` the last
/// Friday), `W` (`15W`, the weekday nearest the 15th; `LW`, the last weekday), `#` (`MON#2`,
/// the second Monday) and `?`. When both day fields are restricted a day must match both, as
/// in Spring. Errors name the field `cronExpression` and use Spring's wording for the count.
pub fn parse_cron(expr: &str) -> std::result::Result<CronSchedule, String> {
    let mut fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() == 5 {
        fields.insert(0, "0");
    }
    if !(6..=7).contains(&fields.len()) {
        return Err(format!(
            "cronExpression: Cron expression must consist of 6 fields (found {} in \"{expr}\")",
            expr.split_whitespace().count()
        ));
    }
    // croner reads only ASCII; anything else is refused here, never handed on.
    if !expr.is_ascii() {
        return Err(format!(
            "cronExpression: Invalid characters in cron expression \"{expr}\""
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .year(if fields.len() == 7 {
            croner::parser::Year::Required
        } else {
            croner::parser::Year::Disallowed
        })
        .dom_and_dow(true)
        .build()
        .parse(&fields.join(" "))
        .map_err(|e| format!("cronExpression: {e} in cron expression \"{expr}\""))
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
    let times: Box<dyn Iterator<Item = Millis> + '_> = match zone {
        ScheduleZone::Named(z) => Box::new(
            cron.iter_after(from.with_timezone(&z))
                .map(|t| t.timestamp_millis()),
        ),
        ScheduleZone::Fixed(z) => Box::new(
            cron.iter_after(from.with_timezone(&z))
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
        let wrapping = parse_cron("0 0 * * 5-7").unwrap();
        let days: Vec<i64> = next_run_times(&wrapping, utc(), monday, None, None, 3)
            .iter()
            .map(|t| t / 86_400_000)
            .collect();
        assert_eq!(days, vec![8, 9, 10], "Friday to Sunday");
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

    /// Epoch ms of a UTC date and time.
    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Millis {
        chrono::NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, 0))
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap()
    }

    fn next(expr: &str, zone: &str, after: Millis, n: usize) -> Vec<Millis> {
        let c = parse_cron(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        next_run_times(&c, parse_zone(zone).unwrap(), after, None, None, n)
    }

    #[test]
    fn last_day_and_last_weekday_of_the_month() {
        let jan10 = at(2025, 1, 10, 0, 0);
        assert_eq!(
            next("0 0 12 L * ?", "UTC", jan10, 3),
            vec![
                at(2025, 1, 31, 12, 0),
                at(2025, 2, 28, 12, 0),
                at(2025, 3, 31, 12, 0)
            ]
        );
        // 5L: the last Friday of the month.
        assert_eq!(
            next("0 0 9 ? * 5L", "UTC", jan10, 3),
            vec![
                at(2025, 1, 31, 9, 0),
                at(2025, 2, 28, 9, 0),
                at(2025, 3, 28, 9, 0)
            ]
        );
        // LW: the last weekday (31 May 2025 is a Saturday, 31 August a Sunday).
        assert_eq!(
            next("0 0 9 LW * ?", "UTC", at(2025, 5, 1, 0, 0), 3),
            vec![
                at(2025, 5, 30, 9, 0),
                at(2025, 6, 30, 9, 0),
                at(2025, 7, 31, 9, 0)
            ]
        );
        assert_eq!(
            next("0 0 9 LW * ?", "UTC", at(2025, 8, 1, 0, 0), 1),
            vec![at(2025, 8, 29, 9, 0)]
        );
    }

    #[test]
    fn nearest_weekday_and_nth_weekday() {
        // 15W: 15 February and 15 March 2025 are Saturdays (the Friday before runs), 15 June
        // a Sunday (the Monday after).
        assert_eq!(
            next("0 0 9 15W * ?", "UTC", at(2025, 2, 1, 0, 0), 3),
            vec![
                at(2025, 2, 14, 9, 0),
                at(2025, 3, 14, 9, 0),
                at(2025, 4, 15, 9, 0)
            ]
        );
        assert_eq!(
            next("0 0 9 15W * ?", "UTC", at(2025, 6, 1, 0, 0), 1),
            vec![at(2025, 6, 16, 9, 0)]
        );
        // MON#2: the second Monday; 1#2 is the same day.
        let second_mondays = vec![
            at(2025, 1, 13, 9, 0),
            at(2025, 2, 10, 9, 0),
            at(2025, 3, 10, 9, 0),
        ];
        let jan1 = at(2025, 1, 1, 0, 0);
        assert_eq!(next("0 0 9 ? * MON#2", "UTC", jan1, 3), second_mondays);
        assert_eq!(next("0 0 9 ? * 1#2", "UTC", jan1, 3), second_mondays);
        // Both day fields restricted: a day must match both (Spring), here Friday the 13th.
        assert_eq!(
            next("0 0 0 13 * FRI", "UTC", jan1, 2),
            vec![at(2025, 6, 13, 0, 0), at(2026, 2, 13, 0, 0)]
        );
    }

    #[test]
    fn the_new_forms_keep_their_zone_across_a_dst_change() {
        // The last day of March 2025 in Berlin is after the change to summer time (UTC+2).
        assert_eq!(
            next("0 0 9 L * ?", "Europe/Berlin", at(2025, 2, 10, 0, 0), 2),
            vec![at(2025, 2, 28, 8, 0), at(2025, 3, 31, 7, 0)]
        );
        // The second Sunday of March 2025 is the day New York moves to EDT (UTC-4).
        assert_eq!(
            next(
                "0 0 9 ? * SUN#2",
                "America/New_York",
                at(2025, 2, 1, 0, 0),
                2
            ),
            vec![at(2025, 2, 9, 14, 0), at(2025, 3, 9, 13, 0)]
        );
    }

    #[test]
    fn times_the_clocks_skip_or_repeat() {
        // Berlin skips 02:00-03:00 on 30 March 2025: the 02:30 run happens at 03:00 CEST.
        assert_eq!(
            next("0 30 2 * * *", "Europe/Berlin", at(2025, 3, 29, 12, 0), 2),
            vec![at(2025, 3, 30, 1, 0), at(2025, 3, 31, 0, 30)]
        );
        // Berlin repeats 02:00-03:00 on 26 October 2025: the 02:30 run happens once.
        assert_eq!(
            next("0 30 2 * * *", "Europe/Berlin", at(2025, 10, 25, 12, 0), 2),
            vec![at(2025, 10, 26, 0, 30), at(2025, 10, 27, 1, 30)]
        );
    }

    #[test]
    fn a_date_that_never_comes_has_no_runs() {
        let started = std::time::Instant::now();
        assert!(next("0 0 0 30 2 ?", "UTC", 0, 1).is_empty());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn invalid_expressions_are_named() {
        let err = parse_cron("0 0 12 L * ? 2025 x").unwrap_err();
        assert_eq!(
            err,
            "cronExpression: Cron expression must consist of 6 fields (found 8 in \"0 0 12 L * ? \
             2025 x\")"
        );
        for bad in [
            "0 0 9 32W * ?",
            "0 0 9 ? * MON#6",
            "0 0 9 ? * 8L",
            "0 0 9 L# * ?",
            "0 0 9 L-3 * ?",
            "0 0 25 * * *",
            "0 0 9 ? * FUNDAY",
            "0 0 9 ? * MON#2\u{e9}",
        ] {
            let err = parse_cron(bad).unwrap_err();
            assert!(
                err.starts_with("cronExpression: ") && err.contains(bad),
                "{bad}: {err}"
            );
        }
    }
}
