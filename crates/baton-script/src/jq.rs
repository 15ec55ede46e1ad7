//! jq evaluation on jaq.
//!
//! Sandboxing on top of plain jaq:
//!
//! * Every evaluation (compilation included) runs on its own worker thread
//!   with a large stack, because jaq parses, evaluates and drops values
//!   recursively.
//! * Every definition body (the program's own and the standard library's,
//!   e.g. the loops behind `until`, `while`, `repeat` and `recurse`), every
//!   `reduce`/`foreach` step and every element collected by `[...]` goes
//!   through a native `__baton_tick` filter. It passes its input
//!   through unchanged, but fails once the time limit has passed or the
//!   evaluation uses too much stack (runaway recursion such as
//!   `def f: 1 + f; f`), so neither hangs nor overflows the stack. A tripped
//!   limit is sticky: the program cannot `try`/`catch` its way past it.
//! * Host access is removed: no module loading, `env`/`$ENV` are empty,
//!   `halt` does not exit the process.

use crate::{f64_to_json, Limits, ScriptError};
use jaq_core::box_iter::box_once;
use jaq_core::data::JustLut;
use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::path::Part;
use jaq_core::{Compiler, Ctx, Cv, Exn, Native, ValXs, Vars};
use jaq_json::{Num, Val};
use serde_json::Value;
use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

type Data = JustLut<Val>;
type Filter = jaq_core::Filter<Data>;

/// Native filters that would reach outside the sandbox; they are replaced
/// by [`SANDBOX_DEFS`].
const BLOCKED_FUNS: &[&str] = &["env"];

/// Definitions replacing the blocked native filters, plus jq formats that
/// jaq lacks (`@csv`, `@tsv`, with jq 1.7 semantics).
const SANDBOX_DEFS: &str = r#"
def env: {};
def @csv:
  if type != "array" then error("\(type) (\(tojson)) cannot be csv-formatted, only an array can be")
  else map(
    if type == "number" or type == "boolean" then tostring
    elif type == "string" then "\"" + (split("\"") | join("\"\"")) + "\""
    elif type == "null" then ""
    else error("\(type) (\(tojson)) is not valid in a csv row") end
  ) | join(",") end;
def @tsv:
  if type != "array" then error("\(type) (\(tojson)) cannot be tsv-formatted, only an array can be")
  else map(
    if type == "number" or type == "boolean" then tostring
    elif type == "string" then
      split("\\") | join("\\\\") | split("\t") | join("\\t")
      | split("\n") | join("\\n") | split("\r") | join("\\r")
    elif type == "null" then ""
    else error("\(type) (\(tojson)) is not valid in a tsv row") end
  ) | join("\t") end;
"#;

/// Global variables provided to every program (`$ENV` is an empty object).
const GLOBAL_VARS: [&str; 1] = ["$ENV"];

/// Name of the native guard filter prefixed to every definition body.
const TICK: &str = "__baton_tick";
/// Name of the definition that holds the (instrumented) main program.
const MAIN: &str = "__baton_main";
/// Prefix of names reserved for the sandbox.
const RESERVED_PREFIX: &str = "__baton_";

/// Stack of the worker thread that compiles and runs a jq program.
/// Only reserved address space: pages are committed as they are touched.
const WORKER_STACK_BYTES: usize = 512 * 1024 * 1024;
/// Stack a program may use through nested definition calls before it is
/// stopped; the rest of the worker stack is headroom for jaq's own recursion
/// (deeply nested values, parsing).
const MAX_RECURSION_STACK_BYTES: usize = 32 * 1024 * 1024;

/// Longest accepted program, in bytes.
const MAX_QUERY_BYTES: usize = 256 * 1024;
/// Deepest accepted bracket nesting in a program.
const MAX_QUERY_NESTING: usize = 512;

/// Nesting depth above which values are not converted (protects the stack).
const MAX_DEPTH: usize = 1_000;

/// Rough per-value overhead used for the output memory budget.
const VALUE_OVERHEAD: usize = 32;

/// Compiled programs kept for reuse (keyed by program text).
const CACHE_CAPACITY: usize = 512;
/// Longer programs are compiled every time (bounds the cache's size).
const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;

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
/// * [`Limits::time`] is checked at every call of a definition (which covers
///   the loops of the standard library) and between emitted values; when it
///   has passed the evaluation fails with [`ScriptError::Timeout`]. Long
///   loops inside a single native filter (e.g. `reduce range(1e12) ...`) are
///   only stopped at the next check.
/// * [`Limits::memory_bytes`] bounds the (approximate) size of the collected
///   outputs ([`ScriptError::OutOfMemory`]); memory that jaq uses internally
///   while computing one value is not accounted.
/// * Runaway recursion fails with [`ScriptError::Jq`] instead of overflowing
///   the stack.
pub fn eval_jq_with_limits(
    query: &str,
    input: &Value,
    limits: &Limits,
) -> Result<Vec<Value>, ScriptError> {
    let started = Instant::now();
    on_worker(|| {
        let filter = compile_cached(query)?;
        let input = json_to_val(input, 0)?;
        run(&filter, input, limits, started)
    })
}

