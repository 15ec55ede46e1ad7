//! The path inside `${…}`: Jayway JSONPath syntax with an implied leading `$.`.
//!
//! [`parse`] turns the text into a root (the first key, looked up through [`Scope::lookup`], or
//! the whole document for paths such as `$..x`), a list of segments and an optional trailing
//! function (`.length()`, `.sum()`, …).
//!
//! * Definite paths (keys and single indexes only, the common case: `a.b[0].c`, `a['k']`,
//!   `a[-1]`) are walked by reference from [`Scope::field`], so only the final value is cloned
//!   and the root object (the workflow, a task) is never built.
//! * Indefinite paths (wildcards, slices, unions, deep scan, filters) are rewritten into RFC 9535
//!   bracket form and run by `serde_json_path` against the value their leading keys reach (also
//!   walked by reference); they yield a list, empty when nothing matches. Filter text is passed through, so Jayway's `[?(@.x > 1)]` works,
//!   while Jayway-only operators (`=~`, `in`, `nin`, `size`, …) are rejected. Inside a filter
//!   `$` denotes the root value (e.g. the task), not the whole document.

use std::borrow::Cow;

use serde_json::Value;
use serde_json_path::JsonPath;

use super::func::Func;
use super::{Node, Scope};

/// Where a path starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Root<'a> {
    /// A top-level key: `workflow` or a task reference name.
    Named(Cow<'a, str>),
    /// The whole evaluation document (`$`, `$..x`, `*.status`).
    Document,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg<'a> {
    Key(Cow<'a, str>),
    Index(i64),
    Keys(Vec<Cow<'a, str>>),
    Indexes(Vec<i64>),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Wildcard,
    /// A filter, with its text from the `?` up to (not including) the closing `]`.
    Filter(&'a str),
    /// `..` followed by a key, wildcard or bracket selection.
    Descendant(Box<Seg<'a>>),
}

impl Seg<'_> {
    fn is_definite(&self) -> bool {
        matches!(self, Seg::Key(_) | Seg::Index(_))
    }
}

/// A parsed path.
#[derive(Debug, Clone)]
pub(super) struct Path<'a> {
    pub(super) root: Root<'a>,
    pub(super) segs: Vec<Seg<'a>>,
    pub(super) func: Option<Func>,
    /// For an indefinite path: how many leading (definite) segments are walked by reference,
    /// and the query for the rest. `None` for a definite path.
    compiled: Option<(usize, JsonPath)>,
}

impl Path<'_> {
    /// Evaluate against `scope`. Never fails: a missing root or key yields null for a definite
    /// path and an empty list for an indefinite one.
    pub(super) fn evaluate(&self, scope: &dyn Scope) -> Value {
        match &self.compiled {
            None => match (self.reach(scope, self.segs.len()), self.func) {
                (Some(node), None) => node.into_value(),
                (Some(node), Some(f)) => f.apply_node(&node),
                (None, _) => Value::Null,
            },
            Some((split, query)) => {
                let list = match self.reach(scope, *split) {
                    Some(Node::Value(v)) => query.query(v).all().into_iter().cloned().collect(),
                    Some(Node::Owned(v)) => query.query(&v).all().into_iter().cloned().collect(),
                    Some(Node::Map(m)) => {
                        // The query library needs a `Value`: the one case that copies a map.
                        let v = Value::Object(m.clone());
                        query.query(&v).all().into_iter().cloned().collect()
                    }
                    None => Vec::new(),
                };
                let list = Value::Array(list);
                match self.func {
                    Some(f) => f.apply(&list),
                    None => list,
                }
            }
        }
    }

    /// The node the root and the first `upto` segments (all definite) lead to, borrowed from
    /// the scope where it can be.
    fn reach<'s>(&self, scope: &'s dyn Scope, upto: usize) -> Option<Node<'s>> {
        let segs = &self.segs[..upto];
        let (node, rest) = match (&self.root, segs.split_first()) {
            (Root::Named(name), Some((Seg::Key(key), rest))) => (scope.field(name, key)?, rest),
            (Root::Named(name), _) => (cow_node(scope.lookup(name)?), segs),
            (Root::Document, _) => (cow_node(scope.document()?), segs),
        };
        descend(node, rest)
    }
}

