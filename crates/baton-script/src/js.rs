//! JavaScript evaluation on QuickJS (via `rquickjs`).

use crate::{Limits, ScriptError};
use rquickjs::context::EvalOptions;
use rquickjs::{Context, Ctx, Runtime, Value as JsValue};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Maximum native stack QuickJS may use for one evaluation.
///
/// Half of the 2 MiB default stack of Rust and Tokio threads, so that deep
/// recursion is reported as a `RangeError` well before the thread's stack is
/// exhausted. Allows roughly 1,400 nested JS calls in optimised builds
/// (fewer in unoptimised ones). Callers must run on threads with at least
/// 2 MiB of stack.
const MAX_STACK_BYTES: usize = 1024 * 1024;

/// Deepest accepted nesting of a script's result.
pub(crate) const MAX_RESULT_DEPTH: usize = 1_000;

/// Results nested up to this depth are parsed on the calling thread.
const SHALLOW_DEPTH: usize = 64;

/// Stack of the thread that parses deeper results (reserved address space).
const DEEP_PARSE_STACK_BYTES: usize = 64 * 1024 * 1024;

/// File name reported in error locations.
const FILE_NAME: &str = "script";

/// Value thrown by the prefix that [`check_in_thread`] prepends, so the checked
/// script is compiled but none of it runs.
const CHECK_MARKER: &str = "\u{1}baton-compile-only\u{1}";

/// Evaluates a JavaScript script in this process (see [`crate::eval_js`]).
pub(crate) fn eval_in_thread(
    script: &str,
    input: &Value,
    limits: &Limits,
) -> Result<Value, ScriptError> {
    let input_json = serde_json::to_string(input)
        .map_err(|e| ScriptError::Runtime(format!("cannot serialize the input: {e}")))?;
    match eval_to_json(script, input_json, limits)? {
        None => Ok(Value::Null),
        Some(json) => parse_result(&json),
    }
}

/// Evaluates a JavaScript script with the JSON text `input_json` bound to
/// `$`; returns the completion value as JSON text (`None` for `undefined`
/// and other values `JSON.stringify` drops).
pub(crate) fn eval_to_json(
    script: &str,
    input_json: String,
    limits: &Limits,
) -> Result<Option<String>, ScriptError> {
    let sandbox = Sandbox::new(limits)?;
    let outcome = sandbox.context.with(|ctx| {
        let run = || -> rquickjs::Result<Option<String>> {
            let input = ctx.json_parse(input_json)?;
            ctx.globals().set("$", input)?;
            let completion: JsValue = ctx.eval_with_options(script, eval_options())?;
            match ctx.json_stringify(completion)? {
                Some(json) => json.to_string().map(Some),
                None => Ok(None),
            }
        };
        run().map_err(|err| sandbox.classify(&ctx, err))
    });
    match outcome {
        // A SyntaxError can also be thrown at run time (`JSON.parse('{')`):
        // only report a syntax error if the script itself does not compile.
        Err(ScriptError::Syntax(msg)) => match check_in_thread(script) {
            Ok(()) => Err(ScriptError::Runtime(msg)),
            Err(ScriptError::Syntax(_)) => Err(ScriptError::Syntax(msg)),
            Err(other) => Err(other),
        },
        other => other,
    }
}

/// Syntax-only check of a JavaScript script in this process (see
/// [`crate::check_js`]).
pub(crate) fn check_in_thread(script: &str) -> Result<(), ScriptError> {
    let sandbox = Sandbox::new(&Limits::default())?;
    sandbox.context.with(|ctx| {
        // The whole script is compiled before the first statement executes,
        // and the first statement throws: nothing of `script` is run. The
        // prefix sits on the same line, so reported line numbers are exact.
        let guarded = format!("throw {};{script}", js_string_literal(CHECK_MARKER));
        // The prefix hides a leading "use strict" directive; apply it directly.
        let mut options = eval_options();
        options.strict = starts_with_use_strict(script);
        match ctx.eval_with_options::<(), _>(guarded, options) {
            Ok(()) => Ok(()),
            Err(rquickjs::Error::Exception) => {
                let exception = ctx.catch();
                let is_marker = exception
                    .as_string()
                    .and_then(|s| s.to_string().ok())
                    .is_some_and(|s| s == CHECK_MARKER);
                if is_marker {
                    Ok(())
                } else {
                    Err(sandbox.classify_exception(exception))
                }
            }
            Err(err) => Err(sandbox.classify(&ctx, err)),
        }
    })
}

