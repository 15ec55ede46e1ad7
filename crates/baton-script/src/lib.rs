//! Sandboxed evaluation of user scripts for Baton: JavaScript (QuickJS, via
//! `rquickjs`) for `INLINE`, `SWITCH` and `DO_WHILE`, and jq (via `jaq`) for
//! `JSON_JQ_TRANSFORM`.
//!
//! # Two modes: sandboxed and in-process
//!
//! Once a [`sandbox`] is [installed](sandbox::install) (as `baton server`
//! does at startup), every evaluation and check runs in a pool of worker
//! processes. Only that mode bounds memory and time *absolutely*: each
//! worker caps its address space during an evaluation, so an allocation
//! bomb aborts the worker (reported as [`ScriptError::OutOfMemory`]), not
//! the server; and the server kills a worker that has not answered shortly
//! after [`Limits::time`] (reported as [`ScriptError::Timeout`]), which
//! also stops native built-ins that never consult the in-engine time check
//! (`JSON.stringify` of a huge DAG).
//!
//! Without a sandbox (library use, in-process test suites) evaluation runs
//! on the calling thread with the in-engine guards described below only:
//! the QuickJS heap is bounded, but what jaq allocates while computing a
//! value is not, and native built-ins may overrun the time limit.
//!
//! # JavaScript guarantees
//!
//! * **No host access.** Every evaluation runs in a plain QuickJS context with
//!   the ECMAScript built-ins only (`JSON`, `Math`, `Date`, `RegExp`, ...).
//!   There is no `std`/`os` module, no module loader, no file, network,
//!   process or environment access and no `print`/`console`.
//! * **Isolation.** Each call to [`eval_js`] / [`check_js`] creates a fresh
//!   QuickJS runtime and context and drops them afterwards, so no state leaks
//!   from one evaluation to the next. Nothing is shared between threads, so
//!   the functions may be called from any number of threads at once.
//! * **Time limit.** An interrupt handler aborts the script once
//!   [`Limits::time`] has elapsed ([`ScriptError::Timeout`]); the resulting
//!   exception cannot be caught by the script. Native built-ins do not call
//!   the handler; in the sandbox the worker is killed instead.
//! * **Memory limit.** The QuickJS heap is capped at [`Limits::memory_bytes`]
//!   (this includes the parsed input document); exceeding it yields
//!   [`ScriptError::OutOfMemory`] instead of growing the process. In the
//!   sandbox, memory outside the heap (e.g. converting a large result) is
//!   bounded by the worker's address-space cap as well.
//! * **Stack limit.** QuickJS may use at most 1 MiB of native stack, so
//!   runaway recursion yields a [`ScriptError::Runtime`] ("Maximum call stack
//!   size exceeded"), not a crash. In-process evaluation runs on the calling
//!   thread, which must therefore have at least 2 MiB of stack (the default
//!   of Rust and Tokio threads).
//! * **No panics.** Malformed or hostile scripts only ever produce a
//!   [`ScriptError`].
//!
//! The input document is bound to the global `$` and the script's completion
//! value is the result (see [`eval_js`] for the conversion rules).
//!
//! ```
//! use baton_script::{eval_js, eval_jq, Limits, ScriptError};
//! use serde_json::json;
//!
//! let input = json!({"a": 1, "items": [{"x": 1}, {"x": 2}]});
//! assert_eq!(eval_js("$.a + 1", &input, &Limits::default())?, json!(2));
//! assert_eq!(eval_jq(".items | map(.x)", &input)?, vec![json!([1, 2])]);
//! # Ok::<(), ScriptError>(())
//! ```
//!
//! # jq guarantees
//!
//! * `.` is the input document; every emitted value is returned, in order;
//!   integral numbers come back as JSON integers.
//! * No host access: module/data imports are disabled, `env` / `$ENV` are
//!   empty objects and `halt` / `halt_error` become [`ScriptError::Jq`]
//!   instead of exiting the process.
//! * Time limit: checked at every definition call (which covers the loops of
//!   the standard library such as `until`, `while`, `repeat`, `recurse`), at
//!   every `reduce`/`foreach` step, for every element collected by `[...]`
//!   and between emitted values ([`ScriptError::Timeout`]).
//! * Runaway recursion (`def f: 1 + f; f`) fails with [`ScriptError::Jq`]
//!   instead of overflowing the stack; evaluation runs on a worker thread
//!   with a large stack so deeply nested values do not crash either.
//! * Memory: the collected outputs are bounded by [`Limits::memory_bytes`]
//!   ([`ScriptError::OutOfMemory`]). Memory that jaq uses internally while
//!   computing one value is not accounted (jaq has no allocation hook); it
//!   is bounded only in the sandbox, by the worker's address-space cap.
//! * Dialect: jaq 3 follows jq 1.7 closely; `@csv` and `@tsv` (missing from
//!   jaq) are provided. Known differences: updating `null` at a path fails
//!   (`null | .a = 1`, `{} | .a.b = 1`) where jq creates the objects;
//!   `ltrimstr`/`rtrimstr` fail on non-strings (jq passes them through);
//!   `tostream`, `input_line_number` and `$__loc__` do not exist.
//! * Panics inside the jq engine are caught and reported as
//!   [`ScriptError::Jq`]. Compiled programs are cached process-wide
//!   (bounded, behind a mutex), so repeated programs only pay for execution.

