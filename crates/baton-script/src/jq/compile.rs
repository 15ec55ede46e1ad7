//! Compiling jq programs: parsing, instrumentation with the guard filter,
//! readable error messages and the process-wide cache of compiled programs.

use super::guard::{instrument, instrument_def, reserved_definition, tick_fun, RESERVED_PREFIX};
use super::Filter;
use crate::ScriptError;
use jaq_core::load::parse::Def;
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::Compiler;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

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

/// Name of the definition that holds the (instrumented) main program.
const MAIN: &str = "__baton_main";

/// Longest accepted program, in bytes.
const MAX_QUERY_BYTES: usize = 256 * 1024;
/// Deepest accepted bracket nesting in a program.
const MAX_QUERY_NESTING: usize = 512;

/// Compiled programs kept for reuse (keyed by program text).
const CACHE_CAPACITY: usize = 512;
/// Longer programs are compiled every time (bounds the cache's size).
const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;

/// Process-wide cache of compiled programs (synchronised; bounded).
fn cache() -> &'static Mutex<HashMap<String, Arc<Filter>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Filter>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

pub(super) fn compile_cached(query: &str) -> Result<Arc<Filter>, ScriptError> {
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

/// The standard library definitions, instrumented with the guard filter, parsed once.
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
