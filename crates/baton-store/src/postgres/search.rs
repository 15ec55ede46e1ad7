//! The searches (workflows, tasks), each statement on a pooled connection.
//!
//! Every filter is a column condition an index of migration 6 can answer; free text on
//! workflows uses the trigram index of their search documents (`workflow_texts`, migration
//! 14) where the server has pg_trgm. A page is read in two steps: the ids of the page, in
//! order, from an index (a deep page steps over index entries, not over documents), then the
//! documents of those ids.

use super::read::{snapshot, workflow_from, Filter};
use super::to_i64;
use crate::classifier;
use crate::codec::{from_json, DefCache};
use crate::paging::{capped_total, from_the_end, past_the_cap};
use crate::{Result, WorkflowQuery};
use baton_model::Workflow;
use deadpool_postgres::GenericClient;
use std::collections::HashMap;
use tokio_postgres::types::FromSql;

mod plain;
mod tasks;

pub(in crate::postgres) use tasks::{
    search_task_workflow_ids, search_tasks, search_workflows_by_tasks,
};

/// Escapes `%`, `_` and `\` for `LIKE` (backslash is PostgreSQL's default escape).
pub(super) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Filter {
    /// ` AND column = ANY(…)` for a non-empty list; values with a `*` match as wildcards.
    fn matching(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let (patterns, exact): (Vec<String>, Vec<String>) =
            values.iter().cloned().partition(|v| v.contains('*'));
        let patterns: Vec<String> = patterns
            .iter()
            .map(|p| like_escape(p).replace('*', "%"))
            .collect();
        match (exact.is_empty(), patterns.is_empty()) {
            // One value is an equality: before PostgreSQL 17, `= ANY` on an index's first
            // column keeps the index from giving the rows in order.
            (false, true) if exact.len() == 1 => {
                let value = exact.into_iter().next().unwrap_or_default();
                self.and(&format!("{column} = {{}}"), value)
            }
            (false, true) => self.and(&format!("{column} = ANY({{}})"), exact),
            (true, false) => self.and(&format!("{column} LIKE ANY({{}})"), patterns),
            _ => {
                self.args.push(Box::new(exact));
                let e = self.args.len();
                self.args.push(Box::new(patterns));
                let p = self.args.len();
                self.sql.push_str(&format!(
                    " AND ({column} = ANY(${e}) OR {column} LIKE ANY(${p}))"
                ));
            }
        }
    }

    /// ` AND from <= column <= to` for the bounds given.
    fn range(&mut self, column: &str, from: Option<i64>, to: Option<i64>) {
        if let Some(f) = from {
            self.and(&format!("{column} >= {{}}"), f);
        }
        if let Some(t) = to {
            self.and(&format!("{column} <= {{}}"), t);
        }
    }
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

/// The count of the filter (unless `known`; up to `cap` matches, 0: all) and the ids of one
/// page (`id_column`, ordered by `order`; a page past the middle of an exact count is read
/// in the `reversed` order from the end). A page past the cap is read first: when it holds
/// rows, nothing needs counting.
async fn page_ids<T: for<'r> FromSql<'r>>(
    c: &impl GenericClient,
    (table, id_column): (&str, &str),
    (order, reversed): (&str, &str),
    filter: &mut Filter,
    (limit, offset, known, cap): (usize, usize, Option<i64>, usize),
) -> Result<(i64, Vec<T>)> {
    // Reading a page binds its limit and offset: the filter's own arguments end here.
    let filter_args = filter.args.len();
    let past = known.is_none() && past_the_cap(cap, offset, limit);
    if past {
        let ids = ids_in_order(c, (table, id_column), order, filter, (limit, offset)).await?;
        filter.args.truncate(filter_args);
        if !ids.is_empty() {
            return Ok((capped_total(cap, offset, ids.len()), ids));
        }
    }
    let total = match known {
        Some(total) => total,
        None => {
            let count_sql = if cap == 0 {
                format!("SELECT COUNT(*) FROM {table} WHERE true{}", filter.sql)
            } else {
                // One more than the cap tells whether there are more.
                format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE true{} LIMIT {}) m",
                    filter.sql,
                    cap.saturating_add(1)
                )
            };
            c.query_one(&count_sql, &filter.params())
                .await?
                .try_get(0)?
        }
    };
    if known.is_none() && cap > 0 && total > to_i64(cap) {
        // Past the cap the page was read already, and empty.
        let ids = if past {
            Vec::new()
        } else {
            ids_in_order(c, (table, id_column), order, filter, (limit, offset)).await?
        };
        return Ok((capped_total(cap, offset, ids.len()), ids));
    }
    let ids = match from_the_end(total, offset, limit) {
        Some((offset, count)) => {
            let mut ids =
                ids_in_order(c, (table, id_column), reversed, filter, (count, offset)).await?;
            ids.reverse();
            ids
        }
        None => ids_in_order(c, (table, id_column), order, filter, (limit, offset)).await?,
    };
    Ok((total, ids))
}