/// Compile-only check of a jq program.
pub fn check_jq(query: &str) -> Result<(), ScriptError> {
    on_worker(|| compile_cached(query).map(|_| ()))
}

/// Runs `f` on a fresh worker thread with a large stack, turning panics into
/// errors instead of unwinding into the caller.
fn on_worker<T: Send>(f: impl FnOnce() -> Result<T, ScriptError> + Send) -> Result<T, ScriptError> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("baton-jq".to_owned())
            .stack_size(WORKER_STACK_BYTES)
            .spawn_scoped(scope, || catch_unwind(AssertUnwindSafe(f)));
        match worker {
            Ok(handle) => match handle.join() {
                Ok(Ok(result)) => result,
                Ok(Err(panic)) | Err(panic) => Err(panic_error(panic.as_ref())),
            },
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

/// Process-wide cache of compiled programs (synchronised; bounded).
fn cache() -> &'static Mutex<HashMap<String, Arc<Filter>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Filter>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn compile_cached(query: &str) -> Result<Arc<Filter>, ScriptError> {
    if let Some(filter) = cache()
        .lock()
        .ok()
        .and_then(|cache| cache.get(query).cloned())
    {
        return Ok(filter);
    }
    let filter = Arc::new(compile(query)?);
    if query.len() > MAX_CACHED_QUERY_BYTES {
        return Ok(filter);
    }
    if let Ok(mut cache) = cache().lock() {
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(query.to_owned(), Arc::clone(&filter));
    }
    Ok(filter)
}

/// The standard library definitions, instrumented with [`TICK`], parsed once.
fn std_defs() -> &'static [Def<&'static str>] {
    static DEFS: OnceLock<Vec<Def<&'static str>>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let sandbox_defs = load::parse(SANDBOX_DEFS, |p| p.defs()).unwrap_or_default();
        let mut defs: Vec<_> = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .chain(sandbox_defs)
            .collect();
        for def in &mut defs {
            instrument_def(def);
        }
        defs
    })
}

fn compile(query: &str) -> Result<Filter, ScriptError> {
    check_query_shape(query)?;
    // Parse the program as written, for syntax errors with exact positions.
    let arena = Arena::default();
    Loader::new(std_defs().iter().cloned())
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
            ScriptError::Jq(crate::truncate_message(join_messages(messages)))
        })?;
    // It parsed: instrument it and make it the body of a prelude definition.
    let mut main = load::parse(query, |p| p.term()).ok_or_else(|| {
        ScriptError::Jq("module directives (module/import/include) are not supported".to_owned())
    })?;
    if let Some(name) = reserved_definition(&main) {
        return Err(ScriptError::Jq(format!(
            "the name {name} is reserved (names starting with {RESERVED_PREFIX})"
        )));
    }
    instrument(&mut main);
    let mut defs: Vec<Def<&str>> = std_defs().to_vec();
    defs.push(Def {
        name: MAIN,
        args: Vec::new(),
        body: main,
    });
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| !BLOCKED_FUNS.contains(name))
        .chain([tick_fun()]);
    let modules = Loader::new(defs)
        .load(
            &arena,
            File {
                code: MAIN,
                path: (),
            },
        )
        .map_err(|_| ScriptError::Jq("the program could not be prepared".to_owned()))?;
    Compiler::default()
        .with_funs(funs)
        .with_global_vars(GLOBAL_VARS)
        .compile(modules)
        .map_err(|errors| {
            let messages: Vec<String> = errors
                .iter()
                .flat_map(|(_, errors)| {
                    errors.iter().map(|(name, undefined)| {
                        let what = match undefined {
                            jaq_core::compile::Undefined::Filter(arity) => {
                                format!("filter {name}/{arity}")
                            }
                            other => format!("{} {name}", other.as_str()),
                        };
                        // Names are slices of the original program text.
                        format!("undefined {what}{}", position(query, name))
                    })
                })
                .collect();
            ScriptError::Jq(crate::truncate_message(join_messages(messages)))
        })
}

