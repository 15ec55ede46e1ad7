//! The string form of a value, used when an expression is embedded in other text or spliced
//! into an outer path.
//!
//! Scalars match Java's `Objects.toString` as Conductor produces it: `null`, `true`/`false`,
//! strings as they are, integers without a fraction and floating-point numbers in
//! `Double.toString` form (`1.5`, `2.0`, `1.0E7`, `1.0E-4`). Objects and lists are rendered as
//! compact JSON (`{"a":1,"b":"x"}`, `[1,2]`): Conductor prints Java's `Map.toString`
//! (`{a=1, b=x}`), which cannot be parsed back and differs by map implementation, so Baton
//! deliberately chooses JSON here.

use serde_json::{Number, Value};

/// Append the string form of `v` to `out`.
pub(super) fn push_text(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => push_number(out, n),
        Value::String(s) => out.push_str(s),
        Value::Array(_) | Value::Object(_) => out.push_str(&v.to_string()),
    }
}

fn push_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        out.push_str(&java_double(f));
    } else {
        out.push_str(&n.to_string());
    }
}

/// `f` formatted like Java's `Double.toString` (shortest round-trip digits).
pub(super) fn java_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let abs = f.abs();
    if (1e-3..1e7).contains(&abs) {
        let s = f.to_string();
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        // Rust's `{:e}` gives e.g. `1.5e10`, `1e-5`; Java writes `1.5E10`, `1.0E-5`.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if mantissa.contains('.') => format!("{mantissa}E{exp}"),
            Some((mantissa, exp)) => format!("{mantissa}.0E{exp}"),
            None => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(v: Value) -> String {
        let mut s = String::new();
        push_text(&mut s, &v);
        s
    }

    #[test]
    fn scalars() {
        assert_eq!(text(Value::Null), "null");
        assert_eq!(text(json!(true)), "true");
        assert_eq!(text(json!(false)), "false");
        assert_eq!(text(json!("a b")), "a b");
        assert_eq!(text(json!("")), "");
        assert_eq!(text(json!(42)), "42");
        assert_eq!(text(json!(-7)), "-7");
        assert_eq!(text(json!(u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn doubles_like_java() {
        assert_eq!(text(json!(1.5)), "1.5");
        assert_eq!(text(json!(2.0)), "2.0");
        assert_eq!(text(json!(-0.25)), "-0.25");
        assert_eq!(text(json!(0.0)), "0.0");
        assert_eq!(text(json!(0.001)), "0.001");
        assert_eq!(text(json!(0.0001)), "1.0E-4");
        assert_eq!(text(json!(1.25e-5)), "1.25E-5");
        assert_eq!(text(json!(9_999_999.0)), "9999999.0");
        assert_eq!(text(json!(10_000_000.0)), "1.0E7");
        assert_eq!(text(json!(1.5e300)), "1.5E300");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_double(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(java_double(-0.0), "-0.0");
    }

    #[test]
    fn containers_as_compact_json() {
        assert_eq!(text(json!({"a": 1, "b": "x"})), r#"{"a":1,"b":"x"}"#);
        assert_eq!(text(json!([1, "two", null])), r#"[1,"two",null]"#);
        assert_eq!(text(json!({})), "{}");
    }
}
