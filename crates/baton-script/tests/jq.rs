//! jq evaluation: results, conversions, errors and sandboxing.

use baton_script::{check_jq, eval_jq, eval_jq_with_limits, Limits, ScriptError};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn ok(query: &str, input: Value) -> Vec<Value> {
    match eval_jq(query, &input) {
        Ok(v) => v,
        Err(e) => panic!("{query}: unexpected error {e:?}"),
    }
}

fn jq_err(query: &str, input: Value) -> String {
    match eval_jq(query, &input) {
        Err(ScriptError::Jq(msg)) => msg,
        other => panic!("{query}: expected a jq error, got {other:?}"),
    }
}

#[test]
fn basics() {
    assert_eq!(ok(".", json!({"a": 1})), vec![json!({"a": 1})]);
    assert_eq!(ok(".a + 1", json!({"a": 1})), vec![json!(2)]);
    assert!(ok(".a + 1", json!({"a": 1}))[0].is_i64());
    assert_eq!(
        ok(".items | map(.x)", json!({"items": [{"x": 1}, {"x": "b"}]})),
        vec![json!([1, "b"])]
    );
    assert_eq!(
        ok(
            "[.[] | select(.ok)]",
            json!([{"ok": true, "n": 1}, {"ok": false, "n": 2}, {"n": 3}])
        ),
        vec![json!([{"ok": true, "n": 1}])]
    );
    assert_eq!(
        ok(".a, .b", json!({"a": 1, "b": "two"})),
        vec![json!(1), json!("two")]
    );
    assert_eq!(
        ok("{key: .x}", json!({"x": [1]})),
        vec![json!({"key": [1]})]
    );
    assert_eq!(ok(r#""\(.a)-x""#, json!({"a": 5})), vec![json!("5-x")]);
    assert_eq!(ok("empty", json!({})), Vec::<Value>::new());
    assert_eq!(ok(".missing", json!({})), vec![Value::Null]);
    assert_eq!(ok(".[]", json!([1, 2, 3])).len(), 3);
}

#[test]
fn standard_library() {
    assert_eq!(ok("length", json!([1, 2, 3])), vec![json!(3)]);
    assert_eq!(ok("length", json!("héllo")), vec![json!(5)]);
    assert_eq!(ok("keys", json!({"b": 1, "a": 2})), vec![json!(["a", "b"])]);
    assert_eq!(
        ok("to_entries", json!({"a": 1})),
        vec![json!([{"key": "a", "value": 1}])]
    );
    assert_eq!(
        ok("from_entries", json!([{"key": "a", "value": 1}])),
        vec![json!({"a": 1})]
    );
    assert_eq!(ok(r#"join(",")"#, json!(["a", "b"])), vec![json!("a,b")]);
    assert_eq!(ok("add", json!([1, 2, 3])), vec![json!(6)]);
    assert_eq!(ok("map(. * 2)", json!([1, 2])), vec![json!([2, 4])]);
    assert_eq!(
        ok("sort_by(.n) | map(.n)", json!([{"n": 2}, {"n": 1}])),
        vec![json!([1, 2])]
    );
    assert_eq!(ok("group_by(.) | length", json!([1, 1, 2])), vec![json!(2)]);
    assert_eq!(ok("unique", json!([2, 1, 2])), vec![json!([1, 2])]);
    assert_eq!(ok("has(\"a\")", json!({"a": null})), vec![json!(true)]);
    assert_eq!(ok("tostring", json!(1)), vec![json!("1")]);
    assert_eq!(ok("tonumber", json!("42")), vec![json!(42)]);
    assert_eq!(ok("tojson", json!({"a": [1]})), vec![json!("{\"a\":[1]}")]);
    assert_eq!(ok("fromjson", json!("{\"a\":1}")), vec![json!({"a": 1})]);
    assert_eq!(ok("split(\",\")", json!("a,b")), vec![json!(["a", "b"])]);
    assert_eq!(ok("test(\"^a\")", json!("abc")), vec![json!(true)]);
    assert_eq!(ok("ascii_downcase", json!("AbC")), vec![json!("abc")]);
    assert_eq!(ok("[range(3)]", json!(null)), vec![json!([0, 1, 2])]);
    assert_eq!(
        ok("[limit(2; repeat(1))]", json!(null)),
        vec![json!([1, 1])]
    );
    assert_eq!(
        ok("reduce .[] as $x (0; . + $x)", json!([1, 2, 3])),
        vec![json!(6)]
    );
    assert_eq!(
        ok("if . then \"y\" else \"n\" end", json!(false)),
        vec![json!("n")]
    );
    assert_eq!(ok(".a // \"default\"", json!({})), vec![json!("default")]);
    assert_eq!(
        ok("try error(\"x\") catch .", json!(null)),
        vec![json!("x")]
    );
    assert_eq!(ok("paths | join(\".\")", json!({"a": {"b": 1}})).len(), 2);
    assert_eq!(ok(".a |= . + 1", json!({"a": 1})), vec![json!({"a": 2})]);
    assert_eq!(
        ok("del(.a)", json!({"a": 1, "b": 2})),
        vec![json!({"b": 2})]
    );
    assert_eq!(ok("@base64", json!("hi")), vec![json!("aGk=")]);
    assert_eq!(ok("floor", json!(2.7)), vec![json!(2)]);
    assert_eq!(ok("now | type", json!(null)), vec![json!("number")]);
}

#[test]
fn numbers() {
    let two = ok(". * 2", json!(1.0));
    assert!(two[0].is_i64(), "{two:?}");
    assert_eq!(two, vec![json!(2)]);
    assert_eq!(ok(". / 2", json!(1)), vec![json!(0.5)]);
    assert_eq!(ok(".", json!(u64::MAX)), vec![json!(u64::MAX)]);
    assert_eq!(ok(".", json!(i64::MIN)), vec![json!(i64::MIN)]);
    assert_eq!(ok("1.5", json!(null)), vec![json!(1.5)]);
    assert_eq!(
        ok("100000000000000000000000", json!(null))[0].as_f64(),
        Some(1e23)
    );
    assert_eq!(ok("infinite", json!(null)), vec![Value::Null]);
    assert_eq!(ok("nan", json!(null)), vec![Value::Null]);
    assert_eq!(
        ok("[.[] | . + 0]", json!([1, 2.5, -3])),
        vec![json!([1, 2.5, -3])]
    );
}

#[test]
fn input_round_trip() {
    let input = json!({"z": 1, "a": "é✓😀", "m": [true, null, 1.5, -3, {"k": {}}]});
    assert_eq!(ok(".", input.clone()), vec![input.clone()]);
    assert_eq!(ok("keys_unsorted", input), vec![json!(["z", "a", "m"])]);
}

#[test]
fn errors() {
    let msg = jq_err(".a |||", json!({}));
    assert!(msg.contains("syntax error"), "{msg}");
    assert!(msg.contains("line 1"), "{msg}");
    assert!(matches!(check_jq(".a |||"), Err(ScriptError::Jq(_))));
    let msg = jq_err("nosuchfunction(1)", json!({}));
    assert!(msg.contains("undefined filter nosuchfunction/1"), "{msg}");
    let msg = jq_err("$nosuchvar", json!({}));
    assert!(msg.contains("undefined variable"), "{msg}");
    let msg = jq_err("\"abc", json!({}));
    assert!(msg.contains("syntax error"), "{msg}");
    let msg = jq_err("{", json!({}));
    assert!(msg.contains("syntax error"), "{msg}");
    let msg = jq_err("(1", json!({}));
    assert!(msg.contains("syntax error"), "{msg}");
    let msg = jq_err("", json!({}));
    assert!(!msg.is_empty());
    let msg = jq_err(".a.b", json!({"a": 1}));
    assert_eq!(msg, "Cannot index number with string \"b\"");
    let msg = jq_err("error(\"custom message\")", json!({}));
    assert_eq!(msg, "custom message");
    let msg = jq_err("error({a: 1})", json!({}));
    assert!(msg.contains("\"a\""), "{msg}");
    let msg = jq_err(". + 1", json!("s"));
    assert!(!msg.is_empty());
    let msg = jq_err("fromjson", json!("{"));
    assert!(!msg.is_empty());
    // Partial output then an error: the error wins.
    assert!(matches!(
        eval_jq("1, error(\"x\")", &json!(null)),
        Err(ScriptError::Jq(_))
    ));
}

/// Indexing errors read as jq's (and Conductor's jackson-jq's) do, naming the types, which
/// users and Conductor's own tests match on; jaq's wording shows the values instead.
#[test]
fn index_errors_use_jqs_wording() {
    let msg = jq_err(".in1.array", json!({"in1": "a"}));
    assert_eq!(msg, "Cannot index string with string \"array\"");
    let msg = jq_err(".[0]", json!(1.5));
    assert_eq!(msg, "Cannot index number with number");
    let msg = jq_err(".x", json!([1, " with "]));
    assert_eq!(msg, "Cannot index array with string \"x\"");
    let msg = jq_err(".[\"with\"]", json!(true));
    assert_eq!(msg, "Cannot index boolean with string \"with\"");
    // A message the program raised itself is kept as it is.
    let msg = jq_err("error(\"cannot index me with you\")", json!(null));
    assert_eq!(msg, "cannot index me with you");
}

#[test]
fn checks() {
    assert!(check_jq(".a + 1").is_ok());
    assert!(check_jq("[.[] | select(.ok)]").is_ok());
    assert!(check_jq("def f: . + 1; f").is_ok());
    assert!(check_jq("repeat(1)").is_ok()); // compiles, never runs
    assert!(check_jq("error(\"x\")").is_ok());
    assert!(check_jq("undefined_thing").is_err());
}

#[test]
fn sandbox() {
    // No environment variables.
    assert_eq!(ok("env", json!(null)), vec![json!({})]);
    assert_eq!(ok("$ENV", json!(null)), vec![json!({})]);
    assert_eq!(ok("env.PATH", json!(null)), vec![Value::Null]);
    // No modules from disk.
    assert!(matches!(
        eval_jq("include \"/etc/passwd\"; .", &json!(null)),
        Err(ScriptError::Jq(_))
    ));
    assert!(matches!(
        eval_jq("import \"/etc/passwd\" as $x; .", &json!(null)),
        Err(ScriptError::Jq(_))
    ));
    assert!(matches!(
        eval_jq("input", &json!(null)),
        Err(ScriptError::Jq(_))
    ));
    assert!(matches!(
        eval_jq("[inputs]", &json!(null)),
        Err(ScriptError::Jq(_))
    ));
    // halt does not exit the process.
    let msg = jq_err("halt", json!(null));
    assert!(msg.contains("halt"), "{msg}");
    let msg = jq_err("\"bye\" | halt_error", json!(null));
    assert!(msg.contains("halt"), "{msg}");
    // Harmless side channels still work.
    assert_eq!(ok("debug", json!(1)), vec![json!(1)]);
    assert_eq!(ok("stderr", json!(1)), vec![json!(1)]);
}

#[test]
fn endless_output_is_limited() {
    let limits = Limits {
        time: Duration::from_millis(300),
        memory_bytes: 1 << 40,
    };
    let result = eval_jq_with_limits("repeat(1)", &json!(null), &limits);
    assert!(matches!(result, Err(ScriptError::Timeout(_))), "{result:?}");

    let limits = Limits {
        time: Duration::from_secs(30),
        memory_bytes: 1 << 20,
    };
    let result = eval_jq_with_limits("repeat(\"xxxxxxxxxxxxxxxx\")", &json!(null), &limits);
    assert!(
        matches!(result, Err(ScriptError::OutOfMemory(_))),
        "{result:?}"
    );
    let result = eval_jq_with_limits("range(infinite)", &json!(null), &limits);
    assert!(
        matches!(result, Err(ScriptError::OutOfMemory(_))),
        "{result:?}"
    );
}

#[test]
fn deep_results_are_rejected_not_crashing() {
    let result = eval_jq("reduce range(5000) as $i (null; [.])", &json!(null));
    assert!(matches!(result, Err(ScriptError::Jq(_))), "{result:?}");
    let ok_depth = eval_jq("reduce range(100) as $i (null; [.])", &json!(null));
    assert!(ok_depth.is_ok());
}

#[test]
fn concurrent_evaluations() {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..20 {
                    let out = eval_jq(".n * 2", &json!({"n": t * 100 + i}));
                    assert_eq!(out.ok(), Some(vec![json!((t * 100 + i) * 2)]));
                }
            })
        })
        .collect();
    for thread in threads {
        assert!(thread.join().is_ok());
    }
}

