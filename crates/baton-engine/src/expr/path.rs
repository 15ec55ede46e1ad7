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

use serde_json::{Number, Value};
use serde_json_path::JsonPath;

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

/// A Jayway function at the end of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Length,
    Min,
    Max,
    Avg,
    Sum,
    Stddev,
    Keys,
    First,
    Last,
}

impl Func {
    fn from_name(name: &str) -> Result<Func, String> {
        Ok(match name {
            "length" => Func::Length,
            "min" => Func::Min,
            "max" => Func::Max,
            "avg" => Func::Avg,
            "sum" => Func::Sum,
            "stddev" => Func::Stddev,
            "keys" => Func::Keys,
            "first" => Func::First,
            "last" => Func::Last,
            _ => return Err(format!("unknown function '{name}()'")),
        })
    }

    /// [`Func::apply`] to a node, without copying a borrowed map to count or list its keys.
    fn apply_node(self, node: &Node<'_>) -> Value {
        match node {
            Node::Value(v) => self.apply(v),
            Node::Owned(v) => self.apply(v),
            Node::Map(m) => match self {
                Func::Length => Value::from(m.len()),
                Func::Keys => Value::Array(m.keys().cloned().map(Value::String).collect()),
                // The other functions need a list; an object yields null, as in `apply`.
                _ => Value::Null,
            },
        }
    }

    /// Apply the function; anything it cannot handle yields null (as Jayway's suppressed
    /// exceptions do).
    fn apply(self, v: &Value) -> Value {
        match self {
            Func::Length => match v {
                Value::Array(a) => Value::from(a.len()),
                Value::Object(m) => Value::from(m.len()),
                _ => Value::Null,
            },
            Func::Keys => match v {
                Value::Object(m) => Value::Array(m.keys().cloned().map(Value::String).collect()),
                _ => Value::Null,
            },
            Func::First => v
                .as_array()
                .and_then(|a| a.first())
                .cloned()
                .unwrap_or(Value::Null),
            Func::Last => v
                .as_array()
                .and_then(|a| a.last())
                .cloned()
                .unwrap_or(Value::Null),
            Func::Min | Func::Max | Func::Avg | Func::Sum | Func::Stddev => {
                let nums: Vec<f64> = v
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default();
                if nums.is_empty() {
                    return Value::Null;
                }
                let count = nums.len() as f64;
                let sum: f64 = nums.iter().sum();
                let result = match self {
                    Func::Min => nums.iter().copied().fold(f64::INFINITY, f64::min),
                    Func::Max => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    Func::Sum => sum,
                    Func::Avg => sum / count,
                    _ => {
                        let mean = sum / count;
                        let sq: f64 = nums.iter().map(|x| x * x).sum();
                        (sq / count - mean * mean).max(0.0).sqrt()
                    }
                };
                // Jayway's aggregations return a Double.
                Number::from_f64(result).map_or(Value::Null, Value::Number)
            }
        }
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
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(text: &str) -> (Root<'_>, Vec<Seg<'_>>) {
        let p = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (p.root, p.segs)
    }

    fn key(s: &str) -> Seg<'_> {
        Seg::Key(Cow::Borrowed(s))
    }

