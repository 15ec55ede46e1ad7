//! Unit tests of path parsing and walking (`path.rs`).

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
