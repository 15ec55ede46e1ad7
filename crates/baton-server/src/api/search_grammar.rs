//! Conductor's search grammar (§2.7), as its SQL index reads it: the `query` parameter is
//! `<field> <op> <value>` conditions joined by `AND`, op one of `=`, `>`, `<` or
//! `IN (a,b,…)`; values may be quoted with `'` or `"`; a `*` in a value is a wildcard.
//! `AND` separates conditions only outside quotes and parentheses, so a quoted value may
//! contain it. Anything else is a 400 naming the condition and what was expected.
//!
//! Then the fields: [`workflow_query`] and [`task_query`] map conditions onto the store's
//! filters, rejecting unknown fields and operators with the list of what is supported.

use super::params::{flag, opt, text, QueryMap};
use crate::error::ApiError;
use baton_model::{TaskStatus, WorkflowStatus};
use baton_store::{Millis, TaskQuery, WorkflowQuery};

/// Largest `size` of one search page.
pub(crate) const MAX_PAGE_SIZE: usize = 5000;

/// A comparison of one condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Gt,
    Lt,
    In,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::In => "IN",
        }
    }
}

/// One condition: field, operator and its values (one unless `IN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub field: String,
    pub op: Op,
    pub values: Vec<String>,
}

fn bad(msg: String) -> ApiError {
    ApiError::bad_request(format!("query: {msg}"))
}

/// Splits `query` into its conditions.
pub(crate) fn parse(query: &str) -> Result<Vec<Condition>, ApiError> {
    let mut out = Vec::new();
    for part in split_and(query)? {
        let part = part.trim();
        if part.is_empty() {
            return Err(bad(format!(
                "'{query}' has an empty condition (a dangling AND?)"
            )));
        }
        out.push(condition(part)?);
    }
    Ok(out)
}

/// Splits on the word `AND` (any case) outside quotes and parentheses.
fn split_and(query: &str) -> Result<Vec<String>, ApiError> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<char> = query.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' => depth += 1,
                ')' => {
                    depth = depth.checked_sub(1).ok_or_else(|| {
                        bad(format!("'{query}' closes a parenthesis it never opened"))
                    })?
                }
                _ => {}
            },
        }
        let at_word = quote.is_none()
            && depth == 0
            && c.is_whitespace()
            && chars.len() > i + 4
            && chars[i + 1..i + 4]
                .iter()
                .collect::<String>()
                .eq_ignore_ascii_case("AND")
            && chars[i + 4].is_whitespace();
        if at_word {
            parts.push(std::mem::take(&mut current));
            i += 5;
            continue;
        }
        current.push(c);
        i += 1;
    }
    if let Some(q) = quote {
        return Err(bad(format!("'{query}' has an unclosed {q} quote")));
    }
    if depth > 0 {
        return Err(bad(format!("'{query}' has an unclosed parenthesis")));
    }
    parts.push(current);
    Ok(parts)
}