async fn ids_in_order<T: for<'r> FromSql<'r>>(
    c: &impl GenericClient,
    (table, id_column): (&str, &str),
    order: &str,
    filter: &mut Filter,
    (limit, offset): (usize, usize),
) -> Result<Vec<T>> {
    let limit = (limit > 0).then(|| to_i64(limit));
    filter.args.push(Box::new(limit));
    filter.args.push(Box::new(to_i64(offset)));
    let n = filter.args.len();
    let sql = format!(
        "SELECT {id_column} FROM {table} WHERE true{} ORDER BY {order} LIMIT ${} OFFSET ${n}",
        filter.sql,
        n - 1
    );
    let rows = c.query(&sql, &filter.params()).await?;
    rows.iter()
        .map(|r| r.try_get::<_, T>(0).map_err(Into::into))
        .collect()
}

/// The number of rows the filter matches and the ids of one page, from one reading of the
/// matches: a free-text filter is answered by the trigram index, whose candidates are
/// rechecked on their rows; a count and a page read apart would do that twice (or the page
/// would walk the start-time index through every row that does not match). `sort`: the
/// columns `order` names.
async fn matches_once(
    c: &impl GenericClient,
    (table, id_column, sort): (&str, &str, &str),
    order: &str,
    filter: &mut Filter,
    (limit, offset): (usize, usize),
) -> Result<(i64, Vec<String>)> {
    let limit = (limit > 0).then(|| to_i64(limit));
    filter.args.push(Box::new(limit));
    filter.args.push(Box::new(to_i64(offset)));
    let n = filter.args.len();
    // MATERIALIZED: the matches are read once, whatever the plan of each use would be. The
    // outer join keeps the count when the page is empty.
    let sql = format!(
        "WITH m AS MATERIALIZED (
             SELECT {id_column}, {sort} FROM {table} WHERE true{filter}
         )
         SELECT (SELECT COUNT(*) FROM m), p.{id_column}
         FROM (SELECT 1) one
         LEFT JOIN (SELECT {id_column}, {sort} FROM m ORDER BY {order} LIMIT ${l} OFFSET ${n}) p
             ON true
         ORDER BY {order}",
        filter = filter.sql,
        l = n - 1,
    );
    let rows = c.query(&sql, &filter.params()).await?;
    let mut total = 0;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        total = row.try_get(0)?;
        if let Some(id) = row.try_get::<_, Option<String>>(1)? {
            ids.push(id);
        }
    }
    Ok((total, ids))
}

