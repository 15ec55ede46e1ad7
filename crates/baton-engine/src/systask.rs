//! The system task catalogue and the synchronous system tasks, executed inside a decision.
//!
//! Structural operators (SWITCH, FORK, JOIN, DO_WHILE) shape the flow and are handled by the
//! decider; this module evaluates the tasks that compute something (INLINE, JSON_JQ_TRANSFORM,
//! SET_VARIABLE, SET_CORRELATION_ID, TERMINATE, NOOP) and the time arithmetic of WAIT.

use baton_model::{JsonMap, TaskStatus};
use serde_json::{json, Value};

pub const SIMPLE: &str = "SIMPLE";
pub const DYNAMIC: &str = "DYNAMIC";
pub const SWITCH: &str = "SWITCH";
pub const DECISION: &str = "DECISION";
pub const FORK_JOIN: &str = "FORK_JOIN";
pub const FORK_JOIN_DYNAMIC: &str = "FORK_JOIN_DYNAMIC";
/// Runtime type of both fork kinds.
pub const FORK: &str = "FORK";
pub const JOIN: &str = "JOIN";
pub const EXCLUSIVE_JOIN: &str = "EXCLUSIVE_JOIN";
pub const DO_WHILE: &str = "DO_WHILE";
/// Conductor's WHILE: a DO_WHILE whose condition is also checked before the first pass.
pub const WHILE: &str = "WHILE";
pub const SUB_WORKFLOW: &str = "SUB_WORKFLOW";
pub const START_WORKFLOW: &str = "START_WORKFLOW";
pub const WAIT: &str = "WAIT";
pub const HUMAN: &str = "HUMAN";
pub const TERMINATE: &str = "TERMINATE";
pub const SET_VARIABLE: &str = "SET_VARIABLE";
pub const SET_CORRELATION_ID: &str = "SET_CORRELATION_ID";
pub const NOOP: &str = "NOOP";
pub const INLINE: &str = "INLINE";
pub const LAMBDA: &str = "LAMBDA";
pub const JSON_JQ_TRANSFORM: &str = "JSON_JQ_TRANSFORM";
pub const HTTP: &str = "HTTP";
pub const EVENT: &str = "EVENT";

/// Types the server implements itself; everything else is a worker task.
pub const SYSTEM_TYPES: &[&str] = &[
    SWITCH,
    DECISION,
    FORK_JOIN,
    FORK_JOIN_DYNAMIC,
    FORK,
    JOIN,
    EXCLUSIVE_JOIN,
    DO_WHILE,
    WHILE,
    SUB_WORKFLOW,
    START_WORKFLOW,
    WAIT,
    HUMAN,
    TERMINATE,
    SET_VARIABLE,
    SET_CORRELATION_ID,
    NOOP,
    INLINE,
    LAMBDA,
    JSON_JQ_TRANSFORM,
    HTTP,
    EVENT,
];

/// System types executed by the server's own workers outside a decision (they do I/O); they
/// wait in a queue named after the type, like worker tasks.
pub const ASYNC_SYSTEM_TYPES: &[&str] = &[HTTP, SUB_WORKFLOW, START_WORKFLOW, EVENT];

/// Orkes/AI type names Conductor OSS knows but Baton does not implement: rejected at
/// registration instead of silently waiting for a worker that never comes.
pub const UNSUPPORTED_TYPES: &[&str] = &[
    "KAFKA_PUBLISH",
    "LLM_TEXT_COMPLETE",
    "LLM_CHAT_COMPLETE",
    "LLM_GENERATE_EMBEDDINGS",
    "LLM_INDEX_TEXT",
    "LLM_SEARCH_INDEX",
    "WAIT_FOR_WEBHOOK",
    "HTTP_POLL",
    "PULL_WORKFLOW_MESSAGES",
    "GET_DOCUMENT",
    "BUSINESS_RULE",
    "UPDATE_SECRET",
    "QUERY_PROCESSOR",
];

pub fn is_system(task_type: &str) -> bool {
    SYSTEM_TYPES.contains(&task_type)
}

pub fn is_async_system(task_type: &str) -> bool {
    ASYNC_SYSTEM_TYPES.contains(&task_type)
}

