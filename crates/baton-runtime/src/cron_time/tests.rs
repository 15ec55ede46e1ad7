//! The due times of cron expressions and zones, Spring's forms among them.

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
    // 1W: Saturday 1 February 2025 moves to Monday the 3rd, not to January.
    assert_eq!(
        next("0 0 9 1W * ?", "UTC", at(2025, 1, 15, 0, 0), 1),
        vec![at(2025, 2, 3, 9, 0)]
    );
    // 31W: Saturday 31 May 2025 runs on Friday the 30th; Sunday 31 August would move to
    // Monday 1 September, past the month: Spring has no run in August (croner and Quartz
    // would take Friday the 29th). Months without a 31st have none either.
    assert_eq!(
        dates(&next("0 0 9 31W * ?", "UTC", at(2025, 5, 1, 0, 0), 3)),
        vec![(5, 30), (7, 31), (10, 31)]
    );
    // 30W: Sunday 30 November 2025 likewise; in a list, the other items still run.
    assert_eq!(
        dates(&next("0 0 9 30W * ?", "UTC", at(2025, 11, 1, 0, 0), 2)),
        vec![(12, 30), (1, 30)]
    );
    assert_eq!(
        dates(&next("0 0 9 2,30W * ?", "UTC", at(2025, 11, 1, 0, 0), 3)),
        vec![(11, 2), (12, 2), (12, 30)]
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
        "0 0 9 L-0 * ?",
        "0 0 9 L-2147483649 * ?",
        "0 0 9 L-+3 * ?",
        "0 0 9 L- * ?",
        "0 0 9 0W * ?",
        "0 0 9 L-3W * ?",
        "0 0 9 LW-1 * ?",
        "0 0 9 L-x * ?",
        "0 0 9 ? * L",
        "0 0 9 ? * MON,L",
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

/// UTC dates (month, day) of `times`.
fn dates(times: &[Millis]) -> Vec<(u32, u32)> {
    use chrono::Datelike;
    times
        .iter()
        .map(|t| {
            let d = DateTime::from_timestamp_millis(*t).unwrap();
            (d.month(), d.day())
        })
        .collect()
}

#[test]
fn every_spring_form_is_read() {
    // Each form of Spring's CronExpression, and one time it gives after 1 January 2025.
    let jan1 = at(2025, 1, 1, 0, 0);
    for (expr, first) in [
        ("0 0 12 L-3 * ?", at(2025, 1, 28, 12, 0)),
        ("0 0 12 1,L-2 * ?", at(2025, 1, 1, 12, 0)),
        ("0 0 12 L,15 * ?", at(2025, 1, 15, 12, 0)),
        ("0 0 12 15W,L * ?", at(2025, 1, 15, 12, 0)),
        ("0 0 12 LW * ?", at(2025, 1, 31, 12, 0)),
        ("0 0 12 1W * ?", at(2025, 1, 1, 12, 0)),
        ("0 0 12 ? * 5L", at(2025, 1, 31, 12, 0)),
        ("0 0 12 ? * fril", at(2025, 1, 31, 12, 0)),
        ("0 0 12 ? * 0L", at(2025, 1, 26, 12, 0)),
        ("0 0 12 ? * 1L,5L", at(2025, 1, 27, 12, 0)),
        ("0 0 12 ? * MON#1,FRI#3", at(2025, 1, 6, 12, 0)),
        ("0 0 12 ? * sun#1", at(2025, 1, 5, 12, 0)),
        ("0 0 12 ? * 7#1", at(2025, 1, 5, 12, 0)),
        ("0 0 12 ? * ?", at(2025, 1, 1, 12, 0)),
        ("0 0 12 * * 0-7", at(2025, 1, 1, 12, 0)),
        ("0 0 12 1 jan-mar ?", at(2025, 1, 1, 12, 0)),
        ("0 0 12 ? * MON-FRI/2", at(2025, 1, 1, 12, 0)),
        ("*/10 * * * * *", jan1 + 10_000),
        ("0 5/15 * * * *", at(2025, 1, 1, 0, 5)),
        ("0 0 6/6 * * ?", at(2025, 1, 1, 6, 0)),
        ("0 0 12 2/10 * ?", at(2025, 1, 2, 12, 0)),
        ("0 0 12 1 FEB/3 ?", at(2025, 2, 1, 12, 0)),
        ("0 0 12 ? * TUE/2", at(2025, 1, 2, 12, 0)),
        ("@yearly", at(2026, 1, 1, 0, 0)),
        ("@annually", at(2026, 1, 1, 0, 0)),
        ("@monthly", at(2025, 2, 1, 0, 0)),
        ("@weekly", at(2025, 1, 5, 0, 0)),
        ("@daily", at(2025, 1, 2, 0, 0)),
        ("@midnight", at(2025, 1, 2, 0, 0)),
        (" @Hourly ", at(2025, 1, 1, 1, 0)),
    ] {
        assert_eq!(next(expr, "UTC", jan1, 1), vec![first], "{expr}");
    }
}

#[test]
fn open_steps_run_to_the_end_of_their_field() {
    let jan1 = at(2025, 1, 1, 0, 0);
    let minutes: Vec<i64> = next("0 5/15 * * * *", "UTC", jan1, 5)
        .iter()
        .map(|t| (t - jan1) / 60_000)
        .collect();
    assert_eq!(minutes, vec![5, 20, 35, 50, 65]);
    // Days 1, 11, 21 and 31, then those of February.
    assert_eq!(
        dates(&next("0 0 12 1/10 * ?", "UTC", jan1, 6)),
        vec![(1, 1), (1, 11), (1, 21), (1, 31), (2, 1), (2, 11)]
    );
    // From Tuesday, every second day of the week: Tuesday, Thursday, Saturday.
    assert_eq!(
        dates(&next("0 0 12 ? * TUE/2", "UTC", jan1, 4)),
        vec![(1, 2), (1, 4), (1, 7), (1, 9)]
    );
    assert_eq!(
        dates(&next("0 0 0 1 JAN/3 ?", "UTC", jan1, 4)),
        vec![(4, 1), (7, 1), (10, 1), (1, 1)]
    );
}

#[test]
fn days_before_the_last_across_month_lengths_and_leap_years() {
    // L-3: three days before the last day (Spring's and Quartz's reading).
    assert_eq!(
        dates(&next("0 0 12 L-3 * ?", "UTC", at(2023, 12, 1, 0, 0), 5)),
        vec![(12, 28), (1, 28), (2, 26), (3, 28), (4, 27)],
        "2024 is a leap year"
    );
    assert_eq!(
        dates(&next("0 0 12 L-3 * ?", "UTC", at(2025, 1, 29, 0, 0), 2)),
        vec![(2, 25), (3, 28)],
        "2025 is not"
    );
    // L-28 falls on 1 February in a leap year only; 2100 is not one.
    let feb = |y| next("0 0 12 L-28 2 ?", "UTC", at(y, 1, 1, 0, 0), 1);
    assert_eq!(feb(2024), vec![at(2024, 2, 1, 12, 0)]);
    assert_eq!(feb(2025), vec![at(2028, 2, 1, 12, 0)]);
    assert_eq!(feb(2097), vec![at(2104, 2, 1, 12, 0)]);
    // L-30: 30 days before each month's last day, which is the 1st of the months of 31
    // days and a day of the month before for the shorter ones (Spring adds -30 days to the
    // last day: 29 January for February 2025, 31 March for April).
    assert_eq!(
        dates(&next("0 0 12 L-30 * ?", "UTC", at(2025, 1, 2, 0, 0), 5)),
        vec![(1, 29), (3, 1), (3, 31), (5, 1), (5, 31)]
    );
    // Past 30 too, as Spring takes any n: L-31 is the day 31 days before the next month's
    // last day, L-365 a year before a month's last day.
    assert_eq!(
        dates(&next("0 0 12 L-31 * ?", "UTC", at(2025, 1, 2, 0, 0), 4)),
        vec![(1, 28), (2, 28), (3, 30), (4, 30)]
    );
    assert_eq!(
        next("0 0 12 L-365 * ?", "UTC", at(2025, 1, 1, 0, 0), 2),
        vec![at(2025, 1, 31, 12, 0), at(2025, 2, 28, 12, 0)]
    );
    // The largest n Spring takes: a day before the calendar's end never comes.
    assert!(next("0 0 12 L-2147483648 * ?", "UTC", 0, 1).is_empty());
    // In a list with other days; a day named twice runs once (the 16th is L-15 in a month
    // of 31 days).
    assert_eq!(
        dates(&next("0 0 12 1,L-2 * ?", "UTC", at(2025, 1, 2, 0, 0), 4)),
        vec![(1, 29), (2, 1), (2, 26), (3, 1)]
    );
    assert_eq!(
        dates(&next(
            "0 0 12 16,L-15,L * ?",
            "UTC",
            at(2025, 1, 2, 0, 0),
            4
        )),
        vec![(1, 16), (1, 31), (2, 13), (2, 16)]
    );
    // Both day fields: the day before the last must also be a Friday (30 May 2025, then
    // 30 January 2026).
    assert_eq!(
        dates(&next("0 0 12 L-1 * FRI", "UTC", at(2025, 1, 1, 0, 0), 2)),
        vec![(5, 30), (1, 30)]
    );
    // Every second of the day: the hops skip whole days, not seconds.
    let times = next("* * * L-3 * ?", "UTC", at(2025, 1, 28, 23, 59) + 58_000, 3);
    assert_eq!(
        times,
        vec![
            at(2025, 1, 28, 23, 59) + 59_000,
            at(2025, 2, 25, 0, 0),
            at(2025, 2, 25, 0, 0) + 1_000
        ]
    );
    // With a year: none once it has passed.
    assert!(next("0 0 12 L-3 * ? 2024", "UTC", at(2025, 1, 1, 0, 0), 1).is_empty());
    assert!(next("0 0 12 L-30 2 ?", "UTC", 0, 1).is_empty(), "never");
}

#[test]
fn days_before_the_last_are_local_days() {
    // 09:00 in Berlin three days before the last: 08:00 UTC in winter (28 March is before
    // the change to summer time on the 30th), 07:00 UTC in summer (27 April).
    assert_eq!(
        next("0 0 9 L-3 * ?", "Europe/Berlin", at(2025, 1, 1, 0, 0), 4),
        vec![
            at(2025, 1, 28, 8, 0),
            at(2025, 2, 25, 8, 0),
            at(2025, 3, 28, 8, 0),
            at(2025, 4, 27, 7, 0)
        ]
    );
    // At UTC+14 01:00 on the 28th is still the 27th in UTC.
    assert_eq!(
        next(
            "0 0 1 L-3 * ?",
            "Pacific/Kiritimati",
            at(2025, 1, 1, 0, 0),
            1
        ),
        vec![at(2025, 1, 27, 11, 0)]
    );
    // At UTC-10 23:00 on the 28th is the 29th in UTC.
    assert_eq!(
        next("0 0 23 L-3 * ?", "-10:00", at(2025, 1, 1, 0, 0), 1),
        vec![at(2025, 1, 29, 9, 0)]
    );
    // 02:30 on 26 October 2025 in Berlin (L-5) happens twice; it runs once.
    assert_eq!(
        next("0 30 2 L-5 * ?", "Europe/Berlin", at(2025, 10, 1, 0, 0), 2),
        vec![at(2025, 10, 26, 0, 30), at(2025, 11, 25, 1, 30)]
    );
}
