//! The day-of-month items Baton computes itself, as Spring's `CronExpression` computes them,
//! where croner reads them otherwise or not at all (ADR 25):
//!
//! - `L-n`: the day `n` days before the last day of a month. Spring adds `-n` days to each
//!   month's last day, so from `L-28` on the day can fall in an earlier month (`L-30` of
//!   February 2025 is 29 January): the wanted days are those `n` days before a month's last.
//! - `nW`: the weekday nearest the `n`th; a Saturday moves to the Friday before (the 1st to
//!   Monday the 3rd), a Sunday to the Monday after, and when that Monday is past the month's
//!   end the month has no run (Spring; croner and Quartz take the Friday before).
//!
//! croner gives the times of the other fields on any day; this keeps those on a wanted day
//! and hops over the days between.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Weekday};
use croner::Cron;

/// The calendar repeats every 400 years: a day that has not come in that long never comes.
const SEARCH_YEARS: i32 = 401;

/// Within 12 months some month has a weekday nearest any day `n` (of the 7 months of 31
/// days, not all 31sts are Sundays); 48 leaves room.
const NEAREST_MONTHS: u32 = 48;

/// One day-of-month item computed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayItem {
    /// `L-n`.
    BeforeLast(u32),
    /// `nW`.
    NearestWeekday(u32),
}

/// The computed items of a day-of-month field with the other fields as a croner pattern
/// whose day of the month is `*`.
#[derive(Debug, Clone)]
pub(crate) struct SpringDays {
    any_day: Cron,
    items: Vec<DayItem>,
}

impl SpringDays {
    pub(crate) fn new(any_day: Cron, mut items: Vec<DayItem>) -> SpringDays {
        items.dedup();
        SpringDays { any_day, items }
    }

    /// The first wanted day on or after `date`; None past the calendar's range.
    fn wanted_from(&self, date: NaiveDate) -> Option<NaiveDate> {
        self.items
            .iter()
            .filter_map(|item| match *item {
                DayItem::BeforeLast(n) => before_last_from(date, n),
                DayItem::NearestWeekday(n) => nearest_weekday_from(date, n),
            })
            .min()
    }

    /// Due times strictly after `after`, in its zone.
    pub(crate) fn times_after<Z: TimeZone>(&self, after: DateTime<Z>) -> Times<'_, Z> {
        Times {
            until_year: after.naive_local().year().saturating_add(SEARCH_YEARS),
            days: self,
            cursor: after,
            inclusive: false,
        }
    }
}

/// The first day on or after `date` that is `n` days before a month's last day: that
/// before the last day of the month `date + n` falls in.
fn before_last_from(date: NaiveDate, n: u32) -> Option<NaiveDate> {
    let n = Days::new(u64::from(n));
    let last = last_of_month(date.checked_add_days(n)?)?;
    last.checked_sub_days(n)
}

/// The first day on or after `date` that is the weekday nearest the `n`th of its month, as
/// Spring finds it.
fn nearest_weekday_from(date: NaiveDate, n: u32) -> Option<NaiveDate> {
    let mut month = date.with_day(1)?;
    for _ in 0..NEAREST_MONTHS {
        if let Some(day) = nearest_weekday_in(month, n).filter(|d| *d >= date) {
            return Some(day);
        }
        month = last_of_month(month)?.succ_opt()?;
    }
    None
}

/// The weekday nearest the `n`th of the month of `first` (its 1st), if the month has one.
fn nearest_weekday_in(first: NaiveDate, n: u32) -> Option<NaiveDate> {
    let target = first.with_day(n)?;
    let day = match target.weekday() {
        Weekday::Sat if n == 1 => target.checked_add_days(Days::new(2))?,
        Weekday::Sat => target.pred_opt()?,
        Weekday::Sun => target.succ_opt()?,
        _ => target,
    };
    // Past the month's end (the last day a Sunday): Spring never settles on that Monday.
    (day.month() == first.month()).then_some(day)
}

pub(crate) struct Times<'a, Z: TimeZone> {
    days: &'a SpringDays,
    cursor: DateTime<Z>,
    inclusive: bool,
    until_year: i32,
}

impl<Z: TimeZone> Iterator for Times<'_, Z> {
    type Item = DateTime<Z>;

    fn next(&mut self) -> Option<DateTime<Z>> {
        loop {
            let t = self
                .days
                .any_day
                .find_next_occurrence(&self.cursor, self.inclusive)
                .ok()?;
            let date = t.naive_local().date();
            if date.year() > self.until_year {
                return None;
            }
            // Each turn returns or moves the cursor to a later day: the loop ends.
            let wanted = self.days.wanted_from(date)?;
            if wanted == date {
                self.cursor = t.clone();
                self.inclusive = false;
                return Some(t);
            }
            self.cursor = start_of_day(&t.timezone(), wanted)?;
            self.inclusive = true;
        }
    }
}

fn last_of_month(date: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = match date.month() {
        12 => (date.year().checked_add(1)?, 1),
        m => (date.year(), m + 1),
    };
    NaiveDate::from_ymd_opt(y, m, 1)?.pred_opt()
}

/// The first instant of `date` in `zone`: midnight, or the first whole hour after it when
/// the clocks skip midnight that day.
fn start_of_day<Z: TimeZone>(zone: &Z, date: NaiveDate) -> Option<DateTime<Z>> {
    (0..24).find_map(|h| {
        date.and_hms_opt(h, 0, 0)
            .and_then(|t| zone.from_local_datetime(&t).earliest())
    })
}
