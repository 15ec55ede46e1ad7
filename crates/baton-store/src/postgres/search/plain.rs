//! Pages of plain workflows (`classifier=workflow`) found by position, not by checking the
//! classifier of every row stepped over (ADR 34, `classifier::plain_seek`); the same steps
//! as SQLite's `search/plain.rs`, which says how they work.

use super::{count, counted_total, workflow_filter, Filter};
use crate::classifier::{self, SEEK_STEPS};
use crate::paging::from_the_end;
use crate::postgres::to_i64;
use crate::{Result, WorkflowQuery};
use deadpool_postgres::GenericClient;

/// A row's place in the start-time order: its start time and id.
type Key = (i64, String);

/// The total and the ids of the page of `q` (whose total is `known`), newest first when
/// `desc`; None when the search is not one of plain workflows by start time, the left-out
/// rows are not few, or the steps do not settle (then the caller reads the page as any
/// other).
pub(super) async fn page(
    c: &impl GenericClient,
    q: &WorkflowQuery,
    known: Option<i64>,
    (column, desc): (&str, bool),
) -> Result<Option<(i64, Vec<String>)>> {
    let Some(total) = known else {
        return Ok(None);
    };
    if column != "start_time" {
        return Ok(None);
    }
    let Some((without, others)) = classifier::plain_seek(q) else {
        return Ok(None);
    };
    let all = counted_total(c, &without).await?;
    if !classifier::few_left_out(all, total) {
        return Ok(None);
    }
    // A page past the middle is the same page read backwards from the other end.
    let (desc, offset, limit, backwards) = match from_the_end(total, q.offset, q.limit) {
        Some((offset, count)) => (!desc, offset, count, true),
        None => (desc, q.offset, q.limit, false),
    };
    let seek = Seek {
        without: &without,
        others: &others,
        desc,
    };
    let Some(start) = seek.start(c, offset).await? else {
        return Ok(None);
    };
    let mut ids = match start {
        Some(key) => seek.matches_from(c, q, &key, limit).await?,
        None => Vec::new(),
    };
    if backwards {
        ids.reverse();
    }
    Ok(Some((total, ids)))
}

struct Seek<'a> {
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

    /// ` AND` the rows after `key` in the order (`or_at`: or at it); `desc` reversed for
    /// the rows before it.
    fn after(f: &mut Filter, desc: bool, key: &Key, or_at: bool) {
        let op = match (desc, or_at) {
            (true, false) => "<",
            (true, true) => "<=",
            (false, false) => ">",
            (false, true) => ">=",
        };
        f.args.push(Box::new(key.0));
        let t = f.args.len();
        f.args.push(Box::new(key.1.clone()));
        let id = f.args.len();
        f.sql.push_str(&format!(
            " AND (start_time, workflow_id) {op} (${t}, ${id})"
        ));
    }

    /// The key of the row of the search without the classifier condition `skip` rows after
    /// `from` (or from the start); None past its end.
    async fn key_after(
        &self,
        c: &impl GenericClient,
        from: Option<&Key>,
        skip: usize,
    ) -> Result<Option<Key>> {
        let mut f = workflow_filter(self.without);
        if let Some(from) = from {
            Self::after(&mut f, self.desc, from, false);
        }
        f.args.push(Box::new(to_i64(skip)));
        let sql = format!(
            "SELECT start_time, workflow_id FROM workflows WHERE true{} ORDER BY {} LIMIT 1 OFFSET ${}",
            f.sql,
            self.order(),
            f.args.len()
        );
        let row = c.query_opt(&sql, &f.params()).await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// The number of rows the classifier condition leaves out before `key`: rows of the
    /// classifier index (never a plain workflow) of none of the classifiers it names.
    async fn left_out_before(&self, c: &impl GenericClient, key: &Key) -> Result<usize> {
        let mut f = workflow_filter(self.without);
        f.sql.push_str(&format!(" AND {}", classifier::INDEXED));
        if !self.others.is_empty() {
            f.and("NOT (classifier = ANY({}))", self.others.to_vec());
        }
        Self::after(&mut f, !self.desc, key, false);
        Ok(usize::try_from(count(c, &f).await?).unwrap_or(usize::MAX))
    }

    /// The key the page at `offset` starts at (Some(None): the page is empty), or None when
    /// the steps do not settle.
    async fn start(&self, c: &impl GenericClient, offset: usize) -> Result<Option<Option<Key>>> {
        let mut p = offset;
        let mut key = self.key_after(c, None, offset).await?;
        for _ in 0..SEEK_STEPS {
            let Some(k) = key else {
                return Ok(Some(None));
            };
            let target = offset.saturating_add(self.left_out_before(c, &k).await?);
            if target <= p {
                return Ok(Some(Some(k)));
            }
            key = self.key_after(c, Some(&k), target - p - 1).await?;
            p = target;
        }
        Ok(None)
    }

    /// The ids of the first `limit` matches of `q` at or after `key`.
    async fn matches_from(
        &self,
        c: &impl GenericClient,
        q: &WorkflowQuery,
        key: &Key,
        limit: usize,
    ) -> Result<Vec<String>> {
        let mut f = workflow_filter(q);
        Self::after(&mut f, self.desc, key, true);
        f.args.push(Box::new(to_i64(limit)));
        let sql = format!(
            "SELECT workflow_id FROM workflows WHERE true{} ORDER BY {} LIMIT ${}",
            f.sql,
            self.order(),
            f.args.len()
        );
        let rows = c.query(&sql, &f.params()).await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }
}