#[test]
fn per_eval_cost() {
    let input = json!({"items": [{"x": 1}, {"x": 2}]});
    let runs = 50u32;
    let started = Instant::now();
    for _ in 0..runs {
        assert_eq!(
            eval_jq(".items | map(.x)", &input).ok(),
            Some(vec![json!([1, 2])])
        );
    }
    let per_eval = started.elapsed() / runs;
    eprintln!("eval_jq small program: {per_eval:?} per evaluation");
}

fn quick() -> Limits {
    Limits {
        time: Duration::from_millis(300),
        ..Limits::default()
    }
}

#[test]
fn runaway_recursion_is_an_error_not_a_crash() {
    for query in [
        "def f: 1 + f; f",
        "def f: [f]; f",
        "def f: try (1 + f) catch (1 + f); f",
        "def f: try f catch f; f",
        "def f: {a: f}; f",
        "def f: \"\\(f)\"; f",
        "def f: f as $x | $x; f",
        "def f(g): g + f(g); f(1)",
    ] {
        match eval_jq_with_limits(query, &json!(null), &quick()) {
            Err(ScriptError::Jq(msg)) => assert!(msg.contains("recursion"), "{query}: {msg}"),
            Err(ScriptError::Timeout(_)) => {}
            other => panic!("{query}: {other:?}"),
        }
    }
}