/// The `terminationStatus` values a TERMINATE accepts: exactly these spellings, as
/// Conductor's `Terminate.validateInputStatus` (since its PR #764 a TERMINATED one ends the
/// workflow TERMINATED).
pub fn is_termination_status(status: &str) -> bool {
    matches!(status, "COMPLETED" | "FAILED" | "TERMINATED")
}

/// Operators the retry logic never retries.
pub fn is_structural(task_type: &str) -> bool {
    matches!(
        task_type,
        SWITCH
            | DECISION
            | FORK
            | FORK_JOIN
            | FORK_JOIN_DYNAMIC
            | JOIN
            | EXCLUSIVE_JOIN
            | DO_WHILE
            | WHILE
    )
}

/// The loop operators: DO_WHILE, and WHILE (the same loop, its condition checked first).
pub fn is_loop(task_type: &str) -> bool {
    matches!(task_type, DO_WHILE | WHILE)
}

/// Limits for workflow scripts (INLINE, SWITCH, DO_WHILE, JSON_JQ_TRANSFORM, event
/// conditions): the process-wide ones `baton server` configures at startup.
pub fn script_limits() -> baton_script::Limits {
    baton_script::configured_limits()
}

/// Outcome of a synchronous system task.
pub struct SyncResult {
    pub status: TaskStatus,
    pub output: JsonMap,
    pub reason: Option<String>,
}

impl SyncResult {
    fn ok(output: JsonMap) -> Self {
        SyncResult {
            status: TaskStatus::Completed,
            output,
            reason: None,
        }
    }
    fn fail(status: TaskStatus, reason: String) -> Self {
        let mut output = JsonMap::new();
        output.insert("error".into(), Value::String(reason.clone()));
        SyncResult {
            status,
            output,
            reason: Some(reason),
        }
    }
}

fn obj(v: Value) -> JsonMap {
    match v {
        Value::Object(m) => m,
        _ => JsonMap::new(),
    }
}

/// INLINE (and the deprecated LAMBDA): `evaluatorType` javascript/graaljs or value-param.
pub fn run_inline(input: &JsonMap, lambda_script: Option<&str>) -> SyncResult {
    if let Some(script) = lambda_script {
        let body = format!("(function(){{ {script} }})()");
        return match baton_script::eval_js(&body, &Value::Object(input.clone()), &script_limits()) {
            Ok(v) => script_result(v, TaskStatus::Failed),
            Err(e) => SyncResult::fail(TaskStatus::Failed, e.to_string()),
        };
    }
    let evaluator = input
        .get("evaluatorType")
        .and_then(Value::as_str)
        .unwrap_or("javascript");
    let Some(expression) = input.get("expression").and_then(Value::as_str) else {
        return SyncResult::fail(
            TaskStatus::FailedWithTerminalError,
            "INLINE task needs a non-empty string 'expression' in its inputParameters".into(),
        );
    };
    match evaluator {
        "value-param" => {
            let v = input.get(expression).cloned().unwrap_or(Value::Null);
            SyncResult::ok(obj(json!({ "result": v })))
        }
        "javascript" | "graaljs" => {
            match baton_script::eval_js(expression, &Value::Object(input.clone()), &script_limits())
            {
                Ok(v) => script_result(v, TaskStatus::FailedWithTerminalError),
                Err(e) => SyncResult::fail(TaskStatus::FailedWithTerminalError, e.to_string()),
            }
        }
        other => SyncResult::fail(
            TaskStatus::FailedWithTerminalError,
            format!("INLINE evaluatorType '{other}' is not supported (use javascript, graaljs or value-param)"),
        ),
    }
}

/// A script's value as the task's `result`, unless it nests deeper than the JSON limit
/// (then the task fails with `status`, naming the limit).
fn script_result(v: Value, status: TaskStatus) -> SyncResult {
    match baton_model::limits::check_value_depth("the script's result", &v) {
        Ok(()) => SyncResult::ok(obj(json!({ "result": v }))),
        Err(reason) => SyncResult::fail(status, reason),
    }
}

