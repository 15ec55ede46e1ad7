//! The `${…}` parameter expression language (`CONDUCTOR-API.md` §6).
//!
//! Task input parameters, workflow output parameters and similar maps hold strings such as
//! `"${workflow.input.orderId}"` or `"order ${ref.output.id} done"`. This module resolves them
//! against a [`Scope`] (the evaluation document: `workflow` plus one entry per task reference),
//! checks them when a definition is registered ([`validate`], [`referenced_roots`]) and never
//! fails at evaluation time: anything that cannot be resolved becomes null.
//!
//! Rules, as in Conductor:
//!
//! * Maps and lists are walked recursively; strings are evaluated; other values are copied.
//!   Keys are never evaluated.
//! * A string that is exactly one expression becomes the typed value (object, list, number,
//!   boolean, string or null).
//! * Otherwise each expression is replaced by the value's string form and the result is a
//!   string; see `render.rs` for the string form (Java-style scalars, compact JSON for objects
//!   and lists, where Conductor would print Java's `{a=1, b=x}`).
//! * Inner expressions in a path are resolved first and spliced in as text:
//!   `${workflow.input.${workflow.input.which}}`.
//! * `${}` and `${   }` become the empty string; `$${x}` is the literal text `${x}`.
//! * `${CPEWF_TASK_ID}` is the id of the task whose input is built, or stays as it is when no
//!   task id is known. No other environment names are resolved (Conductor resolves any server
//!   environment variable, which leaks information).
//! * Paths are Jayway JSONPath with an implied leading `$.` (see `path.rs`). A missing root, a
//!   missing key or an invalid path yields null; an indefinite path (wildcard, slice, filter,
//!   deep scan) yields a list, empty when nothing matches.

mod func;
mod path;
mod render;
mod template;

use std::borrow::Cow;

use serde_json::{Map, Value};

use template::Piece;

/// The special name substituted with the current task's id.
pub const TASK_ID_VAR: &str = "CPEWF_TASK_ID";

/// How deeply `${…}` may be nested inside another expression's path. Deeper inner expressions
/// resolve to null (and are rejected by [`validate`]); this bounds recursion on hostile input.
pub const MAX_NESTING: usize = 16;

/// Longest excerpt of the offending string quoted in an [`ExprError`].
const ERROR_EXCERPT_CHARS: usize = 200;

/// A value of the evaluation document as a [`Scope`] hands it out: borrowed where the scope
/// holds it, built only when it is small. Paths walk through borrowed nodes, so resolving
/// `${workflow.input.a.b}` clones `b` and nothing else.
#[derive(Debug, Clone)]
pub enum Node<'a> {
    /// A JSON value the scope holds.
    Value(&'a Value),
    /// A JSON object the scope holds as a map (a workflow's input, a task's output, …).
    Map(&'a Map<String, Value>),
    /// A value built for this lookup (a status name, an id).
    Owned(Value),
}

impl Node<'_> {
    /// The node as an owned value (the one copy a resolved path makes).
    pub fn into_value(self) -> Value {
        match self {
            Node::Value(v) => v.clone(),
            Node::Map(m) => Value::Object(m.clone()),
            Node::Owned(v) => v,
        }
    }
}

/// Supplies the objects an expression's first path segment names:
/// `"workflow"` → `{input, output, variables, status, workflowId, parentWorkflowId,
/// parentWorkflowTaskId, workflowType, version, correlationId, reasonForIncompletion,
/// schemaVersion, createTime, taskToDomain}`;
/// `"<taskRef>"` → `{input, output, taskType, status, referenceTaskName, retryCount, …}`.
pub trait Scope {
    /// The whole object for a first path segment, or `None` when the root is unknown (the
    /// expression then resolves to null). Used only when a path names the root alone
    /// (`${workflow}`) or filters it as a whole; other paths go through [`Scope::field`].
    fn lookup(&self, root: &str) -> Option<Cow<'_, Value>>;

    /// One key of a root object (`workflow` → `input`), without building the root: this is
    /// what makes a reference cost its result, not the size of the workflow. The default goes
    /// through [`Scope::lookup`]; scopes whose roots are built on demand should override it.
    fn field(&self, root: &str, key: &str) -> Option<Node<'_>> {
        match self.lookup(root)? {
            Cow::Borrowed(v) => v.get(key).map(Node::Value),
            Cow::Owned(v) => v.get(key).cloned().map(Node::Owned),
        }
    }

    /// The whole evaluation document, for the rare paths that do not start with a key
    /// (`${$..id}`, `${*.status}`). The default, `None`, makes them resolve to an empty list.
    fn document(&self) -> Option<Cow<'_, Value>> {
        None
    }
}