/// The rows of `ids` in the order of `ids`: (id, json, extra column, classifier).
async fn rows_by_id(
    c: &impl GenericClient,
    (table, id_column, extra, classifier): (&str, &str, &str, &str),
    ids: &[String],
) -> Result<Vec<(String, String, Option<String>, String)>> {
    let sql = format!(
        "SELECT {id_column}, json::text, {extra}, {classifier} FROM {table} WHERE {id_column} = ANY($1)"
    );
    let stmt = c.prepare_cached(&sql).await?;
    let rows = c.query(&stmt, &[&ids]).await?;
    let mut by_id: HashMap<String, (String, Option<String>, String)> = HashMap::new();
    for row in rows {
        let found = (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        by_id.insert(row.try_get(0)?, found);
    }
    // Each statement has its own snapshot: a row removed in between is left out.
    Ok(ids
        .iter()
        .filter_map(|id| by_id.remove(id).map(|(j, e, k)| (id.clone(), j, e, k)))
        .collect())
}

/// The WHERE clause of a workflow search.
fn workflow_filter(q: &WorkflowQuery) -> Filter {
    let mut f = Filter::default();
    f.matching("workflow_id", &q.workflow_ids);
    f.matching("name", &q.workflow_types);
    let statuses: Vec<String> = q.statuses.iter().map(|s| s.as_str().to_string()).collect();
    f.matching("status", &statuses);
    f.matching("correlation_id", &q.correlation_ids);
    f.matching("parent_workflow_id", &q.parent_workflow_ids);
    if q.top_level_only {
        f.sql.push_str(" AND parent_workflow_id IS NULL");
    }
    for condition in &q.classifiers {
        f.matching("classifier", condition);
    }
    // Stated apart, so that the planner sees the classifier index's condition hold whatever
    // the values bound.
    if classifier::rare(q) {
        f.sql.push_str(&format!(" AND {}", classifier::INDEXED));
    }
    if let Some(v) = q.version {
        f.and("def_version = {}", v);
    }
    f.range("start_time", q.start_time_from, q.start_time_to);
    f.range("end_time", q.end_time_from, q.end_time_to);
    f.range("update_time", q.update_time_from, q.update_time_to);
    // The search documents of migration 14, under their trigram index.
    if let Some(text) = q.free_text.as_deref().filter(|t| !t.is_empty()) {
        let mut matches = Filter {
            sql: String::new(),
            args: std::mem::take(&mut f.args),
        };
        matches.free_text_in(Some(text));
        f.args = matches.args;
        f.sql.push_str(&format!(
            " AND workflow_id IN (SELECT workflow_id FROM workflow_texts WHERE true{})",
            matches.sql
        ));
    }
    if !q.idempotency_key_prefixes.is_empty() {
        let any: Vec<String> = q
            .idempotency_key_prefixes
            .iter()
            .map(|p| format!("{}%", like_escape(p)))
            .collect();
        f.and("idempotency_key LIKE ANY({})", any);
    }
    f
}

/// The filter of `q`, a search by free text ordered by `column`, on the search documents
/// alone, which hold each workflow's start time and status beside its document (migration
/// 14): None when it filters or orders by anything else, which `workflows` holds.
fn documents_alone(q: &WorkflowQuery, column: &str) -> Option<Filter> {
    if !matches!(column, "start_time" | "status") {
        return None;
    }
    let others = WorkflowQuery {
        free_text: None,
        statuses: Vec::new(),
        ..q.clone()
    };
    if !workflow_filter(&others).sql.is_empty() {
        return None;
    }
    let mut f = Filter::default();
    let statuses: Vec<String> = q.statuses.iter().map(|s| s.as_str().to_string()).collect();
    f.matching("status", &statuses);
    f.free_text_in(q.free_text.as_deref());
    Some(f)
}

/// The number of workflows `q` matches when it can be had without counting them one by
/// one: from the kept counts, or (a search of plain workflows whose other filters the kept
/// counts answer) as a difference with the rows the classifier index holds
/// (`classifier::total_by_difference`). Otherwise the page counts, up to its cap.
async fn known_total(c: &impl GenericClient, q: &WorkflowQuery) -> Result<Option<i64>> {
    if q.counted() {
        return Ok(Some(counted_total(c, q).await?));
    }
    let Some((without, others)) = classifier::total_by_difference(q) else {
        return Ok(None);
    };
    if !without.counted() {
        return Ok(None);
    }
    let all = counted_total(c, &without).await?;
    let mut f = workflow_filter(&without);
    f.sql.push_str(&format!(" AND {}", classifier::INDEXED));
    if !others.is_empty() {
        f.and("NOT (classifier = ANY({}))", others);
    }
    Ok(Some(all - count(c, &f).await?))
}

async fn count(c: &impl GenericClient, f: &Filter) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM workflows WHERE true{}", f.sql);
    Ok(c.query_one(&sql, &f.params()).await?.try_get(0)?)
}

pub(in crate::postgres) async fn search_workflows(
    c: &impl GenericClient,
    q: &WorkflowQuery,
) -> Result<(i64, Vec<Workflow>)> {
    let mut f = workflow_filter(q);
    let (column, desc) = q
        .sort
        .as_ref()
        .map(|(k, d)| (sort_column(k), *d))
        .unwrap_or(("start_time", true));
    let (dir, back) = if desc {
        ("DESC", "ASC")
    } else {
        ("ASC", "DESC")
    };
    let order = format!("{column} {dir}, workflow_id {dir}");
    let reversed = format!("{column} {back}, workflow_id {back}");
    let free_text = q.free_text.as_deref().is_some_and(|t| !t.is_empty());
    if q.skip_total && !free_text {
        return documents_in_order(c, &order, &mut f, (q.limit, q.offset)).await;
    }
    // Free text counts and pages in one reading of its matches (matches_once).
    let known = match free_text {
        true => None,
        false => known_total(c, q).await?,
    };
    let (total, ids) = if free_text {
        // From the documents alone when they hold every column the search names.
        let (table, mut f) = match documents_alone(q, column) {
            Some(documents) => ("workflow_texts", documents),
            None => ("workflows", f),
        };
        matches_once(
            c,
            (table, "workflow_id", column),
            &order,
            &mut f,
            (q.limit, q.offset),
        )
        .await?
    } else if let Some(found) = plain::page(c, q, known, (column, desc)).await? {
        found
    } else {
        page_ids(
            c,
            ("workflows", "workflow_id"),
            (&order, &reversed),
            &mut f,
            (q.limit, q.offset, known, q.count_limit),
        )
        .await?
    };
    let rows = rows_by_id(
        c,
        ("workflows", "workflow_id", "input_json::text", "classifier"),
        &ids,
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, json, input, class) in rows {
        let mut workflow = workflow_from(&json, input.as_deref(), &id)?;
        workflow.classifier = Some(class);
        out.push(workflow);
    }
    Ok((total, out))
}

