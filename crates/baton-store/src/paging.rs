//! Offset pages read from whichever end of the order is nearer.
//!
//! The Conductor API pages by offset, and an offset costs a walk over that many index
//! entries. When the total is known, a page past the middle is the same page read in the
//! opposite order from the other end, which walks fewer entries; the worst page is then the
//! middle one, not the last.

use crate::TaskQuery;

/// Where to read a page of `limit` rows at `offset` among `total` from the other end: the
/// offset and the number of rows in the reversed order, or None when the near end is the
/// start (or the page is empty or unbounded).
pub(crate) fn from_the_end(total: i64, offset: usize, limit: usize) -> Option<(usize, usize)> {
    let total = usize::try_from(total).ok()?;
    if limit == 0 || offset >= total || offset <= total / 2 {
        return None;
    }
    let count = limit.min(total - offset);
    Some((total - offset - count, count))
}

/// The total a search reports when its count stopped at `cap` (more matches than that):
/// the cap, or more when the page itself reaches past it (a page never claims fewer hits
/// than it holds). Conductor on Elasticsearch 7 reports at most 10,000 in the same way.
pub(crate) fn capped_total(cap: usize, offset: usize, found: usize) -> i64 {
    let shown = if found == 0 {
        0
    } else {
        offset.saturating_add(found)
    };
    i64::try_from(cap.max(shown)).unwrap_or(i64::MAX)
}

/// Whether a page at `offset` lies past a count capped at `cap` (0: no cap), so that it is
/// read before any count: when it holds results, the total is [`capped_total`] without
/// counting at all.
pub(crate) fn past_the_cap(cap: usize, offset: usize, limit: usize) -> bool {
    cap > 0 && limit > 0 && offset >= cap
}

/// Search by tasks pages the attempts it matches, as Conductor does: of the attempts within
/// the scan window (`scan.limit`, 0: none), those from `start`. The number of attempts the
/// page reads, and how many the count reads at most (the window, or one more than the count
/// limit; 0: all).
pub(crate) fn by_tasks_window(scan: &TaskQuery, start: usize, size: usize) -> (usize, usize) {
    let end = start.saturating_add(size);
    let end = match scan.limit {
        0 => end,
        window => end.min(window),
    };
    let bound = match (scan.limit, scan.count_limit) {
        (0, 0) => 0,
        (0, cap) => cap.saturating_add(1),
        (window, 0) => window,
        (window, cap) => window.min(cap.saturating_add(1)),
    };
    (end.saturating_sub(start), bound)
}

/// The total of a search by tasks: the attempts `counted` (stopped at the window or past the
/// count limit, [`capped_total`]), less the attempts on the page whose workflow an earlier
/// attempt of the page already listed (`attempts` read, `workflows` distinct) - Conductor's
/// total, the task hits less the repeats of the page.
pub(crate) fn by_tasks_total(
    scan: &TaskQuery,
    counted: i64,
    start: usize,
    attempts: usize,
    workflows: usize,
) -> i64 {
    let cap = scan.count_limit;
    let hits = if cap > 0 && counted > i64::try_from(cap).unwrap_or(i64::MAX) {
        capped_total(cap, start, attempts)
    } else {
        counted
    };
    let repeats = i64::try_from(attempts.saturating_sub(workflows)).unwrap_or(0);
    hits.saturating_sub(repeats).max(0)
}

#[cfg(test)]
mod tests {
    use super::{by_tasks_total, by_tasks_window, capped_total, from_the_end, past_the_cap};
    use crate::TaskQuery;

    #[test]
    fn search_by_tasks_pages_within_its_window() {
        let scan = |limit, count_limit| TaskQuery {
            limit,
            count_limit,
            ..TaskQuery::default()
        };
        assert_eq!(
            by_tasks_window(&scan(10_000, 10_000), 0, 100),
            (100, 10_000)
        );
        assert_eq!(
            by_tasks_window(&scan(10_000, 10_000), 9_950, 100),
            (50, 10_000),
            "the page stops at the window"
        );
        assert_eq!(by_tasks_window(&scan(10_000, 10_000), 10_000, 100).0, 0);
        assert_eq!(by_tasks_window(&scan(0, 10), 0, 100), (100, 11));
        assert_eq!(by_tasks_window(&scan(100, 0), 0, 10), (10, 100));
        assert_eq!(by_tasks_window(&scan(0, 0), 5, 10), (10, 0), "no bound");
        // Conductor's total: the hits less the repeats of the page.
        assert_eq!(by_tasks_total(&scan(0, 0), 40, 0, 10, 7), 37);
        assert_eq!(
            by_tasks_total(&scan(0, 10), 11, 0, 10, 10),
            10,
            "past the cap"
        );
        assert_eq!(by_tasks_total(&scan(0, 10), 11, 20, 5, 5), 25);
        assert_eq!(by_tasks_total(&scan(0, 0), 0, 0, 0, 0), 0);
    }

    #[test]
    fn capped_totals_never_undercount_the_page() {
        assert_eq!(capped_total(10_000, 0, 100), 10_000);
        assert_eq!(capped_total(10_000, 9_950, 100), 10_050);
        assert_eq!(capped_total(10_000, 50_000, 100), 50_100);
        assert_eq!(
            capped_total(10_000, 50_000, 0),
            10_000,
            "an empty page past the end"
        );
        assert!(past_the_cap(10_000, 10_000, 100));
        assert!(!past_the_cap(10_000, 9_999, 100));
        assert!(!past_the_cap(0, 50_000, 100), "no cap");
        assert!(!past_the_cap(10_000, 50_000, 0), "no limit");
    }

    #[test]
    fn pages_past_the_middle_are_read_from_the_end() {
        assert_eq!(from_the_end(100, 10, 10), None);
        assert_eq!(from_the_end(100, 50, 10), None);
        assert_eq!(from_the_end(100, 51, 10), Some((39, 10)));
        assert_eq!(from_the_end(100, 95, 10), Some((0, 5)), "a short last page");
        assert_eq!(from_the_end(100, 90, 10), Some((0, 10)));
        assert_eq!(from_the_end(100, 100, 10), None, "past the end: empty");
        assert_eq!(from_the_end(100, 60, 0), None, "no limit");
        assert_eq!(from_the_end(-1, 60, 10), None);
    }
}