#[test]
fn endless_loops_time_out() {
    for query in [
        "until(false; .)",
        "[repeat(1)]",
        "last(repeat(1))",
        "def f: f; f",
        "def f(g): g | f(g); f(.)",
        "def f: def g: f; g; f",
        "[recurse(. + 1)] | length",
        "reduce range(1e12) as $x (0; . + 1)",
        "[range(1e12)] | length",
        "[limit(1e12; repeat(1))] | length",
        "[while(true; .)]",
        "label $out | repeat(1) | select(false)",
    ] {
        let result = eval_jq_with_limits(query, &json!(0), &quick());
        assert!(
            matches!(result, Err(ScriptError::Timeout(d)) if d == quick().time),
            "{query}: {result:?}"
        );
    }
}

#[test]
fn long_but_finite_loops_still_work() {
    assert_eq!(
        ok("[limit(100000; repeat(1))] | length", json!(null)),
        vec![json!(100000)]
    );
    assert_eq!(
        ok("until(. >= 100000; . + 1)", json!(0)),
        vec![json!(100000)]
    );
    assert_eq!(
        ok("reduce range(100000) as $i (0; . + $i)", json!(null)),
        vec![json!(4999950000u64)]
    );
    assert_eq!(
        ok(
            "[recurse(if . < 2000 then . + 1 else empty end)] | length",
            json!(0)
        ),
        vec![json!(2001)]
    );
    assert_eq!(
        ok(
            "def fact: if . <= 1 then 1 else . * (. - 1 | fact) end; fact",
            json!(20)
        ),
        vec![json!(2432902008176640000u64)]
    );
    assert_eq!(
        ok(
            "def f: if . > 0 then [. - 1 | f] else [] end; f | flatten | length",
            json!(500)
        ),
        vec![json!(0)]
    );
    assert_eq!(
        ok("reduce range(100000) as $i (null; [.]) | 1", json!(null)),
        vec![json!(1)]
    );
    assert_eq!(
        ok("[foreach range(5) as $i (0; . + $i; [$i, .])]", json!(null)),
        vec![json!([[0, 0], [1, 1], [2, 3], [3, 6], [4, 10]])]
    );
}