/// JSON_JQ_TRANSFORM: `.` is the whole input; output `result` (first value) and `resultList`.
pub fn run_jq(input: &JsonMap) -> SyncResult {
    let Some(query) = input.get("queryExpression").and_then(Value::as_str) else {
        return SyncResult::fail(
            TaskStatus::Failed,
            "JSON_JQ_TRANSFORM needs a string 'queryExpression' in its inputParameters".into(),
        );
    };
    match baton_script::eval_jq_with_limits(query, &Value::Object(input.clone()), &script_limits())
    {
        Ok(values) => {
            let values = Value::Array(values);
            if let Err(reason) =
                baton_model::limits::check_value_depth("the jq result list", &values)
            {
                return SyncResult::fail(TaskStatus::Failed, reason);
            }
            let first = values.get(0).cloned().unwrap_or(Value::Null);
            SyncResult::ok(obj(json!({ "result": first, "resultList": values })))
        }
        // jq's own message, as Conductor reports it; a tripped limit says which.
        Err(baton_script::ScriptError::Jq(message)) => {
            SyncResult::fail(TaskStatus::Failed, message)
        }
        Err(e) => SyncResult::fail(TaskStatus::Failed, e.to_string()),
    }
}

/// Truthiness of a JS condition result, as Conductor's DO_WHILE reads it.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f > 0.0),
        _ => false,
    }
}

/// The string form of a case value (Java rendering of scalars).
pub fn case_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    format!("{f:.1}")
                } else {
                    f.to_string()
                }
            } else {
                n.to_string()
            }
        }
        other => other.to_string(),
    }
}

/// Parses a WAIT `duration` such as `30s`, `5 m`, `2 hours`, `1d 3h 10m 5s`, in milliseconds.
/// Durations past [`baton_model::duration::MAX_DURATION_SECONDS`] act as that maximum.
pub fn parse_duration(text: &str) -> Option<i64> {
    let s = text.trim().to_ascii_lowercase();
    if s.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut rest = s.as_str();
    let mut matched_any = false;
    while !rest.trim_start().is_empty() {
        rest = rest.trim_start();
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            return None;
        }
        let n: i64 = digits.parse().unwrap_or(i64::MAX);
        rest = rest[digits.len()..].trim_start();
        let unit: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        rest = &rest[unit.len()..];
        let secs = match unit.as_str() {
            "d" | "day" | "days" => 86_400,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "s" | "sec" | "secs" | "second" | "seconds" | "" => 1,
            _ => return None,
        };
        // Saturate: a huge duration means "effectively never", not an error or an overflow.
        total = total.saturating_add(n.saturating_mul(secs));
        matched_any = true;
    }
    matched_any.then(|| baton_model::duration::secs_to_ms(total))
}

/// Parses a WAIT `until`: `yyyy-MM-dd HH:mm`, `yyyy-MM-dd HH:mm z` (UTC/GMT/Z or ±HH:MM), or
/// `yyyy-MM-dd`, also RFC 3339. Zone-less forms are read as UTC. Returns epoch ms.
pub fn parse_until(text: &str) -> Option<i64> {
    let s = text.trim();
    if let Ok(t) = chrono_like::parse_rfc3339(s) {
        return Some(t);
    }
    chrono_like::parse_simple(s)
}

/// Small date parsing without a timezone database (Conductor's forms only).
mod chrono_like {
    pub fn parse_rfc3339(s: &str) -> Result<i64, ()> {
        if s.len() < 20 || !s.contains('T') {
            return Err(());
        }
        let (date, time) = s.split_once('T').ok_or(())?;
        let days = days_from(date).ok_or(())?;
        let (clock, offset_min) = split_offset(time).ok_or(())?;
        let secs = clock_secs(clock).ok_or(())?;
        epoch_ms(days, secs, offset_min).ok_or(())
    }

    pub fn parse_simple(s: &str) -> Option<i64> {
        let mut parts = s.split_whitespace();
        let date = parts.next()?;
        let days = days_from(date)?;
        let clock = match parts.next() {
            Some(c) => clock_secs(c)?,
            None => 0,
        };
        let offset = match parts.next() {
            None => 0,
            Some(z) => zone_offset_minutes(z)?,
        };
        if parts.next().is_some() {
            return None;
        }
        epoch_ms(days, clock, offset)
    }

