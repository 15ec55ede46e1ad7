//! jq evaluation on jaq.

use crate::{f64_to_json, Limits, ScriptError};
use jaq_core::data::JustLut;
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars};
use jaq_json::{Num, Val};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

type Data = JustLut<Val>;
type Filter = jaq_core::Filter<Data>;

/// Native filters that would reach outside the sandbox; they are replaced
/// by [`SANDBOX_DEFS`].
const BLOCKED_FUNS: &[&str] = &["env"];

/// Definitions replacing the blocked native filters.
const SANDBOX_DEFS: &str = "def env: {};";

/// Global variables provided to every program (`$ENV` is an empty object).
const GLOBAL_VARS: [&str; 1] = ["$ENV"];

/// Nesting depth above which values are not converted (protects the stack).
const MAX_DEPTH: usize = 1_000;

/// Rough per-value overhead used for the output memory budget.
const VALUE_OVERHEAD: usize = 32;

/// Run a jq program over `input` with the default [`Limits`]; returns every
/// emitted value in order.
///
/// `.` is the input document. Integral numbers come back as JSON integers.
/// Compile and runtime errors map to [`ScriptError::Jq`]; see
/// [`eval_jq_with_limits`] for how limits apply.
pub fn eval_jq(query: &str, input: &Value) -> Result<Vec<Value>, ScriptError> {
    eval_jq_with_limits(query, input, &Limits::default())
}

/// Like [`eval_jq`], with explicit limits.
///
/// The limits are checked between emitted values: once [`Limits::time`] has
/// elapsed the evaluation stops with [`ScriptError::Timeout`], and once the
/// (approximate) size of the collected outputs exceeds
/// [`Limits::memory_bytes`] it stops with [`ScriptError::OutOfMemory`]. The
/// computation of a single value is not interrupted.
pub fn eval_jq_with_limits(
    query: &str,
    input: &Value,
    limits: &Limits,
) -> Result<Vec<Value>, ScriptError> {
    guard(|| {
        let started = Instant::now();
        let filter = compile(query)?;
        let input = json_to_val(input, 0)?;
        run(&filter, input, limits, started)
    })
}

/// Compile-only check of a jq program.
pub fn check_jq(query: &str) -> Result<(), ScriptError> {
    guard(|| compile(query).map(|_| ()))
}

/// Turns a panic inside jaq into an error instead of unwinding into the caller.
fn guard<T>(f: impl FnOnce() -> Result<T, ScriptError>) -> Result<T, ScriptError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_owned());
        Err(ScriptError::Jq(format!("internal jq engine failure: {detail}")))
    })
}

fn compile(query: &str) -> Result<Filter, ScriptError> {
    let sandbox_defs = load::parse(SANDBOX_DEFS, |p| p.defs()).unwrap_or_default();
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .chain(sandbox_defs);
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| !BLOCKED_FUNS.contains(name));
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(
            &arena,
            File {
                code: query,
                path: (),
            },
        )
        .map_err(|errors| {
            let messages: Vec<String> = errors
                .iter()
                .flat_map(|(file, error)| load_error_messages(file.code, error))
                .collect();
            ScriptError::Jq(join_messages(messages))
        })?;
    Compiler::default()
        .with_funs(funs)
        .with_global_vars(GLOBAL_VARS)
        .compile(modules)
        .map_err(|errors| {
            let messages: Vec<String> = errors
                .iter()
                .flat_map(|(file, errors)| {
                    errors.iter().map(|(name, undefined)| {
                        let what = match undefined {
                            jaq_core::compile::Undefined::Filter(arity) => {
                                format!("filter {name}/{arity}")
                            }
                            other => format!("{} {name}", other.as_str()),
                        };
                        format!("undefined {what}{}", position(file.code, name))
                    })
                })
                .collect();
            ScriptError::Jq(join_messages(messages))
        })
}