#[test]
fn paths_and_updates_through_definitions() {
    assert_eq!(ok("def f: .a; path(f)", json!({})), vec![json!(["a"])]);
    assert_eq!(
        ok("def f: .a; f |= . + 1", json!({"a": 1})),
        vec![json!({"a": 2})]
    );
    assert_eq!(
        ok("def f: .a; f += 1", json!({"a": 1})),
        vec![json!({"a": 2})]
    );
    assert_eq!(
        ok("[paths]", json!({"a": {"b": 1}})),
        vec![json!([["a"], ["a", "b"]])]
    );
    assert_eq!(
        ok("with_entries(.value += 1)", json!({"a": 1})),
        vec![json!({"a": 2})]
    );
    assert_eq!(
        ok(
            "walk(if type == \"number\" then . + 1 else . end)",
            json!({"a": [1, 2]})
        ),
        vec![json!({"a": [2, 3]})]
    );
    assert_eq!(
        ok("setpath([\"a\", \"b\"]; 1)", json!({"a": {}})),
        vec![json!({"a": {"b": 1}})]
    );
    assert_eq!(
        ok("path(reduce (\"a\", \"b\") as $k (.; .[$k]))", json!(null)),
        vec![json!(["a", "b"])]
    );
    assert_eq!(
        ok("del(.[] | select(. > 1))", json!([1, 2, 3])),
        vec![json!([1])]
    );
    assert_eq!(
        ok("to_entries | map(.key)", json!({"x": 1})),
        vec![json!(["x"])]
    );
}

