//! The searches (workflows here, tasks in `tasks.rs`) on the reader connections.
//!
//! Every filter is a column condition an index of migration 12 can answer. A page is read
//! in two steps: the rowids of the page, in order, from the index alone (a deep page steps
//! over index entries, never over rows or their JSON, and a sort that the index cannot give
//! sorts rowids, not documents), then the rows of those rowids.

use super::read::{self, workflow_from};
use crate::classifier;
use crate::paging::{capped_total, from_the_end, past_the_cap};
use crate::{Result, WorkflowQuery};
use baton_model::Workflow;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension};

mod plain;
mod tasks;

pub(crate) use tasks::{search_task_workflow_ids, search_tasks, search_workflows_by_tasks};

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A WHERE clause under construction with its bound values.
#[derive(Default)]
struct Filter {
    sql: String,
    args: Vec<Value>,
}

impl Filter {
    fn arg(&mut self, v: Value) -> String {
        self.args.push(v);
        format!("?{}", self.args.len())
    }

    /// ` AND column IN (…)` for a non-empty list; values with a `*` match as wildcards.
    fn any(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let mut ors = Vec::new();
        let (patterns, exact): (Vec<&String>, Vec<&String>) =
            values.iter().partition(|v| v.contains('*'));
        if !exact.is_empty() {
            let list: Vec<String> = exact
                .iter()
                .map(|v| self.arg(Value::Text((*v).clone())))
                .collect();
            ors.push(format!("{column} IN ({})", list.join(", ")));
        }
        for p in patterns {
            let like = like_escape(p).replace('*', "%");
            let a = self.arg(Value::Text(like));
            ors.push(format!("{column} LIKE {a} ESCAPE '\\'"));
        }
        self.sql.push_str(&format!(" AND ({})", ors.join(" OR ")));
    }

    /// ` AND from <= column <= to` for the bounds given.
    fn range(&mut self, column: &str, from: Option<i64>, to: Option<i64>) {
        if let Some(f) = from {
            let a = self.arg(Value::Integer(f));
            self.sql.push_str(&format!(" AND {column} >= {a}"));
        }
        if let Some(t) = to {
            let a = self.arg(Value::Integer(t));
            self.sql.push_str(&format!(" AND {column} <= {a}"));
        }
    }
}

impl Filter {
    /// Free text: a case-insensitive substring of the search documents in `index`
    /// (migration 13's `workflows_text`, migration 16's `tasks_text`) of the rows of
    /// `table`. Three characters or more make a trigram phrase, which the index answers
    /// exactly: a document holds the text where it holds its trigrams at consecutive
    /// positions, case folded as Unicode folds it (ADR 32: a LIKE recheck of each match,
    /// which folds ASCII letters only, cost more than the index read). Shorter text cannot
    /// use the index: each row's document is matched with LIKE (ASCII case) as the query
    /// walks the rows in order, so the page of a common string stops early.
    fn text_in(&mut self, (index, table): (&str, &str), text: Option<&str>) {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return;
        };
        if indexed_text(Some(text)) {
            let phrase = format!("\"{}\"", text.replace('"', "\"\""));
            let m = self.arg(Value::Text(phrase));
            if index == "tasks_text" {
                // Documents queued for the index (migration 17) are matched where they wait,
                // case folded as the index folds it; entries in it for their tasks, if any,
                // are out of date. Ids are not in the documents: a whole task or workflow id
                // matches its attempts through their indexes (ADR 35).
                let folded = self.arg(Value::Text(fold(text)));
                let id = self.arg(Value::Text(text.to_string()));
                self.sql.push_str(&format!(
                    " AND rowid IN (SELECT rowid FROM tasks_text WHERE tasks_text MATCH {m}
                        EXCEPT SELECT task_rowid FROM tasks_text_pending
                        UNION SELECT task_rowid FROM tasks_text_pending
                         WHERE instr(baton_fold(doc), {folded}) > 0
                        UNION SELECT rowid FROM tasks WHERE task_id = {id}
                        UNION SELECT rowid FROM tasks WHERE workflow_id = {id})"
                ));
            } else {
                self.sql.push_str(&format!(
                    " AND rowid IN (SELECT rowid FROM {index} WHERE {index} MATCH {m})"
                ));
            }
        } else {
            let like = self.arg(Value::Text(like_escape(text)));
            // A task queued for `tasks_text` (migration 17) has no document there yet, or an
            // out-of-date one: the queued document is the one to match.
            let doc = if index == "tasks_text" {
                "COALESCE((SELECT doc FROM tasks_text_pending WHERE task_rowid = tasks.rowid),
                          (SELECT doc FROM tasks_text WHERE rowid = tasks.rowid))"
                    .to_string()
            } else {
                format!("(SELECT doc FROM {index} WHERE rowid = {table}.rowid)")
            };
            self.sql
                .push_str(&format!(" AND {doc} LIKE '%' || {like} || '%' ESCAPE '\\'"));
        }
    }
}

