//! Jayway functions at the end of a path (`.length()`, `.sum()`, `.keys()`, …).

use serde_json::{Number, Value};

use super::Node;

/// A Jayway function at the end of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Length,
    Min,
    Max,
    Avg,
    Sum,
    Stddev,
    Keys,
    First,
    Last,
}

impl Func {
    pub(super) fn from_name(name: &str) -> Result<Func, String> {
        Ok(match name {
            "length" => Func::Length,
            "min" => Func::Min,
            "max" => Func::Max,
            "avg" => Func::Avg,
            "sum" => Func::Sum,
            "stddev" => Func::Stddev,
            "keys" => Func::Keys,
            "first" => Func::First,
            "last" => Func::Last,
            _ => return Err(format!("unknown function '{name}()'")),
        })
    }

    /// [`Func::apply`] to a node, without copying a borrowed map to count or list its keys.
    pub(super) fn apply_node(self, node: &Node<'_>) -> Value {
        match node {
            Node::Value(v) => self.apply(v),
            Node::Owned(v) => self.apply(v),
            Node::Map(m) => match self {
                Func::Length => Value::from(m.len()),
                Func::Keys => Value::Array(m.keys().cloned().map(Value::String).collect()),
                // The other functions need a list; an object yields null, as in `apply`.
                _ => Value::Null,
            },
        }
    }

    /// Apply the function; anything it cannot handle yields null (as Jayway's suppressed
    /// exceptions do).
    pub(super) fn apply(self, v: &Value) -> Value {
        match self {
            Func::Length => match v {
                Value::Array(a) => Value::from(a.len()),
                Value::Object(m) => Value::from(m.len()),
                _ => Value::Null,
            },
            Func::Keys => match v {
                Value::Object(m) => Value::Array(m.keys().cloned().map(Value::String).collect()),
                _ => Value::Null,
            },
            Func::First => v
                .as_array()
                .and_then(|a| a.first())
                .cloned()
                .unwrap_or(Value::Null),
            Func::Last => v
                .as_array()
                .and_then(|a| a.last())
                .cloned()
                .unwrap_or(Value::Null),
            Func::Min | Func::Max | Func::Avg | Func::Sum | Func::Stddev => {
                let nums: Vec<f64> = v
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default();
                if nums.is_empty() {
                    return Value::Null;
                }
                let count = nums.len() as f64;
                let sum: f64 = nums.iter().sum();
                let result = match self {
                    Func::Min => nums.iter().copied().fold(f64::INFINITY, f64::min),
                    Func::Max => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    Func::Sum => sum,
                    Func::Avg => sum / count,
                    _ => {
                        let mean = sum / count;
                        let sq: f64 = nums.iter().map(|x| x * x).sum();
                        (sq / count - mean * mean).max(0.0).sqrt()
                    }
                };
                // Jayway's aggregations return a Double.
                Number::from_f64(result).map_or(Value::Null, Value::Number)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn functions_apply() {
        let nums = json!([1, 2, 3, 4, "x"]);
        assert_eq!(Func::Length.apply(&nums), json!(5));
        assert_eq!(Func::Length.apply(&json!({"a": 1})), json!(1));
        assert_eq!(Func::Length.apply(&json!("abc")), Value::Null);
        assert_eq!(Func::Sum.apply(&nums), json!(10.0));
        assert_eq!(Func::Avg.apply(&nums), json!(2.5));
        assert_eq!(Func::Min.apply(&nums), json!(1.0));
        assert_eq!(Func::Max.apply(&nums), json!(4.0));
        assert_eq!(
            Func::Stddev.apply(&json!([2, 4, 4, 4, 5, 5, 7, 9])),
            json!(2.0)
        );
        assert_eq!(Func::Sum.apply(&json!([])), Value::Null);
        assert_eq!(Func::Sum.apply(&json!({"a": 1})), Value::Null);
        assert_eq!(
            Func::Keys.apply(&json!({"b": 1, "a": 2})),
            json!(["b", "a"])
        );
        assert_eq!(Func::First.apply(&nums), json!(1));
        assert_eq!(Func::Last.apply(&nums), json!("x"));
        assert_eq!(Func::First.apply(&json!([])), Value::Null);
    }
}