#[test]
fn hostile_program_shapes() {
    let reserved = jq_err("def __baton_tick: 1; 2", json!(null));
    assert!(reserved.contains("reserved"), "{reserved}");
    // Calling the guard directly is harmless (identity).
    assert_eq!(ok("__baton_tick", json!(3)), vec![json!(3)]);
    assert!(matches!(
        eval_jq(&"[".repeat(100_000), &json!(null)),
        Err(ScriptError::Jq(_))
    ));
    assert!(matches!(
        eval_jq(&"(".repeat(600), &json!(null)),
        Err(ScriptError::Jq(_))
    ));
    assert!(matches!(
        eval_jq(&".a".repeat(200_000), &json!(null)),
        Err(ScriptError::Jq(_))
    ));
    // Long operator chains are fine.
    let sum = vec!["1"; 5000].join(" + ");
    assert_eq!(ok(&sum, json!(null)), vec![json!(5000)]);
    assert!(matches!(
        eval_jq("module {a: 1}; .", &json!(null)),
        Err(ScriptError::Jq(_))
    ));
}

#[test]
fn syntax_error_positions() {
    let msg = jq_err(".a |\n  | .b", json!({}));
    assert!(msg.contains("line 2"), "{msg}");
    let msg = jq_err(".a | nosuch", json!({}));
    assert!(msg.contains("nosuch/0 at line 1, column 6"), "{msg}");
}

#[test]
fn compiled_programs_are_reused() {
    // Same program, different inputs: the cache must not mix up results.
    for i in 0..20 {
        assert_eq!(ok(".x + 1", json!({"x": i})), vec![json!(i + 1)]);
    }
    // Errors are not cached as successes.
    assert!(eval_jq(".x |||", &json!({})).is_err());
    assert!(eval_jq(".x |||", &json!({})).is_err());
}

#[test]
fn csv_and_tsv_formats() {
    assert_eq!(
        ok("@csv", json!([1, "a\"b", null, true, 2.5])),
        vec![json!("1,\"a\"\"b\",,true,2.5")]
    );
    assert_eq!(
        ok("@tsv", json!(["a\tb", "c\\d", "e\nf", 1, null])),
        vec![json!("a\\tb\tc\\\\d\te\\nf\t1\t")]
    );
    assert_eq!(
        ok(".[] | @csv", json!([[1, 2], ["x"]])),
        vec![json!("1,2"), json!("\"x\"")]
    );
    assert_eq!(
        ok("@csv \"row: \\(.)\"", json!([1, "a"])),
        vec![json!("row: 1,\"a\"")]
    );
    assert!(matches!(
        eval_jq("@csv", &json!({"a": 1})),
        Err(ScriptError::Jq(_))
    ));
    assert!(matches!(
        eval_jq("@csv", &json!([[1]])),
        Err(ScriptError::Jq(_))
    ));
    assert!(matches!(
        eval_jq("@tsv", &json!("s")),
        Err(ScriptError::Jq(_))
    ));
}

/// jaq (unlike jq) refuses to update `null` at an index; documented here so a
/// change in behaviour is noticed.
#[test]
fn jaq_null_update_semantics() {
    assert!(matches!(
        eval_jq(".a = 1", &json!(null)),
        Err(ScriptError::Jq(_))
    ));
    assert!(matches!(
        eval_jq(".a.b = 1", &json!({})),
        Err(ScriptError::Jq(_))
    ));
    assert_eq!(ok(".a = 1", json!({})), vec![json!({"a": 1})]);
    assert_eq!(ok(".a += 1", json!({})), vec![json!({"a": 1})]);
    // Reading through null works as in jq.
    assert_eq!(ok(".a.b", json!({})), vec![Value::Null]);
}

#[test]
fn huge_error_values_are_truncated() {
    let msg = jq_err("error(\"x\" * 100000)", json!(null));
    assert!(msg.len() < 2_000, "{}", msg.len());
    let msg = jq_err("[range(100000)] | ltrimstr(\"a\")", json!(null));
    assert!(msg.len() < 2_000, "{}", msg.len());
}
