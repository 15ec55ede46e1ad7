//! Offset pages read from whichever end of the order is nearer.
//!
//! The Conductor API pages by offset, and an offset costs a walk over that many index
//! entries. When the total is known, a page past the middle is the same page read in the
//! opposite order from the other end, which walks fewer entries; the worst page is then the
//! middle one, not the last.

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

#[cfg(test)]
mod tests {
    use super::from_the_end;

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