    fn named(s: &str) -> Root<'_> {
        Root::Named(Cow::Borrowed(s))
    }

    #[test]
    fn dotted_and_indexed() {
        assert_eq!(
            segs("a.b[0].c[-1]"),
            (
                named("a"),
                vec![key("b"), Seg::Index(0), key("c"), Seg::Index(-1)]
            )
        );
        assert_eq!(segs("  a  "), (named("a"), vec![]));
        assert_eq!(
            segs("a.my-key.0"),
            (named("a"), vec![key("my-key"), key("0")])
        );
    }

    #[test]
    fn explicit_dollar() {
        assert_eq!(segs("$.a.b"), (named("a"), vec![key("b")]));
        assert_eq!(segs("$['a'].b"), (named("a"), vec![key("b")]));
        assert_eq!(segs("$"), (Root::Document, vec![]));
    }

    #[test]
    fn bracket_keys() {
        assert_eq!(
            segs(r#"a['x y']["k.z"][ 'q' ]"#),
            (named("a"), vec![key("x y"), key("k.z"), key("q")])
        );
        assert_eq!(segs("['a b'].c"), (named("a b"), vec![key("c")]));
        let (_, s) = segs(r"a['it\'s']");
        assert_eq!(s, vec![Seg::Key(Cow::Owned("it's".to_owned()))]);
        assert_eq!(segs("a.['b']"), (named("a"), vec![key("b")]));
    }

    #[test]
    fn indefinite_forms() {
        assert_eq!(segs("a[*].b").1, vec![Seg::Wildcard, key("b")]);
        assert_eq!(segs("a.*").1, vec![Seg::Wildcard]);
        assert_eq!(segs("a[1:3]").1, vec![Seg::Slice(Some(1), Some(3), None)]);
        assert_eq!(segs("a[:2]").1, vec![Seg::Slice(None, Some(2), None)]);
        assert_eq!(segs("a[-2:]").1, vec![Seg::Slice(Some(-2), None, None)]);
        assert_eq!(segs("a[::2]").1, vec![Seg::Slice(None, None, Some(2))]);
        assert_eq!(segs("a[0, 2]").1, vec![Seg::Indexes(vec![0, 2])]);
        assert_eq!(
            segs("a['x','y']").1,
            vec![Seg::Keys(vec![Cow::Borrowed("x"), Cow::Borrowed("y")])]
        );
        assert_eq!(segs("a..id").1, vec![Seg::Descendant(Box::new(key("id")))]);
        assert_eq!(
            segs("a[?(@.p > 1 && @.q[0] == ']')].n").1,
            vec![Seg::Filter("?(@.p > 1 && @.q[0] == ']')"), key("n")]
        );
        assert_eq!(segs("$..x").0, Root::Document);
        assert_eq!(segs("*.status").0, Root::Document);
    }

    #[test]
    fn functions() {
        let p = parse("a.b.length()").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.func, Some(Func::Length));
        assert_eq!(p.segs, vec![key("b")]);
        assert!(parse("a.length().b").is_err());
        assert!(parse("a.nope()").is_err());
        assert!(parse("a.sum(1)").is_err());
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "",
            "   ",
            "a.",
            "a..",
            "a.b c",
            "a[",
            "a[0",
            "a['x",
            "a['x'",
            "a[x]",
            "a[1.5]",
            "a[1:2:3:4]",
            "a[]",
            "a[(@.length-1)]",
            "a[?(@.x > 1)",
            "a[?(@.x =~ /re/)]",
            "a]",
            "$x",
            ".a",
            "a[0]b",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn error_messages_say_where() {
        let e = parse("a.b c").err().unwrap_or_default();
        assert!(e.contains("bracket notation"), "{e}");
        assert!(e.contains("position 3"), "{e}");
        let e = parse("a['x").err().unwrap_or_default();
        assert!(e.contains("unclosed quote"), "{e}");
    }

    #[test]
    fn rfc_rendering() {
        let (_, s) = segs(r"a[*]['it\'s'][1:][?(@.x)]..['\\'][0,1]");
        assert_eq!(to_rfc9535(&s), r"$[*]['it\'s'][1:][?(@.x)]..['\\'][0,1]");
        assert!(JsonPath::parse(&to_rfc9535(&[key("a\u{1}b"), Seg::Wildcard])).is_ok());
    }

    #[test]
    fn first_key_of_paths() {
        let k = |t, c| first_key(t, c).map(Cow::into_owned);
        assert_eq!(k("workflow.input.x", true), Some("workflow".into()));
        assert_eq!(k(" ref ", true), Some("ref".into()));
        assert_eq!(k("ref[0]", true), Some("ref".into()));
        assert_eq!(k("$.ref.output", true), Some("ref".into()));
        assert_eq!(k("['a ref'].output", true), Some("a ref".into()));
        assert_eq!(k("$..x", true), None);
        assert_eq!(k("*.x", true), None);
        assert_eq!(k("a b.c", true), None);
        assert_eq!(k("workflow.input.", false), Some("workflow".into()));
        assert_eq!(k("work", false), None);
        assert_eq!(k("", false), None);
    }

    #[test]
    fn functions_apply() {
        let nums = json!([1, 2, 3, 4, "x"]);
        assert_eq!(Func::Length.apply(&nums), json!(5));
        assert_eq!(Func::Length.apply(&json!({"a": 1})), json!(1));
        assert_eq!(Func::Length.apply(&json!("abc")), Value::Null);
        assert_eq!(Func::Sum.apply(&nums), json!(10.0));
        assert_eq!(Func::Avg.apply(&nums), json!(2.5));
        assert_eq!(Func::Min.apply(&nums), json!(1.0));
        assert_eq!(Func::Max.apply(&nums), json!(4.0));
        assert_eq!(
            Func::Stddev.apply(&json!([2, 4, 4, 4, 5, 5, 7, 9])),
            json!(2.0)
        );
        assert_eq!(Func::Sum.apply(&json!([])), Value::Null);
        assert_eq!(Func::Sum.apply(&json!({"a": 1})), Value::Null);
        assert_eq!(
            Func::Keys.apply(&json!({"b": 1, "a": 2})),
            json!(["b", "a"])
        );
        assert_eq!(Func::First.apply(&nums), json!(1));
        assert_eq!(Func::Last.apply(&nums), json!("x"));
        assert_eq!(Func::First.apply(&json!([])), Value::Null);
    }

    #[test]
    fn walk_by_reference() {
        let v = json!({"a": [{"b": 1}, {"b": 2}]});
        assert_eq!(
            walk(&v, &[key("a"), Seg::Index(-1), key("b")]),
            Some(&json!(2))
        );
        assert_eq!(walk(&v, &[key("a"), Seg::Index(-3)]), None);
        assert_eq!(walk(&v, &[key("a"), Seg::Index(2)]), None);
        assert_eq!(walk(&v, &[key("a"), key("b")]), None);
        assert_eq!(walk(&v, &[Seg::Index(0)]), None);
        assert_eq!(walk(&v, &[key("a"), Seg::Index(i64::MIN)]), None);
    }
}