fn eval_options() -> EvalOptions {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.filename = Some(FILE_NAME.to_owned());
    options
}

/// Whether the script opens with a `"use strict"` directive (after
/// whitespace and comments).
fn starts_with_use_strict(script: &str) -> bool {
    let mut rest = script;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if let Some(after) = rest.strip_prefix("/*") {
            match after.split_once("*/") {
                Some((_, tail)) => rest = tail,
                None => return false,
            }
        } else {
            break;
        }
    }
    ["'use strict'", "\"use strict\""].iter().any(|directive| {
        rest.strip_prefix(directive).is_some_and(|after| {
            let after = after.trim_start_matches([' ', '\t']);
            after.is_empty() || after.starts_with([';', '\n', '\r', '}'])
        })
    })
}

fn js_string_literal(s: &str) -> String {
    // A JSON string literal is a valid JavaScript string literal.
    serde_json::Value::from(s).to_string()
}

/// Parses a script's result (JSON text), refusing excessive nesting.
pub(crate) fn parse_result(json: &str) -> Result<Value, ScriptError> {
    parse_nested(json, MAX_RESULT_DEPTH)
}

/// Parses JSON text nested at most `max_depth` levels (serde_json's own
/// limit, 128, is too strict for script results).
pub(crate) fn parse_nested(json: &str, max_depth: usize) -> Result<Value, ScriptError> {
    // `JSON.stringify` already turned NaN/Infinity into null and integral
    // numbers into integer literals, which serde_json parses as integers.
    let depth = json_nesting(json);
    if depth > max_depth {
        return Err(ScriptError::Runtime(format!(
            "the script's result is nested deeper than {max_depth} levels"
        )));
    }
    if depth <= SHALLOW_DEPTH {
        return parse_unbounded(json);
    }
    // Deeply nested text recurses further than a 2 MiB stack allows in
    // unoptimised builds: parse it on a thread of its own.
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new()
            .name("baton-script-parse".to_owned())
            .stack_size(DEEP_PARSE_STACK_BYTES)
            .spawn_scoped(scope, || parse_unbounded(json));
        match parser {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(ScriptError::Runtime(
                    "cannot convert the script's result".to_owned(),
                ))
            }),
            Err(e) => Err(ScriptError::Runtime(format!(
                "cannot start a thread to convert the script's result: {e}"
            ))),
        }
    })
}

fn parse_unbounded(json: &str) -> Result<Value, ScriptError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    deserializer.disable_recursion_limit();
    let value = serde::Deserialize::deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|e| ScriptError::Runtime(format!("cannot convert the script's result: {e}")))?;
    Ok(value)
}

/// Maximum nesting depth of a JSON value (arrays/objects) in `json`.
fn json_nesting(json: &str) -> usize {
    baton_model::limits::text_depth(json.as_bytes())
}

/// A fresh QuickJS runtime + context with the limits installed.
struct Sandbox {
    /// Keeps the runtime alive (the context also holds a reference).
    _runtime: Runtime,
    context: Context,
    timed_out: Arc<AtomicBool>,
    limits: Limits,
}

