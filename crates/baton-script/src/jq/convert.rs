//! Conversion between `serde_json` values and jaq values.

use crate::{f64_to_json, ScriptError};
use jaq_json::{Num, Val};
use serde_json::Value;

/// Nesting depth above which values are not converted (protects the stack).
const MAX_DEPTH: usize = 1_000;

/// Rough per-value overhead used for the output memory budget.
const VALUE_OVERHEAD: usize = 32;

pub(super) fn json_to_val(value: &Value, depth: usize) -> Result<Val, ScriptError> {
    if depth > MAX_DEPTH {
        return Err(ScriptError::Jq(format!(
            "the input is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Val::Num(Num::from_integral(i))
            } else if let Some(u) = n.as_u64() {
                Val::Num(Num::from_integral(u))
            } else {
                Val::Num(Num::Float(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Value::String(s) => Val::utf8_str(s.clone()),
        Value::Array(items) => items
            .iter()
            .map(|item| json_to_val(item, depth + 1))
            .collect::<Result<Val, _>>()?,
        Value::Object(map) => Val::obj(
            map.iter()
                .map(|(k, v)| Ok((Val::utf8_str(k.clone()), json_to_val(v, depth + 1)?)))
                .collect::<Result<jaq_json::Map, ScriptError>>()?,
        ),
    })
}

/// Converts a jq value to JSON, adding its approximate size to `used`;
/// fails with [`ScriptError::OutOfMemory`] once `used` exceeds `budget`.
pub(super) fn val_to_json(
    value: &Val,
    depth: usize,
    used: &mut usize,
    budget: usize,
) -> Result<Value, ScriptError> {
    if depth > MAX_DEPTH {
        return Err(ScriptError::Jq(format!(
            "a result is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    *used = used.saturating_add(VALUE_OVERHEAD);
    if *used > budget {
        return Err(ScriptError::OutOfMemory(budget));
    }
    Ok(match value {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num_to_json(n),
        Val::TStr(bytes) | Val::BStr(bytes) => {
            *used = used.saturating_add(bytes.len());
            if *used > budget {
                return Err(ScriptError::OutOfMemory(budget));
            }
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        Val::Arr(items) => Value::Array(
            items
                .iter()
                .map(|item| val_to_json(item, depth + 1, used, budget))
                .collect::<Result<_, _>>()?,
        ),
        Val::Obj(map) => {
            let mut object = serde_json::Map::with_capacity(map.len());
            for (k, v) in map.iter() {
                let key = match k {
                    Val::TStr(bytes) | Val::BStr(bytes) => {
                        String::from_utf8_lossy(bytes).into_owned()
                    }
                    other => other.to_string(),
                };
                *used = used.saturating_add(key.len() + VALUE_OVERHEAD);
                object.insert(key, val_to_json(v, depth + 1, used, budget)?);
            }
            Value::Object(object)
        }
    })
}

fn num_to_json(n: &Num) -> Value {
    match n {
        Num::Int(i) => i64::try_from(*i).map_or_else(|_| f64_to_json(*i as f64), Value::from),
        Num::Float(f) => f64_to_json(*f),
        // Big integers and decimal literals: go through their text.
        other => {
            let text = other.to_string();
            if let Ok(i) = text.parse::<i64>() {
                Value::from(i)
            } else if let Ok(u) = text.parse::<u64>() {
                Value::from(u)
            } else {
                text.parse::<f64>().map_or(Value::Null, f64_to_json)
            }
        }
    }
}