/// A JSON object is a scope over its keys (for tests and simple callers); any other value has
/// no roots.
impl Scope for Value {
    fn lookup(&self, root: &str) -> Option<Cow<'_, Value>> {
        self.as_object()?.get(root).map(Cow::Borrowed)
    }

    fn document(&self) -> Option<Cow<'_, Value>> {
        Some(Cow::Borrowed(self))
    }
}

/// A JSON map is a scope over its keys; its whole-document view is a clone.
impl Scope for Map<String, Value> {
    fn lookup(&self, root: &str) -> Option<Cow<'_, Value>> {
        self.get(root).map(Cow::Borrowed)
    }

    fn document(&self) -> Option<Cow<'_, Value>> {
        Some(Cow::Owned(Value::Object(self.clone())))
    }
}

/// A registration-time problem with an expression. `text` is the offending string (an excerpt
/// when it is long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// A `${` without a matching `}`.
    #[error("unclosed '${{' in '{text}'")]
    Unclosed { text: String },
    /// A path that does not parse.
    #[error("invalid path '{path}' in '{text}': {reason}")]
    InvalidPath {
        text: String,
        path: String,
        reason: String,
    },
    /// Expressions nested more than [`MAX_NESTING`] levels deep.
    #[error("expressions nested more than {max} levels deep in '{text}'")]
    TooDeep { text: String, max: usize },
}

/// Resolve every expression in a parameter map (the structure is walked recursively: strings
/// evaluated, maps/lists recursed, other values copied). `task_id` substitutes
/// `${CPEWF_TASK_ID}` (when `None`, that text is left unchanged).
pub fn resolve_map(
    params: &Map<String, Value>,
    scope: &dyn Scope,
    task_id: Option<&str>,
) -> Map<String, Value> {
    let ctx = Ctx { scope, task_id };
    resolve_map_in(params, &ctx)
}

/// Resolve every expression in a value; see [`resolve_map`].
pub fn resolve_value(v: &Value, scope: &dyn Scope, task_id: Option<&str>) -> Value {
    let ctx = Ctx { scope, task_id };
    resolve_value_in(v, &ctx)
}

/// Resolve one string: the typed value when it is exactly one expression, otherwise a string.
pub fn resolve_str(s: &str, scope: &dyn Scope, task_id: Option<&str>) -> Value {
    let ctx = Ctx { scope, task_id };
    resolve_str_in(s, &ctx)
}

/// The string form a value takes when embedded in text: `null`, `true`, numbers as Java prints
/// them, strings as they are, objects and lists as compact JSON.
pub fn to_text(v: &Value) -> String {
    let mut out = String::new();
    render::push_text(&mut out, v);
    out
}

/// Registration-time check: every `${…}` in the value parses (balanced braces, valid path
/// syntax). Paths that contain an inner expression are checked only for their inner parts,
/// since the outer path is known only at run time.
pub fn validate(v: &Value) -> Result<(), ExprError> {
    match v {
        Value::String(s) => validate_str(s),
        Value::Array(items) => items.iter().try_for_each(validate),
        Value::Object(m) => m.values().try_for_each(validate),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// [`validate`] for one string.
pub fn validate_str(s: &str) -> Result<(), ExprError> {
    if !s.contains("${") {
        return Ok(());
    }
    check_text(s, s, 0)
}

/// The first path segments (`workflow`, task refs) that a value's expressions refer to, in
/// order of first appearance and without repeats, for the "every `${ref…}` must name workflow
/// or an existing task ref" registration check. `CPEWF_TASK_ID`, blank expressions and paths
/// that do not start with a key (`$..x`) are skipped; inner expressions are included.
pub fn referenced_roots(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_roots(v, &mut out);
    out
}

struct Ctx<'s> {
    scope: &'s dyn Scope,
    task_id: Option<&'s str>,
}

fn resolve_map_in(params: &Map<String, Value>, ctx: &Ctx<'_>) -> Map<String, Value> {
    params
        .iter()
        .map(|(k, v)| (k.clone(), resolve_value_in(v, ctx)))
        .collect()
}

fn resolve_value_in(v: &Value, ctx: &Ctx<'_>) -> Value {
    match v {
        Value::String(s) => resolve_str_in(s, ctx),
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| resolve_value_in(i, ctx)).collect())
        }
        Value::Object(m) => Value::Object(resolve_map_in(m, ctx)),
        Value::Null | Value::Bool(_) | Value::Number(_) => v.clone(),
    }
}

fn resolve_str_in(s: &str, ctx: &Ctx<'_>) -> Value {
    if !s.contains("${") {
        return Value::String(s.to_owned());
    }
    let scan = template::scan(s);
    if let [Piece::Expr { inner, raw }] = scan.pieces[..] {
        return eval_expr(inner, ctx, 0).unwrap_or_else(|| Value::String(raw.to_owned()));
    }
    let mut out = String::with_capacity(s.len());
    render_pieces(&scan.pieces, ctx, 0, &mut out);
    Value::String(out)
}

