//! Numbers as Conductor's JSON binding (Jackson) takes them: a JSON number, or a string
//! holding one (`"1"`, which Conductor's UI sends for a version); for an optional number,
//! also an empty string or `null` (absent). Anything else is still an error naming the
//! field.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize as _;
use std::fmt;

struct LenientInt;

impl<'de> Visitor<'de> for LenientInt {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer, or a string holding one")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| E::custom(format!("{v} is too large")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.fract() == 0.0 && v.abs() < 9.0e18 {
            Ok(Some(v as i64))
        } else {
            Err(E::custom(format!("{v} is not an integer")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let t = v.trim();
        if t.is_empty() {
            return Ok(None);
        }
        t.parse::<i64>()
            .map(Some)
            .map_err(|_| E::custom(format!("'{v}' is not an integer")))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(LenientInt)
    }
}

/// `Option<i64>`: a number, a numeric string; `""` and `null` are None.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(LenientInt)
}

/// `Option<i32>`: as [`opt_i64`], within i32's range.
pub fn opt_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    match opt_i64(d)? {
        None => Ok(None),
        Some(v) => i32::try_from(v)
            .map(Some)
            .map_err(|_| de::Error::custom(format!("{v} is out of range"))),
    }
}

/// `i32` with default 0 for `""` and `null`.
pub fn i32_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    Ok(opt_i32(d)?.unwrap_or(0))
}

/// A collection where Jackson would take `null` as "none given": `null` is the empty value.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    struct T {
        #[serde(default, deserialize_with = "super::opt_i32")]
        v: Option<i32>,
        #[serde(default, deserialize_with = "super::opt_i64")]
        t: Option<i64>,
        #[serde(default, deserialize_with = "super::i32_or_zero")]
        p: i32,
    }

    fn parse(v: serde_json::Value) -> Result<T, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn numbers_numeric_strings_and_blanks() {
        let t = parse(json!({"v": "1", "t": "", "p": "7"})).unwrap();
        assert_eq!((t.v, t.t, t.p), (Some(1), None, 7));
        let t = parse(json!({"v": 2, "t": 1_700_000_000_000_i64, "p": null})).unwrap();
        assert_eq!((t.v, t.t, t.p), (Some(2), Some(1_700_000_000_000), 0));
        let t = parse(json!({})).unwrap();
        assert_eq!((t.v, t.t, t.p), (None, None, 0));
        let t = parse(json!({"v": 3.0})).unwrap();
        assert_eq!(t.v, Some(3));
    }

    #[test]
    fn other_values_are_errors() {
        for bad in [
            json!({"v": "one"}),
            json!({"v": 1.5}),
            json!({"v": true}),
            json!({"v": [1]}),
            json!({"v": 3_000_000_000_i64}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad} must be refused");
        }
    }
}