/// Text case folded as the trigram index folds it (Unicode lower case), for matching
/// documents not yet indexed. The same as the `baton_fold` SQL function.
pub(super) fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// Whether free text is answered by its trigram index (three characters or more): its
/// matches are then few enough to read once for the total and the page
/// ([`Total::OfMatches`]). Shorter text is a condition on each row, counted up to the cap.
fn indexed_text(text: Option<&str>) -> bool {
    text.is_some_and(|t| t.chars().count() >= 3)
}

/// The ORDER BY column for an API sort key; unknown keys sort by start time.
fn sort_column(key: &str) -> &'static str {
    match key {
        "updateTime" => "update_time",
        "endTime" => "end_time",
        "workflowType" => "name",
        "status" => "status",
        _ => "start_time",
    }
}

/// The count of the filter and the rowids of one page, then each row decoded by rowid.
struct Page<'a> {
    table: &'a str,
    /// SQL for the columns read per row: its id, `json`, one more and its classifier
    /// (`NULL` when none).
    columns: &'a str,
    order: &'a str,
    /// `order` reversed, to read pages past the middle from the end ([`from_the_end`]).
    reversed: &'a str,
    /// 0: no limit.
    limit: usize,
    offset: usize,
    total: Total,
    /// Most matches [`Total::Counted`] counts (0: all).
    count_limit: usize,
}

/// How [`Page::fetch`] learns the number of matches.
enum Total {
    /// The caller knows it (from stored counts).
    Known(i64),
    /// A count over the filter, then the page.
    Counted,
    /// Every match read once, in order: the total is their number, the page a slice of
    /// them. For filters whose every evaluation is costly (free text: a count and a page
    /// read apart would each run the full-text query and recheck its candidates).
    OfMatches,
    /// Not wanted (the caller ignores it): the page alone, its length as the total.
    Skipped,
    /// Known, and the rowids of the page found by the caller (`plain::page`).
    Found(i64, Vec<i64>),
}

