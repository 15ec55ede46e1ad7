//! Spring's `L-n` in the day of the month: `n` days before the last day of each month
//! (`L-3` is the 28th of a 31-day month, the 25th of February in a common year), which croner
//! cannot express. croner gives the times of the other fields on any day; this keeps those on
//! a wanted day of each month and hops over the days between.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone};
use croner::Cron;

/// The calendar repeats every 400 years: a day that has not come in that long never comes.
const SEARCH_YEARS: i32 = 401;

/// The `L-n` items of a day-of-month field with the other fields as a croner pattern whose
/// day of the month is `*`.
#[derive(Debug, Clone)]
pub(crate) struct FromEnd {
    any_day: Cron,
    /// Each `n`, largest first: the wanted days of a month in order.
    offsets: Vec<u32>,
}

impl FromEnd {
    pub(crate) fn new(any_day: Cron, mut offsets: Vec<u32>) -> FromEnd {
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        offsets.dedup();
        FromEnd { any_day, offsets }
    }

    /// The first wanted day of the month of `date` on or after it.
    fn wanted_from(&self, date: NaiveDate) -> Option<u32> {
        let last = last_day_of_month(date)?;
        self.offsets
            .iter()
            .filter_map(|n| last.checked_sub(*n).filter(|d| *d >= 1))
            .find(|d| *d >= date.day())
    }

    /// Due times strictly after `after`, in its zone.
    pub(crate) fn times_after<Z: TimeZone>(&self, after: DateTime<Z>) -> Times<'_, Z> {
        Times {
            until_year: after.naive_local().year().saturating_add(SEARCH_YEARS),
            from_end: self,
            cursor: after,
            inclusive: false,
        }
    }
}

pub(crate) struct Times<'a, Z: TimeZone> {
    from_end: &'a FromEnd,
    cursor: DateTime<Z>,
    inclusive: bool,
    until_year: i32,
}

impl<Z: TimeZone> Iterator for Times<'_, Z> {
    type Item = DateTime<Z>;

    fn next(&mut self) -> Option<DateTime<Z>> {
        loop {
            let t = self
                .from_end
                .any_day
                .find_next_occurrence(&self.cursor, self.inclusive)
                .ok()?;
            let date = t.naive_local().date();
            if date.year() > self.until_year {
                return None;
            }
            // Each turn returns or moves the cursor to a later day: the loop ends.
            let next_day = match self.from_end.wanted_from(date) {
                Some(day) if day == date.day() => {
                    self.cursor = t.clone();
                    self.inclusive = false;
                    return Some(t);
                }
                Some(day) => date.with_day(day)?,
                None => first_of_next_month(date)?,
            };
            self.cursor = start_of_day(&t.timezone(), next_day)?;
            self.inclusive = true;
        }
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = match date.month() {
        12 => (date.year().checked_add(1)?, 1),
        m => (date.year(), m + 1),
    };
    NaiveDate::from_ymd_opt(y, m, 1)
}

fn last_day_of_month(date: NaiveDate) -> Option<u32> {
    first_of_next_month(date)?.pred_opt().map(|d| d.day())
}

/// The first instant of `date` in `zone`: midnight, or the first whole hour after it when
/// the clocks skip midnight that day.
fn start_of_day<Z: TimeZone>(zone: &Z, date: NaiveDate) -> Option<DateTime<Z>> {
    (0..24).find_map(|h| {
        date.and_hms_opt(h, 0, 0)
            .and_then(|t| zone.from_local_datetime(&t).earliest())
    })
}