fn cow_node(v: Cow<'_, Value>) -> Node<'_> {
    match v {
        Cow::Borrowed(v) => Node::Value(v),
        Cow::Owned(v) => Node::Owned(v),
    }
}

/// Follow definite segments from a node, by reference for borrowed nodes.
fn descend<'s>(node: Node<'s>, segs: &[Seg<'_>]) -> Option<Node<'s>> {
    match node {
        Node::Value(v) => walk(v, segs).map(Node::Value),
        Node::Owned(v) => walk(&v, segs).cloned().map(Node::Owned),
        Node::Map(m) => match segs.split_first() {
            None => Some(Node::Map(m)),
            Some((Seg::Key(k), rest)) => walk(m.get(k.as_ref())?, rest).map(Node::Value),
            Some(_) => None,
        },
    }
}

/// Whether a segment holds a filter that mentions `$` (the root value), which must then stay
/// the root the query runs against.
fn mentions_root(seg: &Seg<'_>) -> bool {
    match seg {
        Seg::Filter(text) => text.contains('$'),
        Seg::Descendant(inner) => mentions_root(inner),
        _ => false,
    }
}

/// Follow keys and indexes from `v` by reference.
fn walk<'v>(mut v: &'v Value, segs: &[Seg<'_>]) -> Option<&'v Value> {
    for seg in segs {
        v = match seg {
            Seg::Key(k) => v.as_object()?.get(k.as_ref())?,
            Seg::Index(i) => {
                let a = v.as_array()?;
                let at = if *i < 0 {
                    a.len()
                        .checked_sub(usize::try_from(i.unsigned_abs()).ok()?)?
                } else {
                    usize::try_from(*i).ok()?
                };
                a.get(at)?
            }
            _ => return None,
        };
    }
    Some(v)
}

/// Parse a path (already stripped of `${` and `}`; surrounding blanks are ignored). The error
/// says what is wrong and where.
pub(super) fn parse(text: &str) -> Result<Path<'_>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty path".to_owned());
    }
    let mut p = Parser {
        s: t,
        b: t.as_bytes(),
        pos: 0,
    };
    let mut segs = Vec::new();
    let mut func = None;
    if t.starts_with('$') {
        p.pos = 1;
    } else {
        p.after_dot(&mut segs, &mut func)?;
    }
    while let Some(c) = p.peek() {
        if func.is_some() {
            return Err(p.err("a function call must end the path"));
        }
        match c {
            b'.' if p.peek_at(1) == Some(b'.') => {
                p.pos += 2;
                let target = p.descendant_target()?;
                segs.push(Seg::Descendant(Box::new(target)));
            }
            b'.' => {
                p.pos += 1;
                p.after_dot(&mut segs, &mut func)?;
            }
            b'[' => {
                let seg = p.bracket()?;
                segs.push(seg);
            }
            _ => return Err(p.err("expected '.' or '['")),
        }
    }
    let root = match segs.first() {
        Some(Seg::Key(_)) => match segs.remove(0) {
            Seg::Key(k) => Root::Named(k),
            _ => Root::Document,
        },
        _ => Root::Document,
    };
    let compiled = if segs.iter().all(Seg::is_definite) {
        None
    } else {
        let rfc = to_rfc9535(&segs);
        let whole = JsonPath::parse(&rfc).map_err(|e| {
            format!(
                "unsupported selector or filter (filters follow RFC 9535; Jayway-only operators \
                 such as '=~', 'in', 'nin', 'size' are not available): {e} in '{rfc}'"
            )
        })?;
        // Walk the leading keys by reference and query only from there, unless a filter
        // refers to the root value.
        let split = if matches!(root, Root::Named(_)) && !segs.iter().any(mentions_root) {
            segs.iter().take_while(|s| s.is_definite()).count()
        } else {
            0
        };
        if split == 0 {
            Some((0, whole))
        } else {
            let rest = to_rfc9535(&segs[split..]);
            Some((
                split,
                JsonPath::parse(&rest).map_err(|e| format!("{e} in '{rest}'"))?,
            ))
        }
    };
    Ok(Path {
        root,
        segs,
        func,
        compiled,
    })
}

/// The name of the first segment of a path, for the registration check of references.
///
/// `text` may be a complete path or, when `complete` is false, the literal start of a path
/// that continues with a nested expression (so `workflow.input.` names `workflow` but
/// `work` names nothing yet). Returns `None` when the path does not start with a plain key.
pub(super) fn first_key(text: &str, complete: bool) -> Option<Cow<'_, str>> {
    let t = text.trim_start();
    let t = if complete { t.trim_end() } else { t };
    let rest = match t.strip_prefix('$') {
        Some(r) if r.starts_with("..") => return None,
        Some(r) => r.strip_prefix('.').unwrap_or(r),
        None => t,
    };
    let mut p = Parser {
        s: rest,
        b: rest.as_bytes(),
        pos: 0,
    };
    match p.peek()? {
        b'[' => match p.bracket().ok()? {
            Seg::Key(k) => Some(k),
            _ => None,
        },
        b'*' | b'.' => None,
        _ => {
            let name = p.name().ok()?;
            match p.peek() {
                Some(b'.' | b'[') => Some(Cow::Borrowed(name)),
                None if complete => Some(Cow::Borrowed(name)),
                _ => None,
            }
        }
    }
}