/// Append the string form of scanned text, expressions evaluated at `depth`.
fn render_pieces(pieces: &[Piece<'_>], ctx: &Ctx<'_>, depth: usize, out: &mut String) {
    for piece in pieces {
        match *piece {
            Piece::Lit(lit) => template::push_unescaped(out, lit),
            Piece::Expr { inner, raw } => match eval_expr(inner, ctx, depth) {
                Some(v) => render::push_text(out, &v),
                None => out.push_str(raw),
            },
        }
    }
}

/// Evaluate the text between `${` and `}`. `None` means "leave the expression as it is"
/// (`${CPEWF_TASK_ID}` without a task id).
fn eval_expr(inner: &str, ctx: &Ctx<'_>, depth: usize) -> Option<Value> {
    let resolved: Cow<'_, str> = if inner.contains("${") {
        if depth >= MAX_NESTING {
            return Some(Value::Null);
        }
        let mut text = String::new();
        render_pieces(&template::scan(inner).pieces, ctx, depth + 1, &mut text);
        Cow::Owned(text)
    } else {
        Cow::Borrowed(inner)
    };
    let path_text = resolved.trim();
    if path_text.is_empty() {
        return Some(Value::String(String::new()));
    }
    if path_text == TASK_ID_VAR {
        return ctx.task_id.map(|id| Value::String(id.to_owned()));
    }
    Some(path::parse(path_text).map_or(Value::Null, |p| p.evaluate(ctx.scope)))
}

/// `s` with every `$${` turned into `${`.
fn unescaped(s: &str) -> Cow<'_, str> {
    if s.contains("$${") {
        let mut out = String::with_capacity(s.len());
        template::push_unescaped(&mut out, s);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

fn excerpt(s: &str) -> String {
    match s.char_indices().nth(ERROR_EXCERPT_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// Check the expressions of `s` (part of `whole`), nested `depth` levels deep.
fn check_text(whole: &str, s: &str, depth: usize) -> Result<(), ExprError> {
    let scan = template::scan(s);
    if scan.unclosed.is_some() {
        return Err(ExprError::Unclosed {
            text: excerpt(whole),
        });
    }
    for piece in &scan.pieces {
        let Piece::Expr { inner, .. } = *piece else {
            continue;
        };
        if inner.contains("${") && template::scan(inner).has_expr() {
            if depth >= MAX_NESTING {
                return Err(ExprError::TooDeep {
                    text: excerpt(whole),
                    max: MAX_NESTING,
                });
            }
            check_text(whole, inner, depth + 1)?;
            continue;
        }
        let path_text = unescaped(inner);
        let path_text = path_text.trim();
        if path_text.is_empty() || path_text == TASK_ID_VAR {
            continue;
        }
        if let Err(reason) = path::parse(path_text) {
            return Err(ExprError::InvalidPath {
                text: excerpt(whole),
                path: path_text.to_owned(),
                reason,
            });
        }
    }
    Ok(())
}

fn collect_roots(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.contains("${") => collect_roots_text(s, 0, out),
        Value::Array(items) => items.iter().for_each(|i| collect_roots(i, out)),
        Value::Object(m) => m.values().for_each(|i| collect_roots(i, out)),
        _ => {}
    }
}

fn push_root(name: Cow<'_, str>, out: &mut Vec<String>) {
    if !out.iter().any(|o| *o == name) {
        out.push(name.into_owned());
    }
}

fn collect_roots_text(s: &str, depth: usize, out: &mut Vec<String>) {
    for piece in template::scan(s).pieces {
        let Piece::Expr { inner, .. } = piece else {
            continue;
        };
        let nested = if inner.contains("${") {
            Some(template::scan(inner)).filter(template::Scan::has_expr)
        } else {
            None
        };
        match nested {
            Some(nested) => {
                // The root is known when the literal text before the first inner expression
                // already holds a complete first segment (`workflow.input.${…}`).
                if let Some(Piece::Lit(prefix)) = nested.pieces.first() {
                    if let Some(name) = path::first_key(&unescaped(prefix), false) {
                        push_root(name, out);
                    }
                }
                if depth < MAX_NESTING {
                    collect_roots_text(inner, depth + 1, out);
                }
            }
            None => {
                let path_text = unescaped(inner);
                let path_text = path_text.trim();
                if path_text.is_empty() || path_text == TASK_ID_VAR {
                    continue;
                }
                if let Some(name) = path::first_key(path_text, true) {
                    push_root(name, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod borrow_tests;
#[cfg(test)]
mod tests;