/// Rejects programs too large or too deeply nested for jaq's recursive parser.
fn check_query_shape(query: &str) -> Result<(), ScriptError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(ScriptError::Jq(format!(
            "the program is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let mut depth = 0usize;
    for c in query.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_QUERY_NESTING {
                    return Err(ScriptError::Jq(format!(
                        "the program nests brackets deeper than {MAX_QUERY_NESTING} levels"
                    )));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Prefixes the body of every definition in `term` with a [`TICK`] call.
fn instrument(term: &mut Term<&str>) {
    match term {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) => {}
        Term::Str(_, parts) => {
            for part in parts {
                if let StrPart::Term(t) = part {
                    instrument(t);
                }
            }
        }
        Term::Arr(t) => {
            if let Some(t) = t {
                instrument(t);
                // Collecting `[f]` checks the limits after every element.
                let inner = std::mem::take(&mut **t);
                **t = Term::BinOp(Box::new(inner), BinaryOp::Pipe(None), Box::new(tick_call()));
            }
        }
        Term::Obj(entries) => {
            for (k, v) in entries {
                instrument(k);
                if let Some(v) = v {
                    instrument(v);
                }
            }
        }
        Term::Neg(t) | Term::Label(_, t) => instrument(t),
        Term::BinOp(l, op, r) => {
            if let BinaryOp::Pipe(Some(pattern)) = op {
                instrument_pattern(pattern);
            }
            instrument(l);
            instrument(r);
        }
        Term::Fold(_, xs, pattern, args) => {
            instrument(xs);
            instrument_pattern(pattern);
            args.iter_mut().for_each(instrument);
            // `reduce`/`foreach` check the limits at every step (update and
            // extraction; the first argument is the initial value).
            for arg in args.iter_mut().skip(1) {
                prefix_tick(arg);
            }
        }
        Term::TryCatch(t, catch) => {
            instrument(t);
            if let Some(c) = catch {
                instrument(c);
            }
        }
        Term::IfThenElse(branches, else_) => {
            for (cond, then) in branches {
                instrument(cond);
                instrument(then);
            }
            if let Some(e) = else_ {
                instrument(e);
            }
        }
        Term::Def(defs, t) => {
            defs.iter_mut().for_each(instrument_def);
            instrument(t);
        }
        Term::Call(_, args) => args.iter_mut().for_each(instrument),
        Term::Path(t, path) => {
            instrument(t);
            for (part, _) in &mut path.0 {
                match part {
                    Part::Index(i) => instrument(i),
                    Part::Range(from, upto) => {
                        if let Some(from) = from {
                            instrument(from);
                        }
                        if let Some(upto) = upto {
                            instrument(upto);
                        }
                    }
                }
            }
        }
    }
}

fn instrument_pattern(pattern: &mut Pattern<&str>) {
    match pattern {
        Pattern::Var(_) => {}
        Pattern::Arr(items) => items.iter_mut().for_each(instrument_pattern),
        Pattern::Obj(entries) => {
            for (k, p) in entries {
                instrument(k);
                instrument_pattern(p);
            }
        }
    }
}

fn instrument_def(def: &mut Def<&str>) {
    instrument(&mut def.body);
    prefix_tick(&mut def.body);
}

fn tick_call<'s>() -> Term<&'s str> {
    Term::Call(TICK, Vec::new())
}

/// Turns `t` into `__baton_tick | t` (same outputs, paths and tail calls).
fn prefix_tick(term: &mut Term<&str>) {
    let inner = std::mem::take(term);
    *term = Term::BinOp(Box::new(tick_call()), BinaryOp::Pipe(None), Box::new(inner));
}

/// The first definition in `term` whose name is reserved, if any.
fn reserved_definition<'s>(term: &Term<&'s str>) -> Option<&'s str> {
    let mut found = None;
    visit_defs(term, &mut |def| {
        if found.is_none() && def.name.starts_with(RESERVED_PREFIX) {
            found = Some(def.name);
        }
    });
    found
}

fn visit_defs<'s>(term: &Term<&'s str>, f: &mut dyn FnMut(&Def<&'s str>)) {
    match term {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) => {}
        Term::Str(_, parts) => {
            for part in parts {
                if let StrPart::Term(t) = part {
                    visit_defs(t, f);
                }
            }
        }
        Term::Arr(t) => {
            if let Some(t) = t {
                visit_defs(t, f);
            }
        }
        Term::Obj(entries) => {
            for (k, v) in entries {
                visit_defs(k, f);
                if let Some(v) = v {
                    visit_defs(v, f);
                }
            }
        }
        Term::Neg(t) | Term::Label(_, t) => visit_defs(t, f),
        Term::BinOp(l, _, r) => {
            visit_defs(l, f);
            visit_defs(r, f);
        }
        Term::Fold(_, xs, _, args) => {
            visit_defs(xs, f);
            args.iter().for_each(|a| visit_defs(a, f));
        }
        Term::TryCatch(t, catch) => {
            visit_defs(t, f);
            if let Some(c) = catch {
                visit_defs(c, f);
            }
        }
        Term::IfThenElse(branches, else_) => {
            for (cond, then) in branches {
                visit_defs(cond, f);
                visit_defs(then, f);
            }
            if let Some(e) = else_ {
                visit_defs(e, f);
            }
        }
        Term::Def(defs, t) => {
            for def in defs {
                f(def);
                visit_defs(&def.body, f);
            }
            visit_defs(t, f);
        }
        Term::Call(_, args) => args.iter().for_each(|a| visit_defs(a, f)),
        Term::Path(t, path) => {
            visit_defs(t, f);
            for (part, _) in &path.0 {
                match part {
                    Part::Index(i) => visit_defs(i, f),
                    Part::Range(from, upto) => {
                        for t in [from, upto].into_iter().flatten() {
                            visit_defs(t, f);
                        }
                    }
                }
            }
        }
    }
}