/// Render segments as an RFC 9535 query in bracket notation.
fn to_rfc9535(segs: &[Seg<'_>]) -> String {
    let mut out = String::from("$");
    for seg in segs {
        push_rfc_seg(&mut out, seg);
    }
    out
}

fn push_rfc_seg(out: &mut String, seg: &Seg<'_>) {
    match seg {
        Seg::Key(k) => {
            out.push('[');
            push_rfc_string(out, k);
            out.push(']');
        }
        Seg::Index(i) => out.push_str(&format!("[{i}]")),
        Seg::Keys(keys) => {
            out.push('[');
            for (n, k) in keys.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                push_rfc_string(out, k);
            }
            out.push(']');
        }
        Seg::Indexes(ixs) => {
            let list: Vec<String> = ixs.iter().map(i64::to_string).collect();
            out.push_str(&format!("[{}]", list.join(",")));
        }
        Seg::Slice(start, end, step) => {
            let part = |x: &Option<i64>| x.map(|v| v.to_string()).unwrap_or_default();
            out.push('[');
            out.push_str(&part(start));
            out.push(':');
            out.push_str(&part(end));
            if step.is_some() {
                out.push(':');
                out.push_str(&part(step));
            }
            out.push(']');
        }
        Seg::Wildcard => out.push_str("[*]"),
        Seg::Filter(text) => {
            out.push('[');
            out.push_str(text);
            out.push(']');
        }
        Seg::Descendant(inner) => {
            out.push_str("..");
            push_rfc_seg(out, inner);
        }
    }
}