fn load_error_messages(code: &str, error: &load::Error<&str>) -> Vec<String> {
    match error {
        load::Error::Io(errors) => errors
            .iter()
            .map(|(path, message)| format!("cannot load module \"{path}\": {message}"))
            .collect(),
        load::Error::Lex(errors) => errors
            .iter()
            .map(|(expect, found)| {
                let expected = match expect {
                    load::lex::Expect::Digit => "digit",
                    load::lex::Expect::Ident => "identifier",
                    load::lex::Expect::Delim("(") => "closing parenthesis",
                    load::lex::Expect::Delim("[") => "closing bracket",
                    load::lex::Expect::Delim("{") => "closing brace",
                    load::lex::Expect::Delim("\"") => "closing quote",
                    load::lex::Expect::Delim(_) => "closing delimiter",
                    load::lex::Expect::Escape => "string escape sequence",
                    load::lex::Expect::Unicode => "4-digit hexadecimal code point",
                    load::lex::Expect::Token => "token",
                    _ => "something else",
                };
                format!(
                    "syntax error: expected {expected}, found {}{}",
                    describe_found(found),
                    position(code, found)
                )
            })
            .collect(),
        load::Error::Parse(errors) => errors
            .iter()
            .map(|(expect, found)| {
                format!(
                    "syntax error: expected {}, found {}{}",
                    expect.as_str(),
                    describe_found(found),
                    position(code, found)
                )
            })
            .collect(),
    }
}

fn describe_found(found: &str) -> String {
    const MAX_CHARS: usize = 20;
    if found.is_empty() {
        return "end of program".to_owned();
    }
    let mut snippet: String = found.chars().take(MAX_CHARS).collect();
    if found.chars().nth(MAX_CHARS).is_some() {
        snippet.push('…');
    }
    format!("'{snippet}'")
}

/// ` at line L, column C` if `part` is a slice of `whole`, else nothing.
fn position(whole: &str, part: &str) -> String {
    let start = whole.as_ptr() as usize;
    let offset = (part.as_ptr() as usize)
        .checked_sub(start)
        .filter(|offset| *offset <= whole.len());
    let Some(prefix) = offset.and_then(|offset| whole.get(..offset)) else {
        return String::new();
    };
    let line = prefix.matches('\n').count() + 1;
    let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(" at line {line}, column {column}")
}

fn join_messages(mut messages: Vec<String>) -> String {
    messages.dedup();
    if messages.is_empty() {
        "the program does not compile".to_owned()
    } else {
        messages.join("; ")
    }
}

fn run(
    filter: &Filter,
    input: Val,
    limits: &Limits,
    started: Instant,
) -> Result<Vec<Value>, ScriptError> {
    let env = Val::obj(jaq_json::Map::default());
    let ctx = Ctx::<Data>::new(&filter.lut, Vars::new([env]));
    let mut outputs = Vec::new();
    let mut used = 0usize;
    for item in filter.id.run((ctx, input)) {
        let value = item.map_err(exception_error)?;
        let json = val_to_json(&value, 0, &mut used)?;
        if used > limits.memory_bytes {
            return Err(ScriptError::OutOfMemory(limits.memory_bytes));
        }
        outputs.push(json);
        if started.elapsed() >= limits.time {
            return Err(ScriptError::Timeout(limits.time));
        }
    }
    Ok(outputs)
}

fn exception_error(exception: jaq_core::Exn<'_, Val>) -> ScriptError {
    match exception.get_err() {
        Ok(error) => ScriptError::Jq(match error.into_val() {
            // `error("text")` and built-in messages: show the text as is.
            Val::TStr(text) | Val::BStr(text) => String::from_utf8_lossy(&text).into_owned(),
            other => format!("{other} (not a string)"),
        }),
        Err(other) => match other.get_halt() {
            Ok(code) => ScriptError::Jq(format!("the program called halt (exit code {code})")),
            Err(_) => ScriptError::Jq("unexpected control flow in the jq engine".to_owned()),
        },
    }
}

fn json_to_val(value: &Value, depth: usize) -> Result<Val, ScriptError> {
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

/// Converts a jq value to JSON, adding its approximate size to `used`.
fn val_to_json(value: &Val, depth: usize, used: &mut usize) -> Result<Value, ScriptError> {
    if depth > MAX_DEPTH {
        return Err(ScriptError::Jq(format!(
            "a result is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    *used = used.saturating_add(VALUE_OVERHEAD);
    Ok(match value {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num_to_json(n),
        Val::TStr(bytes) | Val::BStr(bytes) => {
            *used = used.saturating_add(bytes.len());
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        Val::Arr(items) => Value::Array(
            items
                .iter()
                .map(|item| val_to_json(item, depth + 1, used))
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
                object.insert(key, val_to_json(v, depth + 1, used)?);
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
