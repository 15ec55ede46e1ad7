//! Task searches: attempts by their columns and free text (the search documents, read alone
//! when free text is the only filter), the workflow ids of matching attempts, and
//! search-by-tasks' pages of workflows.

use super::{
    from_json, ids_in_order, matches_once, page_ids, rows_by_id, snapshot, workflow_from, DefCache,
    Filter,
};
use crate::{Result, TaskQuery};
use baton_model::{Task, Workflow};
use deadpool_postgres::GenericClient;
use std::collections::HashMap;

fn task_filter(q: &TaskQuery) -> Filter {
    let mut f = Filter::default();
    f.matching("task_id", &q.task_ids);
    f.matching("workflow_id", &q.workflow_ids);
    f.matching("task_def_name", &q.task_def_names);
    f.matching("task_type", &q.task_types);
    f.matching("ref_name", &q.ref_names);
    let statuses: Vec<String> = q.statuses.iter().map(|s| s.as_str().to_string()).collect();
    f.matching("status", &statuses);
    if !q.workflow_types.is_empty() {
        let mut names = Filter {
            sql: String::new(),
            args: std::mem::take(&mut f.args),
        };
        names.matching("name", &q.workflow_types);
        f.args = names.args;
        f.sql.push_str(&format!(
            " AND workflow_id IN (SELECT workflow_id FROM workflows WHERE true{})",
            names.sql
        ));
    }
    f.range("start_time", q.start_time_from, q.start_time_to);
    f.range("end_time", q.end_time_from, q.end_time_to);
    if let Some(text) = q.free_text.as_deref().filter(|t| !t.is_empty()) {
        let matches = text_matches(&mut f, text);
        f.sql.push_str(&format!(
            " AND task_id IN (SELECT task_id FROM ({matches}) m)"
        ));
    }
    f
}

/// The attempts free text matches, as `SELECT task_id, row_id …` with its values bound in
/// `f`: those whose search document (migrations 12 and 13; in lower case since migration 15,
/// so the text is folded once instead of each candidate) holds the text, found through the
/// trigram index on the documents' keys (migration 16: punctuation kept inside words), and
/// those whose task id or workflow id is the text, which the documents leave out (ADR 35),
/// through the indexes of `tasks`.
fn text_matches(f: &mut Filter, text: &str) -> String {
    let mut documents = Filter {
        sql: String::new(),
        args: std::mem::take(&mut f.args),
    };
    documents.free_text_in(Some(text));
    f.args = documents.args;
    f.args.push(Box::new(text.to_string()));
    let id = f.args.len();
    format!(
        "SELECT task_id, row_id FROM task_texts WHERE true{}
         UNION SELECT task_id, row_id FROM tasks WHERE task_id = ${id} OR workflow_id = ${id}",
        documents.sql
    )
}

/// Whether `q` is sorted by start or end time (otherwise by row id: newest attempt first).
fn by_time(q: &TaskQuery) -> bool {
    q.sort
        .as_ref()
        .is_some_and(|(key, _)| key == "startTime" || key == "endTime")
}

/// Newest attempt first unless sorted by start or end time; `reversed` gives the opposite.
fn task_order(q: &TaskQuery, reversed: bool) -> String {
    let dir = |desc: bool| if desc != reversed { "DESC" } else { "ASC" };
    match q.sort.as_ref() {
        Some((key, desc)) if by_time(q) => {
            let column = if key == "startTime" {
                "start_time"
            } else {
                "end_time"
            };
            let dir = dir(*desc);
            format!("{column} {dir}, row_id {dir}")
        }
        _ => format!("row_id {}", dir(true)),
    }
}

/// Whether the task search `q` (with free text) can count and order its matches from the
/// search documents alone: no other filter, and the order by row id, which the documents
/// hold (migration 13).
fn from_documents_alone(q: &TaskQuery) -> bool {
    !by_time(q)
        && task_filter(&TaskQuery {
            free_text: None,
            ..q.clone()
        })
        .sql
        .is_empty()
}

pub(in crate::postgres) async fn search_tasks(
    c: &impl GenericClient,
    q: &TaskQuery,
) -> Result<(i64, Vec<Task>)> {
    // The page is read as row ids, which the status and type indexes hold (task ids would
    // need a visit to each row stepped over), then the rows of those row ids. They are read
    // as numbers: a page deep in the range steps over every entry before it, and a cast
    // per entry doubled that walk.
    let mut f = task_filter(q);
    if let Some(text) = q.free_text.as_deref().filter(|t| !t.is_empty()) {
        // Free text counts and pages in one reading of its matches, as for workflows. By
        // itself, in the newest-first order, it reads only the documents, which hold the
        // row id (migration 13); other filters and orders are on `tasks` columns that
        // claims change.
        let order = task_order(q, false);
        let (table, sort) = if from_documents_alone(q) {
            f = Filter::default();
            (format!("({}) d", text_matches(&mut f, text)), "row_id")
        } else {
            ("tasks".to_string(), "row_id, start_time, end_time")
        };
        let (total, ids) = matches_once(
            c,
            (&table, "task_id", sort),
            &order,
            &mut f,
            (q.limit, q.offset),
        )
        .await?;
        // Tasks have no classifier of their own.
        let rows = rows_by_id(c, ("tasks", "task_id", "NULL::text", "''::text"), &ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, json, _, _) in rows {
            out.push(from_json(&json, &format!("task {id}"))?);
        }
        return Ok((total, out));
    }
    let (total, row_ids): (i64, Vec<i64>) = page_ids(
        c,
        ("tasks", "row_id"),
        (&task_order(q, false), &task_order(q, true)),
        &mut f,
        (q.limit, q.offset, None, q.count_limit),
    )
    .await?;
    let mut f = task_filter(q);
    f.and("row_id = ANY({})", row_ids.clone());
    let sql = format!(
        "SELECT row_id, task_id, json::text FROM tasks WHERE true{}",
        f.sql
    );
    let mut by_row: HashMap<i64, (String, String)> = HashMap::new();
    for row in c.query(&sql, &f.params()).await? {
        by_row.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
    }
    // Each statement has its own snapshot: a row removed or changed in between is left out.
    let mut out = Vec::with_capacity(row_ids.len());
    for (id, json) in row_ids.iter().filter_map(|r| by_row.remove(r)) {
        out.push(from_json(&json, &format!("task {id}"))?);
    }
    Ok((total, out))
}

