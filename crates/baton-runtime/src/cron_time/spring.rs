//! Reading a cron expression as Spring's `CronExpression` reads it (Conductor's scheduler)
//! into croner patterns (ADR 25). croner reads most of Spring's forms as they are; the rest
//! are rewritten or taken apart here:
//!
//! - the macros (`@daily`, `@hourly`, …) become their six fields;
//! - `a/n` (from `a` to the end of the field, every `n`), which croner refuses, becomes
//!   `a-max/n`;
//! - `L-n` (`n` days before the last day) and `nW` (the weekday nearest the `n`th) items of
//!   the day of the month, which croner cannot express or reads otherwise, are taken out
//!   and computed around it (`spring_days.rs`);
//! - `L` alone as a day of the week, which croner reads as a day that never comes, is refused
//!   as Spring refuses it.

use super::spring_days::{DayItem, SpringDays};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A parsed cron expression: the times croner gives for the day-of-month items it reads
/// (`plain`) and those of the `L-n` and `nW` items (`computed`); at least one is set.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pub(super) plain: Option<Cron>,
    pub(super) computed: Option<SpringDays>,
}

/// Spring's macros and the six fields each stands for.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 0 1 1 *"),
    ("@annually", "0 0 0 1 1 *"),
    ("@monthly", "0 0 0 1 * *"),
    ("@weekly", "0 0 0 * * 0"),
    ("@daily", "0 0 0 * * *"),
    ("@midnight", "0 0 0 * * *"),
    ("@hourly", "0 0 * * * *"),
];

/// The largest value of the second, minute, hour, day-of-month, month and day-of-week
/// fields (7 is Sunday, as 0 is).
const FIELD_MAX: [u32; 6] = [59, 59, 23, 31, 12, 7];

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// Spring's numbering: Monday 1 … Sunday 7.
const DAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

/// The largest `n` of `L-n`: Spring reads `-n` as a Java `int` and takes any below 0.
const MAX_FROM_END: u64 = 1 << 31;

/// Parses a cron expression as Conductor's scheduler (Spring's `CronExpression`) reads it:
/// 6 fields, second minute hour day-of-month month day-of-week, or a macro (`@yearly`,
/// `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`); also 7 (with a
/// year) and 5 (standard cron, minute first; second 0). Days of the week: 0 or 7 is Sunday,
/// 1 Monday, or names (`MON-FRI`). `a/n` steps from `a` to the end of the field. Spring's
/// extensions work, alone or in lists: `L` (last day of the month; `5L` the last Friday),
/// `L-n` (`n` days before the last day, which can be in an earlier month), `W` (`15W`, the
/// weekday nearest the 15th; `LW`, the last weekday), `#` (`MON#2`, the second Monday) and `?`. When both day fields are
/// restricted a day must match both, as in Spring. Errors name the field `cronExpression` and
/// use Spring's wording for the count.
pub fn parse_cron(expr: &str) -> Result<CronSchedule, String> {
    let trimmed = expr.trim();
    let resolved = MACROS
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(trimmed))
        .map_or(expr, |(_, fields)| *fields);
    let mut fields: Vec<String> = resolved.split_whitespace().map(str::to_string).collect();
    if fields.len() == 5 {
        fields.insert(0, "0".to_string());
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
    let bad = |reason: &str| format!("cronExpression: {reason} in cron expression \"{expr}\"");
    for (field, max) in fields.iter_mut().zip(FIELD_MAX.iter().enumerate()) {
        *field = open_steps(field, max.0, *max.1);
    }
    if fields[5]
        .split(',')
        .any(|item| item.eq_ignore_ascii_case("L"))
    {
        return Err(bad("No day-of-week before 'L' in 'L'"));
    }
    let mut computed = Vec::new();
    let mut rest = Vec::new();
    for item in fields[3].split(',') {
        let digits = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
        if let Some(n) = item
            .strip_prefix(['L', 'l'])
            .and_then(|n| n.strip_prefix('-'))
        {
            let n = Some(n)
                .filter(|n| digits(n))
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|n| (1..=MAX_FROM_END).contains(n))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    bad(&format!(
                        "'{item}' in the day of month: L-n takes n from 1 to {MAX_FROM_END}"
                    ))
                })?;
            computed.push(DayItem::BeforeLast(n));
        } else if let Some(n) = item.strip_suffix(['W', 'w']).filter(|n| digits(n)) {
            let n = n
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=31).contains(n))
                .ok_or_else(|| {
                    bad(&format!(
                        "'{item}' in the day of month: nW takes n from 1 to 31"
                    ))
                })?;
            computed.push(DayItem::NearestWeekday(n));
        } else {
            rest.push(item.to_string());
        }
    }
    let croner = |day_of_month: &str| -> Result<Cron, String> {
        let mut f = fields.clone();
        f[3] = day_of_month.to_string();
        CronParser::builder()
            .seconds(Seconds::Required)
            .year(if f.len() == 7 {
                Year::Required
            } else {
                Year::Disallowed
            })
            .dom_and_dow(true)
            .build()
            .parse(&f.join(" "))
            .map_err(|e| bad(&e.to_string()))
    };
    let plain = match rest.is_empty() {
        true => None,
        false => Some(croner(&rest.join(","))?),
    };
    let computed = match computed.is_empty() {
        true => None,
        false => Some(SpringDays::new(croner("*")?, computed)),
    };
    Ok(CronSchedule { plain, computed })
}

/// `a/n` items of a field (index `field`, values up to `max`) as croner reads them,
/// `a-max/n`; a name (`MON/2`, `JAN/3`) is its number. Other items are left as they are.
fn open_steps(value: &str, field: usize, max: u32) -> String {
    let items: Vec<String> = value
        .split(',')
        .map(|item| {
            let Some((from, step)) = item.split_once('/') else {
                return item.to_string();
            };
            let names: &[&str] = match field {
                4 => &MONTHS,
                5 => &DAYS,
                _ => &[],
            };
            let number = from.parse::<u32>().ok().or_else(|| {
                names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(from))
                    .and_then(|i| u32::try_from(i + 1).ok())
            });
            match number {
                Some(n) => format!("{n}-{max}/{step}"),
                None => item.to_string(),
            }
        })
        .collect();
    items.join(",")
}