impl Page<'_> {
    /// The rowids of the page in order; with the `total` known, a page past the middle is
    /// read from the other end.
    fn rowids(
        &self,
        conn: &Connection,
        sql: &str,
        args: &mut Vec<Value>,
        total: Option<i64>,
    ) -> Result<Vec<i64>> {
        let from_end = total.and_then(|t| from_the_end(t, self.offset, self.limit));
        let (order, limit, offset) = match from_end {
            Some((offset, count)) => (self.reversed, to_i64(count), offset),
            None if self.limit == 0 => (self.order, -1, self.offset),
            None => (self.order, to_i64(self.limit), self.offset),
        };
        args.push(Value::Integer(limit));
        args.push(Value::Integer(to_i64(offset)));
        let page_sql = format!(
            "SELECT rowid FROM {} WHERE 1 = 1{sql} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
            self.table,
            args.len() - 1,
            args.len()
        );
        let mut rowids: Vec<i64> = conn
            .prepare_cached(&page_sql)?
            .query_map(params_from_iter(args.iter()), |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if from_end.is_some() {
            rowids.reverse();
        }
        Ok(rowids)
    }

    /// The total, counted up to `count_limit`, and the rowids of the page. A page past the
    /// cap is read first: when it holds rows, nothing needs counting.
    fn counted(&self, conn: &Connection, sql: &str, args: Vec<Value>) -> Result<(i64, Vec<i64>)> {
        let cap = self.count_limit;
        let past = past_the_cap(cap, self.offset, self.limit);
        if past {
            let rowids = self.rowids(conn, sql, &mut args.clone(), None)?;
            if !rowids.is_empty() {
                return Ok((capped_total(cap, self.offset, rowids.len()), rowids));
            }
        }
        let table = self.table;
        let count = if cap == 0 {
            format!("SELECT COUNT(*) FROM {table} WHERE 1 = 1{sql}")
        } else {
            // One more than the cap tells whether there are more.
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE 1 = 1{sql} LIMIT {})",
                cap.saturating_add(1)
            )
        };
        let n: i64 = conn
            .prepare_cached(&count)?
            .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
        let mut args = args;
        if cap > 0 && n > to_i64(cap) {
            // Past the cap the page was read already, and empty.
            let rowids = if past {
                Vec::new()
            } else {
                self.rowids(conn, sql, &mut args, None)?
            };
            return Ok((capped_total(cap, self.offset, rowids.len()), rowids));
        }
        Ok((n, self.rowids(conn, sql, &mut args, Some(n))?))
    }

    fn fetch<T>(
        &self,
        conn: &Connection,
        filter: Filter,
        decode: impl Fn(&str, &str, Option<&str>, Option<String>) -> Result<T>,
    ) -> Result<(i64, Vec<T>)> {
        let Filter { sql, mut args } = filter;
        let table = self.table;
        let (total, rowids) = match self.total {
            Total::OfMatches => {
                let all_sql = format!(
                    "SELECT rowid FROM {table} WHERE 1 = 1{sql} ORDER BY {}",
                    self.order
                );
                let all: Vec<i64> = conn
                    .prepare_cached(&all_sql)?
                    .query_map(params_from_iter(args.iter()), |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let take = if self.limit == 0 {
                    usize::MAX
                } else {
                    self.limit
                };
                let page = all.iter().skip(self.offset).take(take).copied().collect();
                (to_i64(all.len()), page)
            }
            Total::Skipped => {
                let rowids = self.rowids(conn, &sql, &mut args, None)?;
                (to_i64(self.offset + rowids.len()), rowids)
            }
            Total::Known(total) => (total, self.rowids(conn, &sql, &mut args, Some(total))?),
            Total::Found(total, ref rowids) => (total, rowids.clone()),
            Total::Counted => self.counted(conn, &sql, args)?,
        };
        let mut row = conn.prepare_cached(&format!(
            "SELECT {} FROM {table} WHERE rowid = ?1",
            self.columns
        ))?;
        let mut page = Vec::with_capacity(rowids.len());
        for rowid in rowids {
            let found = row
                .query_row([rowid], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                })
                .optional()?;
            // Readers see one snapshot, so a row of the page is always there.
            if let Some((id, json, extra, class)) = found {
                page.push(decode(&id, &json, extra.as_deref(), class)?);
            }
        }
        Ok((total, page))
    }
}

/// The WHERE clause of a workflow search. `rare`: a classifier condition picks rows of
/// the classifier index only, which then drives the query.
fn workflow_filter(q: &WorkflowQuery, rare: bool) -> Filter {
    let mut f = Filter::default();
    // With a filter that picks few rows (ids, a correlation id, a parent), its index must
    // drive the query and the few rows are sorted; without statistics SQLite would rather
    // walk the name or status index in start-time order and test every row. A unary `+`
    // keeps a column's index out of the plan. A classifier other than `workflow` is taken
    // to be rare (an agent), the reason its index leaves plain workflows out.
    let selective = !q.workflow_ids.is_empty()
        || !q.correlation_ids.is_empty()
        || !q.parent_workflow_ids.is_empty()
        || rare
        || indexed_text(q.free_text.as_deref());
    let (name, status) = if selective {
        ("+name", "+status")
    } else {
        ("name", "status")
    };
    f.any("workflow_id", &q.workflow_ids);
    f.any(name, &q.workflow_types);
    let statuses: Vec<String> = q.statuses.iter().map(|s| s.as_str().to_string()).collect();
    f.any(status, &statuses);
    f.any("correlation_id", &q.correlation_ids);
    f.any("parent_workflow_id", &q.parent_workflow_ids);
    if q.top_level_only {
        f.sql.push_str(" AND parent_workflow_id IS NULL");
    }
    for condition in &q.classifiers {
        f.any("classifier", condition);
    }
    if rare {
        f.sql.push_str(&format!(" AND {}", classifier::INDEXED));
    }
    if !q.idempotency_key_prefixes.is_empty() {
        let mut ors = Vec::new();
        for p in &q.idempotency_key_prefixes {
            let a = f.arg(Value::Text(like_escape(p)));
            ors.push(format!("idempotency_key LIKE {a} || '%' ESCAPE '\\'"));
        }
        f.sql.push_str(&format!(" AND ({})", ors.join(" OR ")));
    }
    if let Some(v) = q.version {
        let a = f.arg(Value::Integer(i64::from(v)));
        f.sql.push_str(&format!(" AND def_version = {a}"));
    }
    f.range("start_time", q.start_time_from, q.start_time_to);
    f.range("end_time", q.end_time_from, q.end_time_to);
    f.range("update_time", q.update_time_from, q.update_time_to);
    f.text_in(("workflows_text", "workflows"), q.free_text.as_deref());
    f
}