/// The workflow ids of the attempts `q` matches, in its order, without reading documents.
pub(in crate::postgres) async fn search_task_workflow_ids(
    c: &impl GenericClient,
    q: &TaskQuery,
) -> Result<Vec<String>> {
    let mut f = task_filter(q);
    ids_in_order(
        c,
        ("tasks", "workflow_id"),
        &task_order(q, false),
        &mut f,
        (q.limit, q.offset),
    )
    .await
}

/// The page of search-by-tasks (see [`crate::Store::search_workflows_by_tasks`]): the
/// workflow ids of the attempts `start..start + size` of those `scan` matches within its
/// window (from the task index, which includes the workflow id), their workflows, each once,
/// and the attempts of the window counted up to the count limit, less the repeats on the
/// page. Each step reads only what the page needs: a count stops at the window, and nothing
/// groups the attempts of the whole window.
pub(in crate::postgres) async fn search_workflows_by_tasks(
    c: &impl GenericClient,
    defs: &DefCache,
    scan: &TaskQuery,
    (start, size): (usize, usize),
) -> Result<(i64, Vec<Workflow>)> {
    let (take, bound) = crate::paging::by_tasks_window(scan, start, size);
    let ids = if take == 0 {
        Vec::new()
    } else {
        let page = TaskQuery {
            offset: start,
            limit: take,
            ..scan.clone()
        };
        search_task_workflow_ids(c, &page).await?
    };
    let f = task_filter(scan);
    let count_sql = match bound {
        0 => format!("SELECT COUNT(*) FROM tasks WHERE true{}", f.sql),
        n => format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE true{} LIMIT {n}) m",
            f.sql
        ),
    };
    let counted: i64 = c.query_one(&count_sql, &f.params()).await?.try_get(0)?;
    let attempts = ids.len();
    let mut seen = std::collections::HashSet::with_capacity(attempts);
    let firsts: Vec<String> = ids
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect();
    let total = crate::paging::by_tasks_total(scan, counted, start, attempts, firsts.len());
    if firsts.is_empty() {
        return Ok((total, Vec::new()));
    }
    let rows = c
        .query(
            "SELECT workflow_id, json::text, def_hash, input_json::text FROM workflows
             WHERE workflow_id = ANY($1)",
            &[&firsts],
        )
        .await?;
    let mut by_id: HashMap<String, (String, String, Option<String>)> = HashMap::new();
    for row in rows {
        by_id.insert(
            row.try_get(0)?,
            (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?),
        );
    }
    // A workflow removed since its attempt was read is left out of the page.
    let mut out = Vec::with_capacity(firsts.len());
    for id in &firsts {
        let Some((json, hash, input)) = by_id.remove(id) else {
            continue;
        };
        let mut workflow = workflow_from(&json, input.as_deref(), id)?;
        workflow.workflow_definition = Some(snapshot(c, defs, &hash).await?);
        out.push(workflow);
    }
    Ok((total, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_model::TaskStatus;

    #[test]
    fn free_text_alone_in_row_order_reads_only_the_documents() {
        let text = TaskQuery {
            free_text: Some("corr-42".into()),
            limit: 100,
            ..Default::default()
        };
        assert!(from_documents_alone(&text));
        // Sort keys other than the times order by row id too.
        let by_status = TaskQuery {
            sort: Some(("status".into(), false)),
            ..text.clone()
        };
        assert!(from_documents_alone(&by_status));
        // Columns of `tasks` that the documents do not hold.
        for sort in ["startTime", "endTime"] {
            let q = TaskQuery {
                sort: Some((sort.into(), true)),
                ..text.clone()
            };
            assert!(!from_documents_alone(&q), "{sort}");
        }
        let filtered = [
            TaskQuery {
                statuses: vec![TaskStatus::Scheduled],
                ..text.clone()
            },
            TaskQuery {
                task_def_names: vec!["pack".into()],
                ..text.clone()
            },
            TaskQuery {
                workflow_types: vec!["Shipping".into()],
                ..text.clone()
            },
            TaskQuery {
                start_time_from: Some(1),
                ..text.clone()
            },
        ];
        for q in filtered {
            assert!(!from_documents_alone(&q), "{q:?}");
        }
    }
}