use serde_json::Value;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

mod jq;
mod js;
pub mod sandbox;

/// Evaluate a JavaScript script with `input` bound to the global `$` (so
/// `$.value`, `$['some key']`).
///
/// The result is the script's completion value, for example of
/// `(function(){ return $.a + 1; })()`, `$.a > 1 ? 'x' : 'y'` or
/// `if ($.x) { true; } else { false; }`. Scripts run in sloppy (non-strict)
/// mode unless they opt in with `"use strict"`.
///
/// Conversion back to JSON follows `JSON.stringify`: `undefined` (and
/// functions/symbols) → `null`, booleans, strings, integral numbers → JSON
/// integers (`2.0` → `2`), other numbers → floats, NaN/±Infinity → `null`,
/// arrays → arrays, objects → objects (with `toJSON` honoured, so `Date`s
/// become ISO strings).
///
/// Runs in a worker of the [installed](sandbox::install) sandbox if there
/// is one, else on the calling thread.
///
/// Errors: [`ScriptError::Syntax`] if the script does not compile,
/// [`ScriptError::Timeout`] / [`ScriptError::OutOfMemory`] when a limit is
/// hit, [`ScriptError::Runtime`] for anything the script throws (including
/// stack overflow) or a result that cannot be converted (e.g. a `BigInt` or a
/// cyclic object).
pub fn eval_js(script: &str, input: &Value, limits: &Limits) -> Result<Value, ScriptError> {
    match sandbox::installed() {
        Some(sandbox) => sandbox.eval_js(script, input, limits),
        None => js::eval_in_thread(script, input, limits),
    }
}

/// Syntax-only check of a JavaScript script: it is compiled, but none of it
/// runs (the default [`Limits`] bound the compilation itself).
///
/// Returns [`ScriptError::Syntax`] with the first error and its location.
pub fn check_js(script: &str) -> Result<(), ScriptError> {
    match sandbox::installed() {
        Some(sandbox) => sandbox.check_js(script),
        None => js::check_in_thread(script),
    }
}

/// Run a jq program over `input` with the [configured
/// limits](configured_limits); returns every emitted value in order.
///
/// `.` is the input document. Integral numbers come back as JSON integers.
/// Compile and runtime errors map to [`ScriptError::Jq`]; see
/// [`eval_jq_with_limits`] for how limits apply.
pub fn eval_jq(query: &str, input: &Value) -> Result<Vec<Value>, ScriptError> {
    eval_jq_with_limits(query, input, &configured_limits())
}

/// Like [`eval_jq`], with explicit limits.
///
/// * [`Limits::time`] is checked at every call of a definition (which covers
///   the loops of the standard library) and between emitted values; when it
///   has passed the evaluation fails with [`ScriptError::Timeout`]. In the
///   sandbox the worker is also killed shortly after the limit, which stops
///   long loops inside a single native filter (e.g. `reduce range(1e12)`).
/// * [`Limits::memory_bytes`] bounds the (approximate) size of the collected
///   outputs ([`ScriptError::OutOfMemory`]). Memory that jaq uses internally
///   is only bounded in the sandbox (see the crate documentation).
/// * Runaway recursion fails with [`ScriptError::Jq`] instead of overflowing
///   the stack.
pub fn eval_jq_with_limits(
    query: &str,
    input: &Value,
    limits: &Limits,
) -> Result<Vec<Value>, ScriptError> {
    match sandbox::installed() {
        Some(sandbox) => sandbox.eval_jq(query, input, limits),
        None => jq::eval_in_thread(query, input, limits),
    }
}