/// Which limit a program hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    Time,
    Stack,
}

/// Limits of the evaluation running on this (worker) thread.
#[derive(Debug, Clone, Copy)]
struct Budget {
    deadline: Option<Instant>,
    stack_base: usize,
    tripped: Option<Trip>,
}

thread_local! {
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

/// Approximate current stack position (address of a local).
#[inline(never)]
fn stack_position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Checks the limits of the current evaluation; a trip is sticky.
fn tick() -> Result<(), Trip> {
    BUDGET.with(|cell| {
        let Some(mut budget) = cell.get() else {
            return Ok(());
        };
        if let Some(trip) = budget.tripped {
            return Err(trip);
        }
        let trip = if budget.stack_base.abs_diff(stack_position()) > MAX_RECURSION_STACK_BYTES {
            Some(Trip::Stack)
        } else if budget.deadline.is_some_and(|d| Instant::now() >= d) {
            Some(Trip::Time)
        } else {
            None
        };
        match trip {
            Some(trip) => {
                budget.tripped = Some(trip);
                cell.set(Some(budget));
                Err(trip)
            }
            None => Ok(()),
        }
    })
}

fn trip_exception<'a>(trip: Trip) -> Exn<'a, Val> {
    let message = match trip {
        Trip::Time => "time limit exceeded",
        Trip::Stack => "recursion too deep",
    };
    Exn::from(jaq_core::Error::str(message))
}

fn tick_run<'a>(cv: Cv<'a, Data>) -> ValXs<'a, Val> {
    box_once(tick().map(|()| cv.1).map_err(trip_exception))
}

/// The [`TICK`] filter: identity (also in path and update mode) that fails
/// when a limit is hit.
fn tick_fun() -> jaq_core::native::Fun<Data> {
    let native = Native::<Data>::new(tick_run)
        .with_paths(|cv| box_once(tick().map(|()| cv.1).map_err(trip_exception)))
        .with_update(|cv, f| match tick() {
            Ok(()) => f(cv.1),
            Err(trip) => box_once(Err(trip_exception(trip))),
        });
    (TICK, Box::new([]), native)
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
    BUDGET.with(|cell| {
        cell.set(Some(Budget {
            deadline: started.checked_add(limits.time),
            stack_base: stack_position(),
            tripped: None,
        }))
    });
    let result = collect_outputs(filter, input, limits, started);
    let tripped = BUDGET.with(|cell| cell.take()).and_then(|b| b.tripped);
    match tripped {
        // A tripped limit wins even if the program caught the error.
        Some(Trip::Time) => Err(ScriptError::Timeout(limits.time)),
        Some(Trip::Stack) => Err(ScriptError::Jq(
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
        Ok(error) => ScriptError::Jq(crate::truncate_message(match error.into_val() {
            // `error("text")` and built-in messages: show the text as is.
            Val::TStr(text) | Val::BStr(text) => String::from_utf8_lossy(&text).into_owned(),
            other => format!("{other} (not a string)"),
        })),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_defs_parse() {
        let defs = load::parse(SANDBOX_DEFS, |p| p.defs()).unwrap_or_default();
        let names: Vec<&str> = defs.iter().map(|d| d.name).collect();
        assert_eq!(names, ["env", "@csv", "@tsv"]);
    }

    #[test]
    fn tick_outside_an_evaluation_is_identity() {
        assert_eq!(tick(), Ok(()));
    }

    #[test]
    fn query_shape_limits() {
        assert!(check_query_shape("[[[]]]").is_ok());
        assert!(check_query_shape(&"(".repeat(MAX_QUERY_NESTING + 1)).is_err());
        assert!(check_query_shape(&" ".repeat(MAX_QUERY_BYTES + 1)).is_err());
    }

    #[test]
    fn positions() {
        let q = "ab\ncd";
        assert_eq!(position(q, &q[4..]), " at line 2, column 2");
        assert_eq!(position(q, "elsewhere"), "");
    }
}
