//! Limits on the shape of JSON that enters Baton, shared by every entry point.
//!
//! Everything a client, a worker or a script hands to Baton is stored and read back many
//! times; a value nested so deep that a reader refuses it (or overflows its stack) would make
//! its workflow unreadable. So one nesting limit applies to request bodies, worker results
//! and script results alike, and the store reads back whatever was accepted.

use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Longest name or key Baton indexes, in bytes: definition, task and reference names,
/// correlation ids, idempotency keys, domains. Fixed, not configurable: PostgreSQL's B-tree
/// indexes refuse an entry over about 2.7 KB, and a name the database could store on one
/// node but not another must not be accepted anywhere.
pub const MAX_KEY_BYTES: usize = 1024;

/// An error naming `field` when `value` is longer than [`MAX_KEY_BYTES`].
pub fn check_key(field: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_KEY_BYTES {
        return Err(format!(
            "{field} is {} bytes long; at most {MAX_KEY_BYTES} are allowed",
            value.len()
        ));
    }
    Ok(())
}

/// Default of the JSON nesting limit (arrays and objects, counted from the outermost).
pub const DEFAULT_MAX_JSON_DEPTH: usize = 100;

static MAX_JSON_DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_JSON_DEPTH);

/// The JSON nesting limit in force (`--max-json-depth`).
pub fn max_json_depth() -> usize {
    MAX_JSON_DEPTH.load(Ordering::Relaxed)
}

/// Sets the JSON nesting limit for this process (at start-up). Values are clamped to
/// 8..=1000: below 8 no ordinary request fits; above 1000 a deeply nested value can
/// exhaust a thread's stack while it is written or dropped.
pub fn set_max_json_depth(depth: usize) -> usize {
    let depth = depth.clamp(8, 1000);
    MAX_JSON_DEPTH.store(depth, Ordering::Relaxed);
    depth
}

/// Deepest nesting of arrays and objects in JSON text (which need not be valid: this is a
/// cheap pre-check before parsing). A scalar is at depth 0, `[]` at 1, `[[1]]` at 2.
pub fn text_depth(json: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Deepest nesting of arrays and objects in a value, counted as [`text_depth`] counts it.
/// Iterative, so any value can be measured.
pub fn value_depth(value: &Value) -> usize {
    let mut max = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Array(items) => {
                max = max.max(depth + 1);
                stack.extend(items.iter().map(|i| (i, depth + 1)));
            }
            Value::Object(map) => {
                max = max.max(depth + 1);
                stack.extend(map.values().map(|i| (i, depth + 1)));
            }
            _ => {}
        }
    }
    max
}

/// `Err(message)` naming `what` when `value` nests deeper than [`max_json_depth`].
pub fn check_value_depth(what: &str, value: &Value) -> Result<(), String> {
    let depth = value_depth(value);
    let limit = max_json_depth();
    if depth > limit {
        return Err(format!(
            "{what} nests {depth} levels deep; the limit is {limit} (--max-json-depth)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depths_agree_between_text_and_value() {
        for v in [
            json!(1),
            json!("[[[not nesting]]]"),
            json!([]),
            json!({"a": [1, {"b": []}]}),
            json!([[["\\\"]"]]]),
        ] {
            let text = serde_json::to_vec(&v).unwrap();
            assert_eq!(text_depth(&text), value_depth(&v), "{v}");
        }
        assert_eq!(value_depth(&json!({"a": [1, {"b": []}]})), 4);
    }

    #[test]
    fn deep_values_are_measured_without_recursion() {
        let mut v = json!(0);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(value_depth(&v), 100_000);
        // Dropping it recursively would overflow the stack; take it apart by hand.
        let mut v = v;
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or(Value::Null);
        }
    }
}