/// Compile-only check of a jq program.
pub fn check_jq(query: &str) -> Result<(), ScriptError> {
    match sandbox::installed() {
        Some(sandbox) => sandbox.check_jq(query),
        None => jq::check_in_thread(query),
    }
}

static CONFIGURED_LIMITS: RwLock<Limits> = RwLock::new(Limits {
    time: Limits::DEFAULT_TIME,
    memory_bytes: Limits::DEFAULT_MEMORY_BYTES,
});

/// Sets the process-wide limits returned by [`configured_limits`] (the
/// server sets them from its command line at startup).
pub fn set_configured_limits(limits: Limits) {
    *CONFIGURED_LIMITS
        .write()
        .unwrap_or_else(PoisonError::into_inner) = limits;
}

/// The process-wide limits for workflow scripts: [`Limits::default`] unless
/// [`set_configured_limits`] changed them.
pub fn configured_limits() -> Limits {
    *CONFIGURED_LIMITS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Resource limits applied to one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time budget of one evaluation.
    pub time: Duration,
    /// Memory budget of one evaluation (the JS heap, including the input).
    pub memory_bytes: usize,
}

impl Limits {
    /// Default time budget: 4 seconds.
    pub const DEFAULT_TIME: Duration = Duration::from_secs(4);
    /// Default memory budget: 32 MiB.
    pub const DEFAULT_MEMORY_BYTES: usize = 32 * 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Self::DEFAULT_TIME,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
        }
    }
}

/// Error of a script evaluation or check.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The JavaScript source does not compile.
    #[error("script syntax error: {0}")]
    Syntax(String),
    /// The JavaScript threw (or could not be run / converted).
    #[error("script error: {0}")]
    Runtime(String),
    /// The evaluation ran longer than [`Limits::time`].
    #[error("script exceeded its time limit of {0:?}")]
    Timeout(Duration),
    /// The evaluation needed more than [`Limits::memory_bytes`].
    #[error("script exceeded its memory limit of {0} bytes")]
    OutOfMemory(usize),
    /// A jq program failed to compile or run.
    #[error("jq error: {0}")]
    Jq(String),
}

/// Longest error message kept (scripts can throw arbitrarily large values).
const MAX_MESSAGE_CHARS: usize = 1_000;

/// Shortens `message` to [`MAX_MESSAGE_CHARS`] characters.
pub(crate) fn truncate_message(mut message: String) -> String {
    if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(cut);
        message.push_str("… (truncated)");
    }
    message
}

/// Converts a float to a JSON number: integral values within the exactly
/// representable range become JSON integers, other finite values stay floats,
/// NaN and infinities become `null`.
pub(crate) fn f64_to_json(f: f64) -> Value {
    // -2^63 ..= 2^63 (exclusive): every integral float in this range is an
    // exact i64, so the cast below is lossless.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
        return Value::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits() {
        let l = Limits::default();
        assert_eq!(l.time, Duration::from_secs(4));
        assert_eq!(l.memory_bytes, 32 * 1024 * 1024);
    }

    #[test]
    fn float_conversion() {
        assert_eq!(f64_to_json(2.0), serde_json::json!(2));
        assert!(f64_to_json(2.0).is_i64());
        assert_eq!(f64_to_json(-0.0), serde_json::json!(0));
        assert_eq!(f64_to_json(2.5), serde_json::json!(2.5));
        assert_eq!(f64_to_json(f64::NAN), Value::Null);
        assert_eq!(f64_to_json(f64::INFINITY), Value::Null);
        assert!(f64_to_json(1e300).is_f64());
    }

    #[test]
    fn message_truncation() {
        assert_eq!(truncate_message("short".to_owned()), "short");
        let long = truncate_message("é".repeat(5_000));
        assert!(long.starts_with(&"é".repeat(MAX_MESSAGE_CHARS)));
        assert!(long.ends_with("(truncated)"));
        assert!(long.chars().count() < MAX_MESSAGE_CHARS + 20);
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            ScriptError::Timeout(Duration::from_secs(4)).to_string(),
            "script exceeded its time limit of 4s"
        );
        assert_eq!(
            ScriptError::OutOfMemory(10).to_string(),
            "script exceeded its memory limit of 10 bytes"
        );
    }
}