impl Sandbox {
    fn new(limits: &Limits) -> Result<Self, ScriptError> {
        let runtime = Runtime::new().map_err(|e| {
            ScriptError::Runtime(format!("cannot create a JavaScript runtime: {e}"))
        })?;
        // QuickJS treats 0 as "unlimited"; never allow that by accident.
        runtime.set_memory_limit(limits.memory_bytes.max(1));
        runtime.set_max_stack_size(MAX_STACK_BYTES);
        // The deadline includes context creation and input parsing.
        let deadline = Instant::now().checked_add(limits.time);
        let timed_out = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&timed_out);
        runtime.set_interrupt_handler(Some(Box::new(move || {
            if flag.load(Ordering::Relaxed) {
                return true;
            }
            match deadline {
                Some(deadline) if Instant::now() >= deadline => {
                    flag.store(true, Ordering::Relaxed);
                    true
                }
                _ => false,
            }
        })));
        let context = Context::full(&runtime).map_err(|e| match e {
            rquickjs::Error::Allocation => ScriptError::OutOfMemory(limits.memory_bytes),
            e => ScriptError::Runtime(format!("cannot create a JavaScript context: {e}")),
        })?;
        Ok(Sandbox {
            _runtime: runtime,
            context,
            timed_out,
            limits: *limits,
        })
    }

    fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }

    fn classify(&self, ctx: &Ctx<'_>, err: rquickjs::Error) -> ScriptError {
        match err {
            rquickjs::Error::Exception => self.classify_exception(ctx.catch()),
            _ if self.timed_out() => ScriptError::Timeout(self.limits.time),
            rquickjs::Error::Allocation => ScriptError::OutOfMemory(self.limits.memory_bytes),
            rquickjs::Error::InvalidString(_) => {
                ScriptError::Syntax("the script contains a NUL character".to_owned())
            }
            other => ScriptError::Runtime(other.to_string()),
        }
    }

    fn classify_exception(&self, exception: JsValue<'_>) -> ScriptError {
        if self.timed_out() {
            return ScriptError::Timeout(self.limits.time);
        }
        let info = ExceptionInfo::from_value(&exception);
        // Reading the exception may run script code (getters, toString).
        if self.timed_out() {
            return ScriptError::Timeout(self.limits.time);
        }
        match info.name.as_deref() {
            // "string too long": the engine's hard cap on string length
            // (2^30 - 1), reached by string doubling before the heap limit
            // because concatenations are kept as ropes.
            Some("InternalError")
                if matches!(
                    info.message.as_deref(),
                    Some("out of memory" | "string too long")
                ) =>
            {
                ScriptError::OutOfMemory(self.limits.memory_bytes)
            }
            Some("SyntaxError") => ScriptError::Syntax(info.render()),
            _ => ScriptError::Runtime(info.render()),
        }
    }
}

/// What could be read from a thrown value.
#[derive(Debug, Default)]
struct ExceptionInfo {
    name: Option<String>,
    message: Option<String>,
    /// First stack frame, e.g. `at <eval> (script:1:10)`.
    location: Option<String>,
    /// Text of a thrown non-error value.
    text: Option<String>,
}

impl ExceptionInfo {
    fn from_value(value: &JsValue<'_>) -> Self {
        let mut info = ExceptionInfo::default();
        if value.is_error() {
            if let Some(object) = value.as_object() {
                info.name = object.get::<_, Option<String>>("name").ok().flatten();
                info.message = object.get::<_, Option<String>>("message").ok().flatten();
                info.location = object
                    .get::<_, Option<String>>("stack")
                    .ok()
                    .flatten()
                    .and_then(|stack| {
                        stack
                            .lines()
                            .map(str::trim)
                            .find(|line| !line.is_empty())
                            .map(str::to_owned)
                    });
                return info;
            }
        }
        info.text = value
            .get::<rquickjs::Coerced<String>>()
            .ok()
            .map(|coerced| coerced.0);
        info
    }

    fn render(&self) -> String {
        let mut out = match (&self.name, &self.message, &self.text) {
            (Some(name), Some(message), _) if !message.is_empty() => format!("{name}: {message}"),
            (Some(name), _, _) => name.clone(),
            (None, Some(message), _) => message.clone(),
            (None, None, Some(text)) => format!("uncaught exception: {text}"),
            (None, None, None) => "uncaught exception".to_owned(),
        };
        if let Some(location) = &self.location {
            out.push_str(" (");
            out.push_str(location);
            out.push(')');
        }
        crate::truncate_message(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_strict_detection() {
        assert!(starts_with_use_strict("'use strict'; x"));
        assert!(starts_with_use_strict("  // c\n/* d */ \"use strict\"\nx"));
        assert!(!starts_with_use_strict("x; 'use strict'"));
        assert!(!starts_with_use_strict("'use strict' + 1"));
        assert!(!starts_with_use_strict("/* unterminated"));
    }

    #[test]
    fn nesting() {
        assert_eq!(json_nesting("1"), 0);
        assert_eq!(json_nesting("[[1],{\"a\":[]}]"), 3);
        assert_eq!(json_nesting("[\"[[[\\\"[[\"]"), 1);
        assert_eq!(json_nesting("\"\\\\\""), 0);
    }

    #[test]
    fn deep_results() {
        let deep = format!("{}{}", "[".repeat(600), "]".repeat(600));
        assert!(parse_result(&deep).is_ok());
        let too_deep = format!("{}{}", "[".repeat(1001), "]".repeat(1001));
        assert!(matches!(
            parse_result(&too_deep),
            Err(ScriptError::Runtime(_))
        ));
    }
}
