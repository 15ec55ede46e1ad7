//! Pages of plain workflows (`classifier=workflow`) found by position, not by checking the
//! classifier of every row stepped over (ADR 34, `classifier::plain_seek`).
//!
//! The search without its classifier condition walks an index without reading rows; the
//! rows it holds that the condition leaves out are all in the classifier index, and few. The
//! page at `offset` starts at the first match at or after position `offset + e` of that
//! search, where `e` is the number of left-out rows before it: found by stepping forward from
//! `offset` until the count of left-out rows before the row reached stops growing.

use super::{count, workflow_filter, Filter};
use crate::classifier::{self, SEEK_STEPS};
use crate::paging::from_the_end;
use crate::{Result, WorkflowQuery};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension};

/// A row's place in the start-time order: its start time and id.
type Key = (i64, String);

/// The columns of a [`Key`], as a row value an index on them answers.
const KEY: &str = "(start_time, workflow_id)";

/// The rowids of the page of `q` (whose total is `total`), newest first when `desc`; None
/// when the search is not one of plain workflows by start time, the left-out rows are not
/// few, or the steps do not settle (then the caller reads the page as any other).
pub(super) fn page(
    conn: &Connection,
    q: &WorkflowQuery,
    total: i64,
    (column, desc): (&str, bool),
) -> Result<Option<Vec<i64>>> {
    if column != "start_time" {
        return Ok(None);
    }
    let Some((without, others)) = classifier::plain_seek(q) else {
        return Ok(None);
    };
    let all = super::counted_total(conn, &without)?;
    if !classifier::few_left_out(all, total) {
        return Ok(None);
    }
    // A page past the middle is the same page read backwards from the other end.
    let (desc, offset, limit, backwards) = match from_the_end(total, q.offset, q.limit) {
        Some((offset, count)) => (!desc, offset, count, true),
        None => (desc, q.offset, q.limit, false),
    };
    let seek = Seek {
        conn,
        without: &without,
        others: &others,
        desc,
    };
    let Some(start) = seek.start(offset)? else {
        return Ok(None);
    };
    let mut rowids = match start {
        Some(key) => seek.matches_from(q, &key, limit)?,
        None => Vec::new(),
    };
    if backwards {
        rowids.reverse();
    }
    Ok(Some(rowids))
}

struct Seek<'a> {
    conn: &'a Connection,
    without: &'a WorkflowQuery,
    others: &'a [String],
    desc: bool,
}

impl Seek<'_> {
    fn order(&self) -> &'static str {
        if self.desc {
            "start_time DESC, workflow_id DESC"
        } else {
            "start_time ASC, workflow_id ASC"
        }
    }

    /// ` AND` the rows after `key` in the order (`or_at`: or at it); `columns` the start time
    /// and id, as a row value.
    fn after(&self, f: &mut Filter, columns: &str, key: &Key, or_at: bool) {
        let t = f.arg(Value::Integer(key.0));
        let id = f.arg(Value::Text(key.1.clone()));
        let op = match (self.desc, or_at) {
            (true, false) => "<",
            (true, true) => "<=",
            (false, false) => ">",
            (false, true) => ">=",
        };
        f.sql.push_str(&format!(" AND {columns} {op} ({t}, {id})"));
    }

    /// The key of the row of the search without the classifier condition `skip` rows after
    /// `from` (or from the start), from its index alone; None past its end.
    fn key_after(&self, from: Option<&Key>, skip: usize) -> Result<Option<Key>> {
        let mut f = workflow_filter(self.without, false);
        if let Some(from) = from {
            self.after(&mut f, KEY, from, false);
        }
        let skip = f.arg(Value::Integer(i64::try_from(skip).unwrap_or(i64::MAX)));
        let sql = format!(
            "SELECT start_time, workflow_id FROM workflows WHERE 1 = 1{} ORDER BY {} LIMIT 1 OFFSET {skip}",
            f.sql,
            self.order()
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params_from_iter(f.args.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// The number of rows the classifier condition leaves out before `key`: rows of the
    /// classifier index (never a plain workflow) of none of the classifiers it names.
    fn left_out_before(&self, key: &Key) -> Result<usize> {
        // With `rare`, the filter holds the index's condition and keeps other indexes out.
        let mut f = workflow_filter(self.without, true);
        if !self.others.is_empty() {
            let list: Vec<String> = self
                .others
                .iter()
                .map(|v| f.arg(Value::Text(v.clone())))
                .collect();
            f.sql
                .push_str(&format!(" AND classifier NOT IN ({})", list.join(", ")));
        }
        // Before `key` is after it in the other direction.
        let back = Seek {
            desc: !self.desc,
            ..*self
        };
        // Unary `+`: the start-time index must not drive the count (without statistics
        // SQLite would walk its range and read every row in it); the classifier index does.
        back.after(&mut f, "(+start_time, +workflow_id)", key, false);
        Ok(usize::try_from(count(self.conn, f)?).unwrap_or(usize::MAX))
    }

    /// The key the page at `offset` starts at (Some(None): the page is empty), or None when
    /// the steps do not settle. Position `p` holds `key`; the matches before it number `p`
    /// less the rows left out before it, which only grows as `p` does, so stepping to
    /// `offset` plus that count never passes the first position where it is `offset`.
    fn start(&self, offset: usize) -> Result<Option<Option<Key>>> {
        let mut p = offset;
        let mut key = self.key_after(None, offset)?;
        for _ in 0..SEEK_STEPS {
            let Some(k) = key else {
                return Ok(Some(None));
            };
            let target = offset.saturating_add(self.left_out_before(&k)?);
            if target <= p {
                return Ok(Some(Some(k)));
            }
            key = self.key_after(Some(&k), target - p - 1)?;
            p = target;
        }
        Ok(None)
    }

    /// The rowids of the first `limit` matches of `q` at or after `key`: the walk from `key`
    /// reads a row per match and per left-out row among them.
    fn matches_from(&self, q: &WorkflowQuery, key: &Key, limit: usize) -> Result<Vec<i64>> {
        let mut f = workflow_filter(q, false);
        self.after(&mut f, KEY, key, true);
        let limit = f.arg(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        let sql = format!(
            "SELECT rowid FROM workflows WHERE 1 = 1{} ORDER BY {} LIMIT {limit}",
            f.sql,
            self.order()
        );
        let rowids = self
            .conn
            .prepare_cached(&sql)?
            .query_map(params_from_iter(f.args.iter()), |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rowids)
    }
}