/// A single-quoted RFC 9535 string literal.
fn push_rfc_string(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('\'');
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.b.get(self.pos + ahead).copied()
    }

    fn err(&self, what: &str) -> String {
        format!("{what} at position {}", self.pos)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// What follows a single `.` (or the start of a path with the implied `$.`).
    fn after_dot(
        &mut self,
        segs: &mut Vec<Seg<'a>>,
        func: &mut Option<Func>,
    ) -> Result<(), String> {
        match self.peek() {
            None => Err(self.err("path ends after '.'")),
            Some(b'*') => {
                self.pos += 1;
                segs.push(Seg::Wildcard);
                Ok(())
            }
            Some(b'[') => {
                let seg = self.bracket()?;
                segs.push(seg);
                Ok(())
            }
            Some(_) => {
                let name = self.name()?;
                if self.peek() == Some(b'(') {
                    if self.peek_at(1) != Some(b')') {
                        return Err(self.err("function arguments are not supported"));
                    }
                    *func = Some(Func::from_name(name)?);
                    self.pos += 2;
                } else {
                    segs.push(Seg::Key(Cow::Borrowed(name)));
                }
                Ok(())
            }
        }
    }

    /// What follows `..`: a key, `*` or a bracket selection.
    fn descendant_target(&mut self) -> Result<Seg<'a>, String> {
        match self.peek() {
            None => Err(self.err("path ends after '..'")),
            Some(b'*') => {
                self.pos += 1;
                Ok(Seg::Wildcard)
            }
            Some(b'[') => self.bracket(),
            Some(_) => {
                let name = self.name()?;
                if self.peek() == Some(b'(') {
                    return Err(self.err("a function cannot follow '..'"));
                }
                Ok(Seg::Key(Cow::Borrowed(name)))
            }
        }
    }

    /// A dot-notation property name: everything up to `.`, `[`, `(`, `]`, `)` or the end.
    fn name(&mut self) -> Result<&'a str, String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            match c {
                b'.' | b'[' | b'(' | b']' | b')' => break,
                b' ' | b'\t' | b'\n' | b'\r' => {
                    return Err(
                        self.err("blank in a property name (use bracket notation ['my key'])")
                    )
                }
                _ => self.pos += 1,
            }
        }
        if self.pos == start {
            return Err(self.err("empty property name"));
        }
        Ok(&self.s[start..self.pos])
    }

    /// A bracket selection starting at `[`.
    fn bracket(&mut self) -> Result<Seg<'a>, String> {
        let open = self.pos;
        self.pos += 1;
        self.skip_blanks();
        match self.peek() {
            None => Err(format!("unclosed '[' at position {open}")),
            Some(b'*') => {
                self.pos += 1;
                self.close_bracket()?;
                Ok(Seg::Wildcard)
            }
            Some(b'?') => self.filter(open),
            Some(b'(') => Err(self.err("script expressions '[(…)]' are not supported")),
            Some(b'\'' | b'"') => {
                let mut keys = Vec::new();
                loop {
                    keys.push(self.quoted()?);
                    self.skip_blanks();
                    match self.peek() {
                        Some(b',') => {
                            self.pos += 1;
                            self.skip_blanks();
                            if !matches!(self.peek(), Some(b'\'' | b'"')) {
                                return Err(self.err("expected a quoted key after ','"));
                            }
                        }
                        Some(b']') => {
                            self.pos += 1;
                            break;
                        }
                        None => return Err(format!("unclosed '[' at position {open}")),
                        Some(_) => return Err(self.err("expected ',' or ']' after a quoted key")),
                    }
                }
                if keys.len() == 1 {
                    Ok(Seg::Key(keys.remove(0)))
                } else {
                    Ok(Seg::Keys(keys))
                }
            }
            Some(_) => {
                let start = self.pos;
                let Some(len) = self.s[start..].find(']') else {
                    return Err(format!("unclosed '[' at position {open}"));
                };
                self.pos = start + len + 1;
                index_selection(self.s[start..start + len].trim())
                    .map_err(|e| format!("{e} at position {start}"))
            }
        }
    }

    fn close_bracket(&mut self) -> Result<(), String> {
        self.skip_blanks();
        if self.peek() == Some(b']') {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err("expected ']'"))
        }
    }

    /// A filter `[?…]`: its text runs to the `]` that closes the selection, skipping nested
    /// brackets, parentheses and quoted strings.
    fn filter(&mut self, open: usize) -> Result<Seg<'a>, String> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<u8> = None;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            if let Some(q) = quote {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            } else {
                match c {
                    b'\'' | b'"' => quote = Some(c),
                    b'[' | b'(' => depth += 1,
                    b')' => depth = depth.saturating_sub(1),
                    b']' if depth == 0 => {
                        let text = &self.s[start..self.pos];
                        self.pos += 1;
                        return Ok(Seg::Filter(text));
                    }
                    b']' => depth -= 1,
                    _ => {}
                }
            }
            self.pos += 1;
        }
        Err(format!("unclosed filter '[?' at position {open}"))
    }

    /// A quoted key starting at `'` or `"`; a backslash takes the next character literally.
    fn quoted(&mut self) -> Result<Cow<'a, str>, String> {
        let open = self.pos;
        let Some(q) = self.peek() else {
            return Err(self.err("expected a quoted key"));
        };
        let body_start = open + 1;
        let mut owned: Option<String> = None;
        let mut chars = self.s[body_start..].char_indices();
        while let Some((off, c)) = chars.next() {
            let at = body_start + off;
            if c == char::from(q) {
                self.pos = at + 1;
                return Ok(match owned {
                    Some(s) => Cow::Owned(s),
                    None => Cow::Borrowed(&self.s[body_start..at]),
                });
            }
            if c == '\\' {
                let buf = owned.get_or_insert_with(|| self.s[body_start..at].to_owned());
                match chars.next() {
                    Some((_, next)) => buf.push(next),
                    None => break,
                }
            } else if let Some(buf) = owned.as_mut() {
                buf.push(c);
            }
        }
        Err(format!("unclosed quote at position {open}"))
    }
}

/// The inside of `[…]` when it is not quoted, `*` or a filter: an index, a list of indexes or a
/// slice.
fn index_selection(text: &str) -> Result<Seg<'static>, String> {
    let int = |part: &str| -> Result<i64, String> {
        part.trim()
            .parse::<i64>()
            .map_err(|_| format!("invalid array index '{}'", part.trim()))
    };
    if text.contains(':') {
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() > 3 {
            return Err(format!("invalid slice '{text}'"));
        }
        let opt = |i: usize| -> Result<Option<i64>, String> {
            match parts.get(i).map(|p| p.trim()) {
                None | Some("") => Ok(None),
                Some(p) => int(p).map(Some),
            }
        };
        Ok(Seg::Slice(opt(0)?, opt(1)?, opt(2)?))
    } else if text.contains(',') {
        let ixs = text.split(',').map(int).collect::<Result<Vec<_>, _>>()?;
        Ok(Seg::Indexes(ixs))
    } else if text.is_empty() {
        Err("empty '[]'".to_owned())
    } else {
        int(text).map(Seg::Index)
    }
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
