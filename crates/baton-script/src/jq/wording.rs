//! jq's wording for jaq's runtime errors where users and Conductor's tests match on it.
//!
//! jaq reports a bad index with the values (`cannot index "a" with "array"`); jq 1.6 and
//! jackson-jq, which Conductor runs, name the types (`Cannot index string with string
//! "array"`). The text is all jaq gives back, so it is read back: the message is rewritten
//! only when both values parse as JSON, else kept as it is.

use serde_json::Value;

const PREFIX: &str = "cannot index ";
const SEPARATOR: &str = " with ";

/// jq's message for a jaq message, when jq words it differently.
pub(super) fn jq_wording(message: &str) -> Option<String> {
    let rest = message.strip_prefix(PREFIX)?;
    // The values may contain the separator themselves: take the first split where both
    // sides are whole JSON values.
    rest.match_indices(SEPARATOR).find_map(|(at, _)| {
        let indexed: Value = serde_json::from_str(&rest[..at]).ok()?;
        let index: Value = serde_json::from_str(&rest[at + SEPARATOR.len()..]).ok()?;
        let what = type_name(&indexed);
        Some(match index {
            Value::String(key) => format!("Cannot index {what} with string \"{key}\""),
            other => format!("Cannot index {what} with {}", type_name(&other)),
        })
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
