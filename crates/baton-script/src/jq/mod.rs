//! jq evaluation on jaq.
//!
//! Sandboxing on top of plain jaq:
//!
//! * Every evaluation (compilation included) runs on a thread with a large
//!   stack, because jaq parses, evaluates and drops values recursively: a
//!   fresh thread per evaluation in-process, the long-lived evaluation thread
//!   of a sandbox worker process otherwise.
//! * Every definition body (the program's own and the standard library's,
//!   e.g. the loops behind `until`, `while`, `repeat` and `recurse`), every
//!   `reduce`/`foreach` step and every element collected by `[...]` goes
//!   through a native `__baton_tick` filter ([`guard`]). It passes its input
//!   through unchanged, but fails once the time limit has passed or the
//!   evaluation uses too much stack (runaway recursion such as
//!   `def f: 1 + f; f`), so neither hangs nor overflows the stack. A tripped
//!   limit is sticky: the program cannot `try`/`catch` its way past it.
//! * Host access is removed: no module loading, `env`/`$ENV` are empty,
//!   `halt` does not exit the process.

mod compile;
mod convert;
mod guard;
mod wording;

use crate::{Limits, ScriptError};
use jaq_core::data::JustLut;
use jaq_core::{Ctx, Vars};
use jaq_json::Val;
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

type Data = JustLut<Val>;
type Filter = jaq_core::Filter<Data>;

/// Stack of a thread that compiles and runs jq programs.
/// Only reserved address space: pages are committed as they are touched.
pub(crate) const EVAL_STACK_BYTES: usize = 512 * 1024 * 1024;

/// Runs a jq program in this process, on a fresh thread with a large stack.
pub(crate) fn eval_in_thread(
    query: &str,
    input: &Value,
    limits: &Limits,
) -> Result<Vec<Value>, ScriptError> {
    let started = Instant::now();
    on_big_stack(|| eval_here(query, input, limits, started))
}

/// Compiles a jq program in this process, on a fresh thread with a large stack.
pub(crate) fn check_in_thread(query: &str) -> Result<(), ScriptError> {
    on_big_stack(|| check_here(query))
}

/// Runs a jq program on the calling thread, which must have a stack of
/// [`EVAL_STACK_BYTES`]. Panics of the engine become errors.
pub(crate) fn eval_here(
    query: &str,
    input: &Value,
    limits: &Limits,
    started: Instant,
) -> Result<Vec<Value>, ScriptError> {
    eval_here_with(query, input, limits, started, || Ok(()))
}

/// Like [`eval_here`], calling `before_run` once the program is compiled
/// and the input converted, just before the program runs (the sandbox
/// worker caps its memory there, so the input is not charged to it).
pub(crate) fn eval_here_with(
    query: &str,
    input: &Value,
    limits: &Limits,
    started: Instant,
    before_run: impl FnOnce() -> Result<(), ScriptError>,
) -> Result<Vec<Value>, ScriptError> {
    catch_panic(|| {
        let filter = compile::compile_cached(query)?;
        let input = convert::json_to_val(input, 0)?;
        before_run()?;
        run(&filter, input, limits, started)
    })
}

/// Compiles a jq program on the calling thread (see [`eval_here`]).
pub(crate) fn check_here(query: &str) -> Result<(), ScriptError> {
    catch_panic(|| compile::compile_cached(query).map(|_| ()))
}

fn catch_panic<T>(f: impl FnOnce() -> Result<T, ScriptError>) -> Result<T, ScriptError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| Err(panic_error(panic.as_ref())))
}

/// Runs `f` on a fresh thread with a large stack, turning panics into
/// errors instead of unwinding into the caller.
fn on_big_stack<T: Send>(
    f: impl FnOnce() -> Result<T, ScriptError> + Send,
) -> Result<T, ScriptError> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("baton-jq".to_owned())
            .stack_size(EVAL_STACK_BYTES)
            .spawn_scoped(scope, f);
        match worker {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| Err(panic_error(panic.as_ref()))),
            Err(e) => Err(ScriptError::Jq(format!(
                "cannot start a jq worker thread: {e}"
            ))),
        }
    })
}

fn panic_error(panic: &(dyn std::any::Any + Send)) -> ScriptError {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_owned());
    ScriptError::Jq(format!("internal jq engine failure: {detail}"))
}

fn run(
    filter: &Filter,
    input: Val,
    limits: &Limits,
    started: Instant,
) -> Result<Vec<Value>, ScriptError> {
    guard::enter(started.checked_add(limits.time));
    let result = collect_outputs(filter, input, limits, started);
    match guard::leave() {
        // A tripped limit wins even if the program caught the error.
        Some(guard::Trip::Time) => Err(ScriptError::Timeout(limits.time)),
        Some(guard::Trip::Stack) => Err(ScriptError::Jq(
            "recursion too deep: the program exceeded its stack limit".to_owned(),
        )),
        None => result,
    }
}

fn collect_outputs(
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
        // Fails as soon as the outputs so far exceed the budget, before the
        // rest of a large value is converted.
        outputs.push(convert::val_to_json(
            &value,
            0,
            &mut used,
            limits.memory_bytes,
        )?);
        if started.elapsed() >= limits.time {
            return Err(ScriptError::Timeout(limits.time));
        }
    }
    Ok(outputs)
}

fn exception_error(exception: jaq_core::Exn<'_, Val>) -> ScriptError {
    match exception.get_err() {
        Ok(error) => ScriptError::Jq(crate::truncate_message(match error.into_val() {
            // `error("text")` and built-in messages: show the text as is.
            Val::TStr(text) | Val::BStr(text) => {
                let text = String::from_utf8_lossy(&text).into_owned();
                wording::jq_wording(&text).unwrap_or(text)
            }
            other => format!("{other} (not a string)"),
        })),
        Err(other) => match other.get_halt() {
            Ok(code) => ScriptError::Jq(format!("the program called halt (exit code {code})")),
            Err(_) => ScriptError::Jq("unexpected control flow in the jq engine".to_owned()),
        },
    }
}
