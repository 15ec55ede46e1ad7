//! Behaviour of the expression language as a whole (the submodules test their own parts).

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn doc() -> Value {
    json!({
        "workflow": {
            "input": {
                "x": 1,
                "s": "str",
                "f": 1.5,
                "b": true,
                "n": null,
                "obj": {"k": "v", "n": 2},
                "list": [1, 2, 3],
                "which": "s",
                "idx": 2,
                "key path": {"a.b": 7},
                "items": [
                    {"id": "a", "price": 5},
                    {"id": "b", "price": 15},
                    {"id": "c", "price": 25}
                ]
            },
            "output": {},
            "variables": {"v": "var"},
            "workflowId": "wf-1",
            "correlationId": null,
            "status": "RUNNING",
            "version": 2
        },
        "task_a": {
            "input": {"in": 1},
            "output": {
                "result": {"deep": {"list": [{"id": 1}, {"id": 2, "more": {"id": 3}}]}},
                "a key": "spaced",
                "dotted.key": "dotted",
                "it's": "quoted"
            },
            "status": "COMPLETED",
            "retryCount": 0
        }
    })
}

fn r(s: &str) -> Value {
    resolve_str(s, &doc(), Some("task-123"))
}

fn r_no_id(s: &str) -> Value {
    resolve_str(s, &doc(), None)
}

// ---------------------------------------------------------------- whole-value typing

#[test]
fn whole_expression_keeps_the_type() {
    assert_eq!(r("${workflow.input.x}"), json!(1));
    assert_eq!(r("${workflow.input.f}"), json!(1.5));
    assert_eq!(r("${workflow.input.b}"), json!(true));
    assert_eq!(r("${workflow.input.s}"), json!("str"));
    assert_eq!(r("${workflow.input.n}"), Value::Null);
    assert_eq!(r("${workflow.input.obj}"), json!({"k": "v", "n": 2}));
    assert_eq!(r("${workflow.input.list}"), json!([1, 2, 3]));
    assert_eq!(r("${workflow.version}"), json!(2));
}

#[test]
fn whole_maps_and_roots() {
    let d = doc();
    assert_eq!(r("${workflow.input}"), d["workflow"]["input"]);
    assert_eq!(r("${task_a.output}"), d["task_a"]["output"]);
    assert_eq!(r("${task_a}"), d["task_a"]);
    assert_eq!(r("${workflow.variables.v}"), json!("var"));
    assert_eq!(r("${workflow.workflowId}"), json!("wf-1"));
    assert_eq!(r("${task_a.status}"), json!("COMPLETED"));
    assert_eq!(r("${$.workflow.input.x}"), json!(1));
    assert_eq!(r("${$}"), d);
}

#[test]
fn surrounding_blanks_in_the_path_are_ignored() {
    assert_eq!(r("${ workflow.input.x }"), json!(1));
}

// ---------------------------------------------------------------- embedded expressions

#[test]
fn embedded_expressions_become_text() {
    assert_eq!(r("x=${workflow.input.x}"), json!("x=1"));
    assert_eq!(r("${workflow.input.x} "), json!("1 "));
    assert_eq!(r("f=${workflow.input.f}"), json!("f=1.5"));
    assert_eq!(r("b=${workflow.input.b}"), json!("b=true"));
    assert_eq!(r("s=${workflow.input.s}!"), json!("s=str!"));
    assert_eq!(r("${workflow.input.x}-${workflow.input.s}"), json!("1-str"));
    assert_eq!(r("${workflow.input.x}${workflow.input.x}"), json!("11"));
}

#[test]
fn embedded_null_and_missing_render_as_null() {
    assert_eq!(r("n=${workflow.input.n}"), json!("n=null"));
    assert_eq!(r("m=${workflow.input.missing}"), json!("m=null"));
    assert_eq!(r("t=${nosuchtask.output.x}"), json!("t=null"));
}