    /// Epoch ms of a day number, seconds into the day and a zone offset; `None` when the date
    /// is too far out to represent (a year such as 999999999999).
    fn epoch_ms(days: i64, clock_secs: i64, offset_min: i64) -> Option<i64> {
        days.checked_mul(86_400)?
            .checked_add(clock_secs)?
            .checked_sub(offset_min.checked_mul(60)?)?
            .checked_mul(1000)
    }

    fn zone_offset_minutes(z: &str) -> Option<i64> {
        match z.to_ascii_uppercase().as_str() {
            "UTC" | "GMT" | "Z" => Some(0),
            other => {
                let (sign, rest) = match other.as_bytes().first()? {
                    b'+' => (1, &other[1..]),
                    b'-' => (-1, &other[1..]),
                    _ => return None,
                };
                let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
                let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
                // Java's ZoneOffset range; also keeps the arithmetic small.
                if !(0..=18).contains(&h) || !(0..=59).contains(&m) {
                    return None;
                }
                Some(sign * (h * 60 + m))
            }
        }
    }

    fn split_offset(time: &str) -> Option<(&str, i64)> {
        if let Some(c) = time.strip_suffix('Z').or_else(|| time.strip_suffix('z')) {
            return Some((c, 0));
        }
        let pos = time.rfind(['+', '-'])?;
        let (clock, off) = time.split_at(pos);
        Some((clock, zone_offset_minutes(off)?))
    }

    fn clock_secs(c: &str) -> Option<i64> {
        let c = c.split('.').next()?;
        let mut it = c.split(':');
        let h: i64 = it.next()?.parse().ok()?;
        let m: i64 = it.next()?.parse().ok()?;
        let s: i64 = match it.next() {
            Some(x) => x.parse().ok()?,
            None => 0,
        };
        if !(0..=23).contains(&h) || !(0..=59).contains(&m) || !(0..=60).contains(&s) {
            return None;
        }
        Some(h * 3600 + m * 60 + s)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian `yyyy-MM-dd`.
    fn days_from(date: &str) -> Option<i64> {
        let mut it = date.split('-');
        let y: i64 = it.next()?.parse().ok()?;
        let m: i64 = it.next()?.parse().ok()?;
        let d: i64 = it.next()?.parse().ok()?;
        if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = if m <= 2 { y - 1 } else { y };
        let era = if y >= 0 { y } else { y.checked_sub(399)? } / 400;
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era.checked_mul(146_097)?.checked_add(doe - 719_468)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000));
        assert_eq!(parse_duration("5 m"), Some(300_000));
        assert_eq!(parse_duration("2 hours"), Some(7_200_000));
        assert_eq!(
            parse_duration("1d 3h 10m 5s"),
            Some((86_400 + 3 * 3600 + 600 + 5) * 1000)
        );
        assert_eq!(parse_duration("soon"), None);
        // Huge durations saturate at the ten-year maximum instead of overflowing.
        let max = baton_model::duration::MAX_DURATION_MS;
        assert_eq!(parse_duration("9223372036854775807d"), Some(max));
        assert_eq!(parse_duration("99999999999999999999999s"), Some(max));
        assert_eq!(
            parse_duration("9223372036854775807s 9223372036854775807s"),
            Some(max)
        );
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn until_forms() {
        assert_eq!(parse_until("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_until("1970-01-01 01:00"), Some(3_600_000));
        assert_eq!(parse_until("1970-01-01 01:00 +01:00"), Some(0));
        assert_eq!(parse_until("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(parse_until("tomorrow"), None);
        // Far-out or hostile numbers are invalid rather than an overflow.
        assert_eq!(parse_until("9223372036854775807-01-01"), None);
        assert_eq!(parse_until("2024-01-01 -9223372036854775808:00"), None);
        assert_eq!(
            parse_until("2024-01-01 10:00 +9223372036854775807:00"),
            None
        );
    }

    #[test]
    fn case_strings_render_like_java() {
        assert_eq!(case_string(&json!(1)), "1");
        assert_eq!(case_string(&json!(1.5)), "1.5");
        assert_eq!(case_string(&json!(1.0)), "1.0");
        assert_eq!(case_string(&json!(true)), "true");
        assert_eq!(case_string(&Value::Null), "null");
    }
}