fn condition(cond: &str) -> Result<Condition, ApiError> {
    let expected = || {
        bad(format!(
            "condition '{cond}' is not of the form <field> <op> <value> with op =, >, < or IN (…)"
        ))
    };
    let field_end = cond
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(cond.len());
    let field = &cond[..field_end];
    if field.is_empty() {
        return Err(expected());
    }
    let rest = cond[field_end..].trim_start();
    let (op, value) = if let Some(v) = rest.strip_prefix('=') {
        (Op::Eq, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else if let Some(v) = rest
        .get(..2)
        .filter(|w| w.eq_ignore_ascii_case("IN"))
        .and_then(|_| rest.get(2..))
    {
        // `get`, not slicing: the text after a field may start with any character.
        (Op::In, v)
    } else {
        return Err(expected());
    };
    let value = value.trim();
    let values = if op == Op::In {
        let inner = value
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .ok_or_else(|| {
                bad(format!(
                    "condition '{cond}': IN takes a list in parentheses, e.g. IN (A,B)"
                ))
            })?;
        // As Conductor's SQL index reads a list: quotes dropped, then split on commas.
        let values: Vec<String> = inner
            .replace(['\'', '"'], "")
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Err(bad(format!(
                "condition '{cond}': IN needs at least one value"
            )));
        }
        values
    } else {
        if value.is_empty() {
            return Err(bad(format!("condition '{cond}' has no value")));
        }
        vec![unquote(value)]
    };
    Ok(Condition {
        field: field.to_string(),
        op,
        values,
    })
}

/// A condition as (field, operator, values), for callers with fields of their own.
pub(crate) type FieldCondition = (String, &'static str, Vec<String>);

/// The conditions of `query`, for callers with fields of their own.
pub(crate) fn conditions(query: &str) -> Result<Vec<FieldCondition>, ApiError> {
    Ok(parse(query)?
        .into_iter()
        .map(|c| (c.field, c.op.as_str(), c.values))
        .collect())
}

fn unquote(v: &str) -> String {
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    v.to_string()
}

/// A time bound: epoch milliseconds (as the Conductor UI sends) or an RFC 3339 time.
fn millis(c: &Condition) -> Result<Millis, ApiError> {
    let v = c.values[0].trim();
    if let Ok(n) = v.parse::<i64>() {
        return Ok(n);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            bad(format!(
                "'{}' needs epoch milliseconds or an RFC 3339 time, got '{v}'",
                c.field
            ))
        })
}

/// `(from, to)` bounds of a time field: `>` sets the lower, `<` the upper (both exclusive,
/// as in Conductor); `=` sets both.
fn time_bound(
    c: &Condition,
    from: &mut Option<Millis>,
    to: &mut Option<Millis>,
) -> Result<(), ApiError> {
    let t = millis(c)?;
    match c.op {
        Op::Gt => *from = Some(from.map_or(t + 1, |f| f.max(t + 1))),
        Op::Lt => *to = Some(to.map_or(t - 1, |u| u.min(t - 1))),
        Op::Eq => {
            *from = Some(t);
            *to = Some(t);
        }
        Op::In => return Err(bad(format!("'{}' takes =, > or <, not IN", c.field))),
    }
    Ok(())
}

fn unsupported(c: &Condition, kind: &str, supported: &str) -> ApiError {
    bad(format!(
        "condition on '{}' with '{}' is not supported for {kind} ({supported})",
        c.field,
        c.op.as_str()
    ))
}

/// Offset, size and sort key (true = descending) of one search page.
type Paging = (usize, usize, Option<(String, bool)>);

/// `start`, `size` (at most [`MAX_PAGE_SIZE`]) and the first `sort` key (`field:ASC|DESC`,
/// several keys separated by `|` or `,` take the first).
fn paging(q: &QueryMap) -> Result<Paging, ApiError> {
    let start = opt::<usize>(q, "start")?.unwrap_or(0);
    let size = opt::<usize>(q, "size")?.unwrap_or(100);
    if size > MAX_PAGE_SIZE {
        return Err(ApiError::bad_request(format!(
            "query parameter 'size' must be at most {MAX_PAGE_SIZE}, got {size}"
        )));
    }
    let sort = text(q, "sort").map(|sort| {
        let first = sort.split(['|', ',']).next().unwrap_or_default().trim();
        let (field, dir) = first.split_once(':').unwrap_or((first, "ASC"));
        (field.to_string(), dir.trim().eq_ignore_ascii_case("DESC"))
    });
    Ok((start, size, sort))
}

/// `freeText`; `*` (what Conductor's UI sends for "anything") is no filter.
fn free_text(q: &QueryMap) -> Option<String> {
    text(q, "freeText").filter(|f| !f.trim().is_empty() && f.trim() != "*")
}

const WORKFLOW_FIELDS: &str = "status, workflowType, correlationId, workflowId, \
    parentWorkflowId, classifier with = or IN (a * is a wildcard in workflowType, \
    correlationId and classifier; parentWorkflowId = '' is a top-level execution); startTime, \
    endTime, updateTime with >, < or =";

/// Parses `start, size, sort, freeText, query` of a workflow search into a store query.
pub(crate) fn workflow_query(q: &QueryMap) -> Result<WorkflowQuery, ApiError> {
    let (offset, limit, sort) = paging(q)?;
    let mut out = WorkflowQuery {
        offset,
        limit,
        sort,
        free_text: free_text(q),
        // Conductor's `topLevelOnly=true`: no sub-workflows.
        top_level_only: flag(q, "topLevelOnly", false)?,
        ..WorkflowQuery::default()
    };
    // Conductor's `classifier=a,b` is the condition `classifier IN (a,b)`; empty, none.
    if let Some(list) = text(q, "classifier") {
        let values: Vec<String> = list
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if !values.is_empty() {
            out.classifiers.push(values);
        }
    }
    let Some(query) = text(q, "query") else {
        return Ok(out);
    };
    for c in parse(&query)? {
        let eq_or_in = matches!(c.op, Op::Eq | Op::In);
        match c.field.as_str() {
            // Conductor's index holds '' as the parent of a top-level execution.
            "parentWorkflowId" if c.op == Op::Eq && c.values.iter().all(|v| v.is_empty()) => {
                out.top_level_only = true;
            }
            // Each condition holds on its own, as in Conductor (`classifier=a` with
            // `classifier = b` in the query matches nothing).
            "classifier" if eq_or_in => out.classifiers.push(c.values),
            "status" if eq_or_in => {
                for v in &c.values {
                    let s = WorkflowStatus::parse(&v.to_ascii_uppercase())
                        .ok_or_else(|| bad(format!("'{v}' is not a workflow status")))?;
                    out.statuses.push(s);
                }
            }
            "workflowType" if eq_or_in => out.workflow_types.extend(c.values),
            "correlationId" if eq_or_in => out.correlation_ids.extend(c.values),
            "workflowId" if eq_or_in => out.workflow_ids.extend(c.values),
            "parentWorkflowId" if eq_or_in => out.parent_workflow_ids.extend(c.values),
            "startTime" => time_bound(&c, &mut out.start_time_from, &mut out.start_time_to)?,
            "endTime" => time_bound(&c, &mut out.end_time_from, &mut out.end_time_to)?,
            "updateTime" => time_bound(&c, &mut out.update_time_from, &mut out.update_time_to)?,
            _ => return Err(unsupported(&c, "workflows", WORKFLOW_FIELDS)),
        }
    }
    Ok(out)
}

const TASK_FIELDS: &str = "status, taskType, taskDefName, taskId, workflowId, workflowType \
    (or workflowName), referenceTaskName with = or IN; startTime, endTime with >, < or =";

/// Parses `start, size, sort, freeText, query` of a task search into a store query.
pub(crate) fn task_query(q: &QueryMap) -> Result<TaskQuery, ApiError> {
    let (offset, limit, sort) = paging(q)?;
    let mut out = TaskQuery {
        offset,
        limit,
        sort,
        free_text: free_text(q),
        ..TaskQuery::default()
    };
    let Some(query) = text(q, "query") else {
        return Ok(out);
    };
    for c in parse(&query)? {
        let eq_or_in = matches!(c.op, Op::Eq | Op::In);
        match c.field.as_str() {
            "status" if eq_or_in => {
                for v in &c.values {
                    let s = TaskStatus::parse(&v.to_ascii_uppercase())
                        .ok_or_else(|| bad(format!("'{v}' is not a task status")))?;
                    out.statuses.push(s);
                }
            }
            "taskType" if eq_or_in => out.task_types.extend(c.values),
            "taskDefName" if eq_or_in => out.task_def_names.extend(c.values),
            "taskId" if eq_or_in => out.task_ids.extend(c.values),
            "workflowId" if eq_or_in => out.workflow_ids.extend(c.values),
            "workflowType" | "workflowName" if eq_or_in => out.workflow_types.extend(c.values),
            "referenceTaskName" | "taskRefName" if eq_or_in => out.ref_names.extend(c.values),
            "startTime" => time_bound(&c, &mut out.start_time_from, &mut out.start_time_to)?,
            "endTime" => time_bound(&c, &mut out.end_time_from, &mut out.end_time_to)?,
            _ => return Err(unsupported(&c, "tasks", TASK_FIELDS)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(q: &str) -> Condition {
        let mut c = parse(q).unwrap();
        assert_eq!(c.len(), 1, "{q}");
        c.remove(0)
    }

    #[test]
    fn reads_the_forms_conductor_clients_send() {
        let c =
            parse("status IN (RUNNING,FAILED) AND workflowType = 'x' AND startTime>123").unwrap();
        assert_eq!(c[0].values, ["RUNNING", "FAILED"]);
        assert_eq!((c[1].op, c[1].values.clone()), (Op::Eq, vec!["x".into()]));
        assert_eq!((c[2].op, c[2].values.clone()), (Op::Gt, vec!["123".into()]));
        assert_eq!(one("status in(RUNNING)").values, ["RUNNING"]);
        assert_eq!(one("taskDefName=\"a AND b\"").values, ["a AND b"]);
        assert_eq!(one("correlationId IN ('a, b')").values, ["a", "b"]);
        assert_eq!(parse("a=1 and b=2").unwrap().len(), 2);
        // A multi-byte character where the operator should be is a 400, not a panic.
        assert!(parse("status €x").is_err());
        assert!(parse("status é").is_err());
    }

    #[test]
    fn refuses_malformed_queries_with_the_reason() {
        for (q, says) in [
            ("status", "is not of the form"),
            ("status IN RUNNING", "IN takes a list"),
            ("status IN ()", "at least one value"),
            ("status = ", "has no value"),
            ("a=1 AND ", "empty condition"),
            ("a='x", "unclosed ' quote"),
            ("a IN (x", "unclosed parenthesis"),
            ("a=x)", "never opened"),
        ] {
            let err = parse(q).unwrap_err().message;
            assert!(err.contains(says), "{q}: {err}");
        }
    }
}