/// The number of workflows `q` matches when it can be had without counting them one by
/// one: from the kept counts, or (a search of plain workflows whose other filters the kept
/// counts answer) as a difference with the rows the classifier index holds
/// (`classifier::total_by_difference`). Otherwise the page counts, up to its cap.
fn known_total(conn: &Connection, q: &WorkflowQuery) -> Result<Option<i64>> {
    if q.counted() {
        return Ok(Some(counted_total(conn, q)?));
    }
    let Some((without, others)) = classifier::total_by_difference(q) else {
        return Ok(None);
    };
    if !without.counted() {
        return Ok(None);
    }
    let all = counted_total(conn, &without)?;
    let mut f = workflow_filter(&without, true);
    if !others.is_empty() {
        let list: Vec<String> = others
            .iter()
            .map(|v| f.arg(Value::Text(v.clone())))
            .collect();
        f.sql
            .push_str(&format!(" AND classifier NOT IN ({})", list.join(", ")));
    }
    Ok(Some(all - count(conn, f)?))
}

fn count(conn: &Connection, f: Filter) -> Result<i64> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM workflows WHERE 1 = 1{}",
            f.sql
        ))?
        .query_row(params_from_iter(f.args.iter()), |r| r.get(0))?)
}

pub(crate) fn search_workflows(
    conn: &Connection,
    q: &WorkflowQuery,
) -> Result<(i64, Vec<Workflow>)> {
    let f = workflow_filter(q, classifier::rare(q));
    let (column, desc) = q
        .sort
        .as_ref()
        .map(|(k, d)| (sort_column(k), *d))
        .unwrap_or(("start_time", true));
    let (order, reversed) = if desc {
        (
            format!("{column} DESC, workflow_id DESC"),
            format!("{column} ASC, workflow_id ASC"),
        )
    } else {
        (
            format!("{column} ASC, workflow_id ASC"),
            format!("{column} DESC, workflow_id DESC"),
        )
    };
    let page = Page {
        table: "workflows",
        columns: "workflow_id, json,
                  (SELECT input_json FROM workflow_inputs i
                    WHERE i.workflow_id = workflows.workflow_id),
                  classifier",
        order: &order,
        reversed: &reversed,
        limit: q.limit,
        offset: q.offset,
        total: if q.skip_total {
            Total::Skipped
        } else if let Some(total) = known_total(conn, q)? {
            match plain::page(conn, q, total, (column, desc))? {
                Some(rowids) => Total::Found(total, rowids),
                None => Total::Known(total),
            }
        } else if indexed_text(q.free_text.as_deref()) {
            Total::OfMatches
        } else {
            Total::Counted
        },
        count_limit: q.count_limit,
    };
    page.fetch(conn, f, |id, json, input, class| {
        let mut workflow = workflow_from(json, input, id)?;
        workflow.classifier = class;
        Ok(workflow)
    })
}

/// The total of a [`WorkflowQuery::counted`] query, from migration 13's counts.
fn counted_total(conn: &Connection, q: &WorkflowQuery) -> Result<i64> {
    let mut f = Filter::default();
    f.any("name", &q.workflow_types);
    let statuses: Vec<String> = q.statuses.iter().map(|s| s.as_str().to_string()).collect();
    f.any("status", &statuses);
    let sql = format!(
        "SELECT COALESCE(SUM(n), 0) FROM workflow_counts WHERE 1 = 1{}",
        f.sql
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(f.args.iter()), |r| r.get(0))?)
}