/// The workflows of one page in order, read with their documents in one statement, and
/// `offset` plus their number: for lookups, which want no total and list every match (a
/// correlation id's executions). Reading the ids first would visit each row twice.
async fn documents_in_order(
    c: &impl GenericClient,
    order: &str,
    filter: &mut Filter,
    (limit, offset): (usize, usize),
) -> Result<(i64, Vec<Workflow>)> {
    let limit = (limit > 0).then(|| to_i64(limit));
    filter.args.push(Box::new(limit));
    filter.args.push(Box::new(to_i64(offset)));
    let n = filter.args.len();
    let sql = format!(
        "SELECT workflow_id, json::text, input_json::text FROM workflows WHERE true{}
         ORDER BY {order} LIMIT ${} OFFSET ${n}",
        filter.sql,
        n - 1
    );
    let rows = c.query(&sql, &filter.params()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0)?;
        out.push(workflow_from(row.try_get(1)?, row.try_get(2)?, &id)?);
    }
    Ok((to_i64(offset + out.len()), out))
}

/// The total of a [`WorkflowQuery::counted`] query: the sum of migration 7's count slots.
async fn counted_total(c: &impl GenericClient, q: &WorkflowQuery) -> Result<i64> {
    let mut f = Filter::default();
    f.matching("name", &q.workflow_types);
    let statuses: Vec<String> = q.statuses.iter().map(|s| s.as_str().to_string()).collect();
    f.matching("status", &statuses);
    let sql = format!(
        "SELECT COALESCE(SUM(n), 0)::bigint FROM workflow_counts WHERE true{}",
        f.sql
    );
    Ok(c.query_one(&sql, &f.params()).await?.try_get(0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_model::WorkflowStatus;

    #[test]
    fn free_text_by_status_in_start_or_status_order_reads_only_the_documents() {
        let text = WorkflowQuery {
            free_text: Some("corr-42".into()),
            limit: 100,
            ..Default::default()
        };
        let alone = |q: &WorkflowQuery| {
            let column = q
                .sort
                .as_ref()
                .map_or("start_time", |(k, _)| sort_column(k));
            documents_alone(q, column).map(|f| f.sql)
        };
        let documents = alone(&text).expect("free text alone");
        assert!(documents.contains("search_text LIKE"), "{documents}");
        assert!(documents.contains("search_key LIKE"), "{documents}");
        let by_status = WorkflowQuery {
            statuses: vec![WorkflowStatus::Running, WorkflowStatus::Failed],
            sort: Some(("status".into(), false)),
            ..text.clone()
        };
        let documents = alone(&by_status).expect("free text and status");
        assert!(documents.contains("status = ANY"), "{documents}");
        // Columns the documents do not hold.
        for sort in ["updateTime", "endTime", "workflowType"] {
            let q = WorkflowQuery {
                sort: Some((sort.into(), true)),
                ..text.clone()
            };
            assert!(alone(&q).is_none(), "{sort}");
        }
        let filtered = [
            WorkflowQuery {
                workflow_types: vec!["Shipping".into()],
                ..text.clone()
            },
            WorkflowQuery {
                correlation_ids: vec!["corr-42".into()],
                ..text.clone()
            },
            WorkflowQuery {
                start_time_from: Some(1),
                ..text.clone()
            },
            WorkflowQuery {
                classifiers: vec![vec!["agent".into()]],
                ..text.clone()
            },
            WorkflowQuery {
                top_level_only: true,
                ..text.clone()
            },
        ];
        for q in filtered {
            assert!(alone(&q).is_none(), "{q:?}");
        }
    }
}