#[test]
fn embedded_objects_and_lists_are_compact_json() {
    assert_eq!(r("o=${workflow.input.obj}"), json!(r#"o={"k":"v","n":2}"#));
    assert_eq!(r("l=${workflow.input.list}"), json!("l=[1,2,3]"));
}

// ---------------------------------------------------------------- blanks and escapes

#[test]
fn blank_expressions_are_empty_strings() {
    assert_eq!(r("${}"), json!(""));
    assert_eq!(r("${   }"), json!(""));
    assert_eq!(r("a${}b"), json!("ab"));
}

#[test]
fn dollar_dollar_escapes() {
    assert_eq!(r("$${workflow.input.x}"), json!("${workflow.input.x}"));
    assert_eq!(r("a $${x} b ${workflow.input.x}"), json!("a ${x} b 1"));
    assert_eq!(r("$${}"), json!("${}"));
    // A value containing `$${` is inserted unchanged.
    let scope = json!({"w": {"t": "$${y}"}});
    assert_eq!(resolve_str("v=${w.t}", &scope, None), json!("v=$${y}"));
    assert_eq!(resolve_str("${w.t}", &scope, None), json!("$${y}"));
}

#[test]
fn text_without_expressions_is_unchanged() {
    for s in ["", "plain", "$", "$$", "{}", "{a}", "$ {x}", "}${", "a $ b"] {
        assert_eq!(r(s), json!(s), "{s:?}");
    }
}

#[test]
fn unclosed_expression_stays_literal_at_run_time() {
    assert_eq!(r("${workflow.input.x"), json!("${workflow.input.x"));
    assert_eq!(r("${a ${workflow.input.x}"), json!("${a 1"));
}

// ---------------------------------------------------------------- nesting

#[test]
fn nested_expressions_are_resolved_first() {
    assert_eq!(r("${workflow.input.${workflow.input.which}}"), json!("str"));
    assert_eq!(r("${workflow.input.list[${workflow.input.x}]}"), json!(2));
    assert_eq!(
        r("v: ${workflow.input.${workflow.input.which}}"),
        json!("v: str")
    );
    // Two levels: idx → 2 → list[2] → 3 → "3"
    let scope = json!({"w": {"k": "idx", "idx": 2, "list": [10, 20, 30], "m": {"30": "deep"}}});
    assert_eq!(
        resolve_str("${w.m.${w.list[${w.${w.k}}]}}", &scope, None),
        json!("deep")
    );
}

#[test]
fn nested_missing_value_splices_null() {
    // The inner value is missing, so the outer path is `workflow.input.null`.
    assert_eq!(r("${workflow.input.${workflow.input.nope}}"), Value::Null);
    let scope = json!({"w": {"null": "found"}});
    assert_eq!(resolve_str("${w.${w.nope}}", &scope, None), json!("found"));
}

#[test]
fn nested_task_id_is_spliced() {
    let scope = json!({"w": {"task-123": "mine"}});
    assert_eq!(
        resolve_str("${w['${CPEWF_TASK_ID}']}", &scope, Some("task-123")),
        json!("mine")
    );
}

#[test]
fn excessive_nesting_resolves_to_null() {
    let mut s = "x".to_owned();
    for _ in 0..(MAX_NESTING + 3) {
        s = format!("w.${{{s}}}");
    }
    let s = format!("${{{s}}}");
    assert_eq!(resolve_str(&s, &json!({"w": {}}), None), Value::Null);
    assert!(matches!(validate_str(&s), Err(ExprError::TooDeep { .. })));
}

// ---------------------------------------------------------------- missing things

#[test]
fn missing_paths_and_roots_are_null() {
    assert_eq!(r("${workflow.input.missing}"), Value::Null);
    assert_eq!(r("${workflow.input.missing.deeper}"), Value::Null);
    assert_eq!(r("${workflow.input.x.y}"), Value::Null);
    assert_eq!(r("${workflow.input.list.y}"), Value::Null);
    assert_eq!(r("${workflow.input.obj[0]}"), Value::Null);
    assert_eq!(r("${nosuchtask.output}"), Value::Null);
    assert_eq!(r("${nosuchtask}"), Value::Null);
    assert_eq!(r("${NETFLIX_ENV}"), Value::Null);
    assert_eq!(r("${HOME}"), Value::Null);
}

#[test]
fn invalid_paths_are_null_at_run_time() {
    assert_eq!(r("${workflow.input.a b}"), Value::Null);
    assert_eq!(r("${workflow.input[}"), Value::Null);
    assert_eq!(r("${workflow.input.list[x]}"), Value::Null);
    assert_eq!(r("${workflow.input.items[?(@.x =~ /a/)]}"), Value::Null);
    assert_eq!(r("${workflow.input.list.nope()}"), Value::Null);
}

// ---------------------------------------------------------------- indexes and keys

#[test]
fn array_indexes() {
    assert_eq!(r("${workflow.input.list[0]}"), json!(1));
    assert_eq!(r("${workflow.input.list[2]}"), json!(3));
    assert_eq!(r("${workflow.input.list[3]}"), Value::Null);
    assert_eq!(r("${workflow.input.list[-1]}"), json!(3));
    assert_eq!(r("${workflow.input.list[-3]}"), json!(1));
    assert_eq!(r("${workflow.input.list[-4]}"), Value::Null);
    assert_eq!(r("${workflow.input.items[1].id}"), json!("b"));
    assert_eq!(r("${task_a.output.result.deep.list[1].more.id}"), json!(3));
}

#[test]
fn bracket_keys_with_spaces_dots_and_quotes() {
    assert_eq!(r("${task_a.output['a key']}"), json!("spaced"));
    assert_eq!(r(r#"${task_a.output["dotted.key"]}"#), json!("dotted"));
    assert_eq!(r("${workflow.input['key path']['a.b']}"), json!(7));
    assert_eq!(r(r"${task_a.output['it\'s']}"), json!("quoted"));
    assert_eq!(r(r#"${task_a.output["it's"]}"#), json!("quoted"));
    assert_eq!(r("${['task_a'].status}"), json!("COMPLETED"));
}

// ---------------------------------------------------------------- indefinite paths

#[test]
fn wildcards_yield_lists() {
    assert_eq!(r("${workflow.input.items[*].id}"), json!(["a", "b", "c"]));
    assert_eq!(r("${workflow.input.items.*.price}"), json!([5, 15, 25]));
    assert_eq!(r("${workflow.input.obj.*}"), json!(["v", 2]));
    assert_eq!(r("${workflow.input.items[*].missing}"), json!([]));
    assert_eq!(r("${nosuchtask.output[*]}"), json!([]));
}

#[test]
fn slices_unions_and_deep_scan() {
    assert_eq!(r("${workflow.input.list[0:2]}"), json!([1, 2]));
    assert_eq!(r("${workflow.input.list[-2:]}"), json!([2, 3]));
    assert_eq!(r("${workflow.input.list[::2]}"), json!([1, 3]));
    assert_eq!(r("${workflow.input.list[0,2]}"), json!([1, 3]));
    assert_eq!(r("${workflow.input['x','s']}"), json!([1, "str"]));
    assert_eq!(r("${task_a..id}"), json!([1, 2, 3]));
    assert_eq!(r("${$..workflowId}"), json!(["wf-1"]));
    assert_eq!(r("${*.status}"), json!(["RUNNING", "COMPLETED"]));
}

#[test]
fn filters() {
    assert_eq!(
        r("${workflow.input.items[?(@.price > 10)].id}"),
        json!(["b", "c"])
    );
    assert_eq!(
        r("${workflow.input.items[?(@.id == 'a' || @.price >= 25)].price}"),
        json!([5, 25])
    );
    assert_eq!(r("${workflow.input.items[?@.price < 0]}"), json!([]));
}

#[test]
fn trailing_functions() {
    assert_eq!(r("${workflow.input.list.length()}"), json!(3));
    assert_eq!(r("${workflow.input.obj.length()}"), json!(2));
    assert_eq!(r("${workflow.input.items[*].price.sum()}"), json!(45.0));
    assert_eq!(r("${workflow.input.list.max()}"), json!(3.0));
    assert_eq!(r("${workflow.input.items.length()}"), json!(3));
    assert_eq!(r("${workflow.input.missing.length()}"), Value::Null);
    assert_eq!(r("n=${workflow.input.list.avg()}"), json!("n=2.0"));
}

// ---------------------------------------------------------------- structure walking

#[test]
fn maps_and_lists_are_walked_recursively() {
    let params = json!({
        "a": "${workflow.input.x}",
        "nested": {
            "list": ["${workflow.input.s}", 7, null, true, {"deep": "id=${task_a.output.result.deep.list[0].id}"}],
            "${workflow.input.s}": "keys are not evaluated"
        },
        "num": 3.5,
        "flag": false,
        "none": null,
        "missing": "${workflow.input.nope}"
    });
    let Value::Object(params) = params else {
        panic!("fixture is an object");
    };
    let out = resolve_map(&params, &doc(), Some("t1"));
    assert_eq!(
        Value::Object(out),
        json!({
            "a": 1,
            "nested": {
                "list": ["str", 7, null, true, {"deep": "id=1"}],
                "${workflow.input.s}": "keys are not evaluated"
            },
            "num": 3.5,
            "flag": false,
            "none": null,
            "missing": null
        })
    );
}

#[test]
fn resolve_value_on_scalars_and_lists() {
    let d = doc();
    assert_eq!(resolve_value(&json!(5), &d, None), json!(5));
    assert_eq!(resolve_value(&Value::Null, &d, None), Value::Null);
    assert_eq!(
        resolve_value(
            &json!(["${workflow.input.x}", ["${workflow.input.b}"]]),
            &d,
            None
        ),
        json!([1, [true]])
    );
}

#[test]
fn key_order_is_preserved() {
    let Value::Object(params) = json!({"z": 1, "a": "${workflow.input.x}", "m": 2}) else {
        panic!("fixture is an object");
    };
    let out = resolve_map(&params, &doc(), None);
    assert_eq!(out.keys().collect::<Vec<_>>(), vec!["z", "a", "m"]);
}

// ---------------------------------------------------------------- CPEWF_TASK_ID

#[test]
fn task_id_substitution() {
    assert_eq!(r("${CPEWF_TASK_ID}"), json!("task-123"));
    assert_eq!(r("${ CPEWF_TASK_ID }"), json!("task-123"));
    assert_eq!(r("id=${CPEWF_TASK_ID}"), json!("id=task-123"));
}

#[test]
fn task_id_left_unchanged_without_an_id() {
    assert_eq!(r_no_id("${CPEWF_TASK_ID}"), json!("${CPEWF_TASK_ID}"));
    assert_eq!(
        r_no_id("id=${CPEWF_TASK_ID} x=${workflow.input.x}"),
        json!("id=${CPEWF_TASK_ID} x=1")
    );
}

// ---------------------------------------------------------------- custom scopes

/// A scope that builds its objects on demand and has no whole-document view.
struct Lazy;

impl Scope for Lazy {
    fn lookup(&self, root: &str) -> Option<Cow<'_, Value>> {
        (root == "workflow").then(|| Cow::Owned(json!({"input": {"a": [1, 2]}})))
    }
}

#[test]
fn owned_lookups_and_no_document() {
    assert_eq!(resolve_str("${workflow.input.a[1]}", &Lazy, None), json!(2));
    assert_eq!(
        resolve_str("${workflow}", &Lazy, None),
        json!({"input": {"a": [1, 2]}})
    );
    assert_eq!(
        resolve_str("${workflow.input.a[*]}", &Lazy, None),
        json!([1, 2])
    );
    assert_eq!(resolve_str("${other.x}", &Lazy, None), Value::Null);
    assert_eq!(resolve_str("${$..a}", &Lazy, None), json!([]));
    assert_eq!(resolve_str("${$}", &Lazy, None), Value::Null);
}

#[test]
fn map_scope() {
    let Value::Object(m) = doc() else {
        panic!("fixture is an object");
    };
    assert_eq!(resolve_str("${workflow.input.x}", &m, None), json!(1));
    assert_eq!(resolve_str("${$..workflowId}", &m, None), json!(["wf-1"]));
}

#[test]
fn to_text_forms() {
    assert_eq!(to_text(&Value::Null), "null");
    assert_eq!(to_text(&json!(3)), "3");
    assert_eq!(to_text(&json!(3.0)), "3.0");
    assert_eq!(to_text(&json!("s")), "s");
    assert_eq!(to_text(&json!({"a": [1]})), r#"{"a":[1]}"#);
}

// ---------------------------------------------------------------- validate

#[test]
fn validate_accepts_good_expressions() {
    let v = json!({
        "a": "${workflow.input.x}",
        "b": ["text ${task_a.output['a key']} and ${task_a.output.list[-1]}", 5, null],
        "c": {"d": "${workflow.input.${workflow.input.which}}"},
        "e": "${}", "f": "${CPEWF_TASK_ID}", "g": "$${not.checked", "h": "plain } {",
        "i": "${x.items[?(@.price > 10)].id}", "j": "${x.list.length()}", "k": "${$..id}"
    });
    assert_eq!(validate(&v), Ok(()));
}

#[test]
fn validate_reports_unclosed_braces() {
    assert_eq!(
        validate(&json!("${workflow.input.x")),
        Err(ExprError::Unclosed {
            text: "${workflow.input.x".to_owned()
        })
    );
    let err = validate(&json!({"p": ["ok", {"q": "a ${b ${c}"}]}));
    assert_eq!(
        err,
        Err(ExprError::Unclosed {
            text: "a ${b ${c}".to_owned()
        })
    );
    assert_eq!(
        err.map_err(|e| e.to_string()),
        Err("unclosed '${' in 'a ${b ${c}'".to_owned())
    );
}

#[test]
fn validate_reports_bad_paths() {
    let err = validate(&json!("x ${workflow.input.a b}"));
    let Err(ExprError::InvalidPath { text, path, reason }) = &err else {
        panic!("expected InvalidPath, got {err:?}");
    };
    assert_eq!(text, "x ${workflow.input.a b}");
    assert_eq!(path, "workflow.input.a b");
    assert!(reason.contains("bracket notation"), "{reason}");
    let msg = err.map_err(|e| e.to_string()).err().unwrap_or_default();
    assert!(
        msg.starts_with("invalid path 'workflow.input.a b' in 'x ${workflow.input.a b}': "),
        "{msg}"
    );
    for bad in [
        "${a[}",
        "${a['x]}",
        "${a[x]}",
        "${a.}",
        "${a.b.nope()}",
        "${a[?(@.x =~ /y/)]}",
        "${w.${a[}}",
    ] {
        assert!(
            matches!(validate_str(bad), Err(ExprError::InvalidPath { .. })),
            "{bad}"
        );
    }
}

#[test]
fn validate_explains_unsupported_filters() {
    let err = validate_str("${x.items[?(@.a in ['b'])]}").map_err(|e| e.to_string());
    let msg = err.err().unwrap_or_default();
    assert!(msg.contains("Jayway-only operators"), "{msg}");
}

#[test]
fn validate_excerpts_long_strings() {
    let long = format!("${{{}", "a".repeat(1000));
    let Err(ExprError::Unclosed { text }) = validate_str(&long) else {
        panic!("expected Unclosed");
    };
    assert_eq!(text.chars().count(), ERROR_EXCERPT_CHARS + 1);
    assert!(text.ends_with('…'));
}

// ---------------------------------------------------------------- referenced_roots

#[test]
fn referenced_roots_lists_first_segments() {
    let v = json!({
        "a": "${workflow.input.x}",
        "b": ["${task_a.output.y} and ${task_b.status}", {"c": "${workflow.output}"}],
        "d": "${CPEWF_TASK_ID} ${} ${  } $${escaped.x} ${$..deep}",
        "e": "${$.task_c.output} ${['task d'].output} ${task_e[0]} ${task_f}",
        "f": 5
    });
    assert_eq!(
        referenced_roots(&v),
        vec!["workflow", "task_a", "task_b", "task_c", "task d", "task_e", "task_f"]
    );
}

#[test]
fn referenced_roots_includes_nested_expressions() {
    assert_eq!(
        referenced_roots(&json!("${workflow.input.${task_a.output.k}}")),
        vec!["workflow", "task_a"]
    );
    // The outer root is not known until run time.
    assert_eq!(
        referenced_roots(&json!("${${workflow.input.which}.output}")),
        vec!["workflow"]
    );
    assert_eq!(
        referenced_roots(&json!("${task_${workflow.input.n}.output}")),
        vec!["workflow"]
    );
    assert!(referenced_roots(&json!("no expressions")).is_empty());
}

// ---------------------------------------------------------------- properties

/// Strings rich in the characters the parsers care about.
fn tricky() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("$".to_owned()),
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("${".to_owned()),
            Just("$${".to_owned()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just("'".to_owned()),
            Just("\\".to_owned()),
            Just("*".to_owned()),
            Just("?(@.".to_owned()),
            Just(")".to_owned()),
            Just(":".to_owned()),
            Just("-1".to_owned()),
            Just("()".to_owned()),
            Just(" ".to_owned()),
            Just("workflow".to_owned()),
            Just("input".to_owned()),
            Just("task_a".to_owned()),
            Just("CPEWF_TASK_ID".to_owned()),
            "\\PC{0,3}",
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn resolve_validate_and_roots_never_panic(s in tricky()) {
        let d = doc();
        let _ = resolve_str(&s, &d, Some("t"));
        let _ = resolve_str(&s, &d, None);
        let _ = resolve_str(&s, &Lazy, None);
        let _ = validate_str(&s);
        let _ = referenced_roots(&Value::String(s));
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC*") {
        let _ = resolve_str(&s, &doc(), Some("t"));
        let _ = validate_str(&s);
    }

    #[test]
    fn text_without_expressions_is_unchanged_prop(s in "[^$]*") {
        prop_assert_eq!(resolve_str(&s, &doc(), None), Value::String(s.clone()));
        prop_assert_eq!(validate_str(&s), Ok(()));
    }

    #[test]
    fn escaped_expressions_are_literal(s in "[^${}]*") {
        let text = format!("$${{{s}}}");
        prop_assert_eq!(resolve_str(&text, &doc(), None), Value::String(format!("${{{s}}}")));
    }

    #[test]
    fn any_key_is_reachable_in_brackets(key in "[^{}]{0,12}", n in any::<i64>()) {
        let scope = json!({"w": {key.clone(): n}});
        let quoted = key.replace('\\', "\\\\").replace('\'', "\\'");
        let expr = format!("${{w['{quoted}']}}");
        prop_assert_eq!(resolve_str(&expr, &scope, None), json!(n));
        prop_assert_eq!(validate_str(&expr), Ok(()));
        prop_assert_eq!(referenced_roots(&Value::String(expr)), vec!["w".to_owned()]);
    }

    #[test]
    fn embedded_integers_render_plainly(n in any::<i64>()) {
        let scope = json!({"w": {"n": n}});
        prop_assert_eq!(resolve_str("<${w.n}>", &scope, None), json!(format!("<{n}>")));
    }
}
