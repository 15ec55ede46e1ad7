//! The cron forms of Conductor's scheduler (Spring's `CronExpression`) over HTTP: `L`,
//! `L-n`, `W`, `LW`, `nL`, `#`, `a/n` and the macros, in named zones, and the 400 that names a
//! bad expression.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// 2025-01-01T00:00:00Z.
const JAN_1_2025: i64 = 1_735_689_600_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn escape(cron: &str) -> String {
    cron.replace(' ', "%20").replace('#', "%23")
}

async fn next_few(s: &TestServer, cron: &str, zone: &str, limit: u32) -> Vec<i64> {
    let path = format!(
        "/scheduler/nextFewSchedules?cronExpression={}&scheduleStartTime={JAN_1_2025}\
         &zoneId={zone}&limit={limit}",
        escape(cron)
    );
    let got = expect_json(s.get(&path).await, StatusCode::OK).await;
    got.as_array()
        .unwrap_or_else(|| panic!("{got}"))
        .iter()
        .map(|v| v.as_i64().unwrap_or_else(|| panic!("{got}")))
        .collect()
}

/// Days since 2025-01-01 (UTC) and the UTC hour of each time.
fn days_and_hours(times: &[i64]) -> Vec<(i64, i64)> {
    times
        .iter()
        .map(|t| ((t - JAN_1_2025) / DAY, (t - JAN_1_2025) % DAY / HOUR))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_runs_of_each_spring_form() {
    let s = TestServer::spawn().await;
    // Last day of the month: 31 January, 28 February, 31 March (days 30, 58, 89).
    assert_eq!(
        days_and_hours(&next_few(&s, "0 0 12 L * ?", "UTC", 3).await),
        vec![(30, 12), (58, 12), (89, 12)]
    );
    // Last Friday: 31 January, 28 February, 28 March.
    assert_eq!(
        days_and_hours(&next_few(&s, "0 0 9 ? * 5L", "UTC", 3).await),
        vec![(30, 9), (58, 9), (86, 9)]
    );
    // Nearest weekday to the 15th: Wed 15 January, Fri 14 February, Fri 14 March.
    assert_eq!(
        days_and_hours(&next_few(&s, "0 0 9 15W * ?", "UTC", 3).await),
        vec![(14, 9), (44, 9), (72, 9)]
    );
    // Last weekday: Fri 31 January, Fri 28 February, Mon 31 March.
    assert_eq!(
        days_and_hours(&next_few(&s, "0 0 9 LW * ?", "UTC", 3).await),
        vec![(30, 9), (58, 9), (89, 9)]
    );
    // Second Monday: 13 January, 10 February, 10 March.
    assert_eq!(
        days_and_hours(&next_few(&s, "0 0 9 ? * MON#2", "UTC", 3).await),
        vec![(12, 9), (40, 9), (68, 9)]
    );
    // In Berlin: 09:00 on the last day of the month is 08:00 UTC in winter and 07:00 UTC
    // once summer time has begun (30 March 2025).
    assert_eq!(
        days_and_hours(&next_few(&s, "0 0 9 L * ?", "Europe/Berlin", 3).await),
        vec![(30, 8), (58, 8), (89, 7)]
    );
    // Three days before the last: 28 January, 25 February, 28 March, 27 April (days 27, 55,
    // 86, 116); noon in New York is 17:00 UTC, 16:00 UTC from 9 March.
    assert_eq!(
        days_and_hours(&next_few(&s, "0 0 12 L-3 * ?", "America/New_York", 4).await),
        vec![(27, 17), (55, 17), (86, 16), (116, 16)]
    );
    // Past the 30 days a month can hold, as Spring takes it: L-31 is 31 days before a
    // month's last day, 28 January (before 28 February), 28 February, 30 March.
    assert_eq!(
        days_and_hours(&next_few(&s, "0 0 12 L-31 * ?", "UTC", 3).await),
        vec![(27, 12), (58, 12), (88, 12)]
    );
    // A macro, and a step from a start: midnight daily (the start time itself is due);
    // 06:00 and 18:00.
    assert_eq!(
        days_and_hours(&next_few(&s, "@daily", "UTC", 2).await),
        vec![(0, 0), (1, 0)]
    );
    assert_eq!(
        days_and_hours(&next_few(&s, "0 0 6/12 * * ?", "UTC", 3).await),
        vec![(0, 6), (0, 18), (1, 6)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_with_spring_forms_are_saved_and_bad_ones_named() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("cron_forms_wf", &["cron_forms_task"]))
        .await;
    let body = |name: &str, cron: &str| -> Value {
        json!({
            "name": name, "cronExpression": cron, "zoneId": "America/New_York",
            "paused": true,
            "startWorkflowRequest": {"name": "cron_forms_wf", "version": 1}
        })
    };
    for (name, cron) in [
        ("last_day", "0 0 6 L * ?"),
        ("last_friday", "0 0 6 ? * FRIL"),
        ("nearest", "0 0 6 1W * ?"),
        ("last_weekday", "0 0 6 LW * ?"),
        ("second_tuesday", "0 0 6 ? * TUE#2"),
        ("third_to_last", "0 0 12 L-3 * ?"),
        ("first_and_before_last", "0 0 12 1,L-1 * ?"),
        // Spring takes any n; L-31 is 31 days before a month's last day.
        ("before_last_month", "0 0 12 L-31 * ?"),
        ("nearest_31st", "0 0 12 31W * ?"),
        ("weekly", "@weekly"),
        ("every_other_hour", "0 0 0/2 * * ?"),
    ] {
        let resp = s.post_json("/scheduler/schedules", &body(name, cron)).await;
        expect_status(resp, StatusCode::OK).await;
        let got = s.get_json(&format!("/scheduler/schedules/{name}")).await;
        assert_eq!(got["cronExpression"], cron, "{got}");
    }

    for (cron, needle) in [
        ("0 0 6 32W * ?", "32W"),
        ("0 0 6 ? * MON#6", "MON#6"),
        ("0 0 6 ? * 9L", "9L"),
        ("0 0 6 L-2147483649 * ?", "L-n takes n from 1 to 2147483648"),
        ("0 0 6 L-0 * ?", "L-0"),
        ("0 0 6 ? * L", "No day-of-week before 'L'"),
        (
            "@fortnightly",
            "Cron expression must consist of 6 fields (found 1",
        ),
        (
            "0 0 6 L * ? 2030 x",
            "Cron expression must consist of 6 fields (found 8",
        ),
    ] {
        let resp = s
            .post_json("/scheduler/schedules", &body("bad", cron))
            .await;
        expect_error(resp, StatusCode::BAD_REQUEST, &["cronExpression", needle]).await;
        let resp = s
            .get(&format!(
                "/scheduler/nextFewSchedules?cronExpression={}",
                escape(cron)
            ))
            .await;
        expect_error(resp, StatusCode::BAD_REQUEST, &["cronExpression", needle]).await;
    }
    let resp = s.get("/scheduler/schedules/bad").await;
    expect_status(resp, StatusCode::NOT_FOUND).await;
}
