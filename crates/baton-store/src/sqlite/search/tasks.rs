//! Task searches: attempts by their columns and free text, the workflow ids of matching
//! attempts, and search-by-tasks' pages of workflows (ADR 33).

use super::read;
use super::{indexed_text, to_i64, Filter, Page, Total};
use crate::codec::{from_json, DefCache};
use crate::{Result, TaskQuery};
use baton_model::{Task, Workflow};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use std::collections::HashSet;

fn task_filter(q: &TaskQuery) -> Filter {
    let mut f = Filter::default();
    // Free text picks few rows from its index; a `+` keeps the status and type indexes
    // from driving the query instead (as for workflows).
    let text = indexed_text(q.free_text.as_deref());
    let (def_name, task_type, status) = if text {
        ("+task_def_name", "+task_type", "+status")
    } else {
        ("task_def_name", "task_type", "status")
    };
    f.any("task_id", &q.task_ids);
    f.any("workflow_id", &q.workflow_ids);
    f.any(def_name, &q.task_def_names);
    f.any(task_type, &q.task_types);
    f.any("ref_name", &q.ref_names);
    let statuses: Vec<String> = q.statuses.iter().map(|s| s.as_str().to_string()).collect();
    f.any(status, &statuses);
    if !q.workflow_types.is_empty() {
        let mut names = Filter {
            sql: String::new(),
            args: std::mem::take(&mut f.args),
        };
        names.any("name", &q.workflow_types);
        f.args = names.args;
        f.sql.push_str(&format!(
            " AND workflow_id IN (SELECT workflow_id FROM workflows WHERE 1 = 1{})",
            names.sql
        ));
    }
    f.range("start_time", q.start_time_from, q.start_time_to);
    f.range("end_time", q.end_time_from, q.end_time_to);
    f.text_in(("tasks_text", "tasks"), q.free_text.as_deref());
    f
}

/// Newest attempt first unless sorted by start or end time; `reversed` gives the opposite.
fn task_order(q: &TaskQuery, reversed: bool) -> String {
    let dir = |desc: bool| if desc != reversed { "DESC" } else { "ASC" };
    match q.sort.as_ref() {
        Some((key, desc)) if key == "startTime" || key == "endTime" => {
            let column = if key == "startTime" {
                "start_time"
            } else {
                "end_time"
            };
            let dir = dir(*desc);
            format!("{column} {dir}, rowid {dir}")
        }
        _ => format!("rowid {}", dir(true)),
    }
}

pub(crate) fn search_tasks(conn: &Connection, q: &TaskQuery) -> Result<(i64, Vec<Task>)> {
    let order = task_order(q, false);
    let reversed = task_order(q, true);
    let page = Page {
        table: "tasks",
        columns: "task_id, json, NULL, NULL",
        order: &order,
        reversed: &reversed,
        limit: q.limit,
        offset: q.offset,
        // Free text reads its matches once for the total and the page (as for workflows).
        total: if indexed_text(q.free_text.as_deref()) {
            Total::OfMatches
        } else {
            Total::Counted
        },
        count_limit: q.count_limit,
    };
    page.fetch(conn, task_filter(q), |id, json, _, _| {
        from_json(json, &format!("task {id}"))
    })
}

/// The workflow ids of the attempts `q` matches, in its order, without reading documents.
pub(crate) fn search_task_workflow_ids(conn: &Connection, q: &TaskQuery) -> Result<Vec<String>> {
    let Filter { sql, mut args } = task_filter(q);
    let limit = if q.limit == 0 { -1 } else { to_i64(q.limit) };
    args.push(Value::Integer(limit));
    args.push(Value::Integer(to_i64(q.offset)));
    let page_sql = format!(
        "SELECT workflow_id FROM tasks WHERE 1 = 1{sql} ORDER BY {} LIMIT ?{} OFFSET ?{}",
        task_order(q, false),
        args.len() - 1,
        args.len()
    );
    let ids = conn
        .prepare_cached(&page_sql)?
        .query_map(params_from_iter(args.iter()), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// The page of search-by-tasks (see [`crate::Store::search_workflows_by_tasks`]): the
/// attempts `start..start + size` of those `scan` matches within its window, read as
/// workflow ids (a lookup of each attempt's row), and their workflows, each once, read as
/// [`read::get_workflow`] reads a workflow; the total is the attempts of the window counted
/// from the index alone, up to the count limit, less the repeats on the page. All in the
/// same read transaction.
pub(crate) fn search_workflows_by_tasks(
    conn: &Connection,
    defs: &DefCache,
    scan: &TaskQuery,
    (start, size): (usize, usize),
) -> Result<(i64, Vec<Workflow>)> {
    let (take, bound) = crate::paging::by_tasks_window(scan, start, size);
    let ids = if take == 0 {
        Vec::new()
    } else {
        search_task_workflow_ids(
            conn,
            &TaskQuery {
                offset: start,
                limit: take,
                ..scan.clone()
            },
        )?
    };
    let Filter { sql, args } = task_filter(scan);
    let count_sql = match bound {
        0 => format!("SELECT COUNT(*) FROM tasks WHERE 1 = 1{sql}"),
        n => format!("SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE 1 = 1{sql} LIMIT {n})"),
    };
    let counted: i64 = conn
        .prepare_cached(&count_sql)?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
    let attempts = ids.len();
    let mut seen = HashSet::with_capacity(attempts);
    let firsts: Vec<String> = ids
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect();
    let total = crate::paging::by_tasks_total(scan, counted, start, attempts, firsts.len());
    let mut page = Vec::with_capacity(firsts.len());
    for id in &firsts {
        if let Some(w) = read::get_workflow(conn, defs, id)? {
            page.push(w);
        }
    }
    Ok((total, page))
}
