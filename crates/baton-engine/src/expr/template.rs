//! Splitting a string into literal text and `${…}` expressions.
//!
//! An expression starts at `${` unless the `$` is itself preceded by a `$` (the `$${` escape)
//! and ends at the matching `}`, counting every `{` and `}` in between, so
//! `${a.${b}}` is one expression whose text is `a.${b}`. A `${` without a matching `}` is
//! literal text (and a registration error, see [`super::validate`]). This mirrors the balanced
//! brace regular expression of Conductor's `ParametersUtils`.

/// One part of a scanned string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Piece<'a> {
    /// Literal text, still containing any `$${` escapes (see [`push_unescaped`]).
    Lit(&'a str),
    /// An expression: `inner` is the text between `${` and the matching `}`, `raw` the whole
    /// match including `${` and `}`.
    Expr { inner: &'a str, raw: &'a str },
}

/// A scanned string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scan<'a> {
    pub(super) pieces: Vec<Piece<'a>>,
    /// Byte offset of the first `${` that has no matching `}`, if any.
    pub(super) unclosed: Option<usize>,
}

impl Scan<'_> {
    /// Whether the string holds at least one expression.
    pub(super) fn has_expr(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Expr { .. }))
    }
}

/// Split `s` into literal text and expressions. Runs in time linear in `s.len()`.
pub(super) fn scan(s: &str) -> Scan<'_> {
    let b = s.as_bytes();
    let close = matching_braces(b);
    let mut pieces = Vec::new();
    let mut unclosed = None;
    let mut lit_start = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        let starts = b[i] == b'$' && b[i + 1] == b'{' && (i == 0 || b[i - 1] != b'$');
        if starts {
            match close.get(i + 1).copied().flatten() {
                Some(end) => {
                    if lit_start < i {
                        pieces.push(Piece::Lit(&s[lit_start..i]));
                    }
                    pieces.push(Piece::Expr {
                        inner: &s[i + 2..end],
                        raw: &s[i..=end],
                    });
                    i = end + 1;
                    lit_start = i;
                    continue;
                }
                None => {
                    unclosed.get_or_insert(i);
                }
            }
        }
        i += 1;
    }
    if lit_start < s.len() {
        pieces.push(Piece::Lit(&s[lit_start..]));
    }
    Scan { pieces, unclosed }
}

/// For every `{` in `b`, the index of its matching `}` (`None` for other bytes and for an
/// unmatched `{`). A `}` with no open `{` is ignored.
fn matching_braces(b: &[u8]) -> Vec<Option<usize>> {
    let mut close = vec![None; b.len()];
    let mut open = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'{' => open.push(i),
            b'}' => {
                if let Some(o) = open.pop() {
                    close[o] = Some(i);
                }
            }
            _ => {}
        }
    }
    close
}

/// Append literal text to `out`, turning every `$${` into `${`.
///
/// Conductor applies this replacement to the whole result string, substituted values included;
/// Baton applies it to the literal text only, so a value that happens to contain `$${` is
/// inserted unchanged.
pub(super) fn push_unescaped(out: &mut String, lit: &str) {
    let mut rest = lit;
    while let Some(at) = rest.find("$${") {
        out.push_str(&rest[..at]);
        out.push_str("${");
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exprs(s: &str) -> Vec<&str> {
        scan(s)
            .pieces
            .into_iter()
            .filter_map(|p| match p {
                Piece::Expr { inner, .. } => Some(inner),
                Piece::Lit(_) => None,
            })
            .collect()
    }

    #[test]
    fn plain_text_is_one_literal() {
        let s = scan("hello");
        assert_eq!(s.pieces, vec![Piece::Lit("hello")]);
        assert_eq!(s.unclosed, None);
        assert!(!s.has_expr());
        assert!(scan("").pieces.is_empty());
    }

    #[test]
    fn single_expression_covers_the_string() {
        let s = scan("${a.b}");
        assert_eq!(
            s.pieces,
            vec![Piece::Expr {
                inner: "a.b",
                raw: "${a.b}"
            }]
        );
    }

    #[test]
    fn embedded_and_several_expressions() {
        let s = scan("x ${a} y ${b}${c}");
        assert_eq!(s.pieces.len(), 5);
        assert_eq!(exprs("x ${a} y ${b}${c}"), vec!["a", "b", "c"]);
    }

    #[test]
    fn nested_expression_is_one_outer_match() {
        assert_eq!(exprs("${a.${b.c}}"), vec!["a.${b.c}"]);
        assert_eq!(
            exprs("${a.${b.${c}}.d} and ${e}"),
            vec!["a.${b.${c}}.d", "e"]
        );
    }

    #[test]
    fn escape_is_not_an_expression() {
        assert_eq!(scan("$${a}").pieces, vec![Piece::Lit("$${a}")]);
        assert_eq!(exprs("$${a} ${b}"), vec!["b"]);
        // Only the character right before `${` matters, as in Conductor's regex.
        assert!(exprs("$$${a}").is_empty());
    }

    #[test]
    fn unclosed_is_literal_and_reported() {
        let s = scan("${a.b");
        assert_eq!(s.pieces, vec![Piece::Lit("${a.b")]);
        assert_eq!(s.unclosed, Some(0));
        // A later well-formed expression is still found.
        let s = scan("x ${a ${b}");
        assert_eq!(s.unclosed, Some(2));
        assert_eq!(exprs("x ${a ${b}"), vec!["b"]);
    }

    #[test]
    fn stray_closing_brace_is_literal() {
        assert_eq!(exprs("} ${a} }"), vec!["a"]);
        assert_eq!(scan("a}b").pieces, vec![Piece::Lit("a}b")]);
    }

    #[test]
    fn multibyte_text_is_sliced_safely() {
        assert_eq!(exprs("é${ü.ß}ñ"), vec!["ü.ß"]);
    }

    #[test]
    fn unescape() {
        let mut out = String::new();
        push_unescaped(&mut out, "a $${x} b $$${y} $");
        assert_eq!(out, "a ${x} b $${y} $");
    }
}
