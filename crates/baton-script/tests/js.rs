//! JavaScript evaluation: results, conversions, errors and sandbox limits.

use baton_script::{check_js, eval_js, Limits, ScriptError};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn eval(script: &str, input: Value) -> Result<Value, ScriptError> {
    eval_js(script, &input, &Limits::default())
}

fn ok(script: &str, input: Value) -> Value {
    match eval(script, input) {
        Ok(v) => v,
        Err(e) => panic!("{script}: unexpected error {e:?}"),
    }
}

#[test]
fn completion_values() {
    assert_eq!(
        ok("(function(){ return $.a + 1; })()", json!({"a": 1})),
        json!(2)
    );
    assert_eq!(ok("$.a > 1 ? 'x' : 'y'", json!({"a": 2})), json!("x"));
    assert_eq!(ok("$.a > 1 ? 'x' : 'y'", json!({"a": 0})), json!("y"));
    assert_eq!(
        ok("if ($.x) { true; } else { false; }", json!({"x": 1})),
        json!(true)
    );
    assert_eq!(
        ok("if ($.x) { true; } else { false; }", json!({"x": null})),
        json!(false)
    );
    assert_eq!(ok("$['some key']", json!({"some key": "v"})), json!("v"));
    assert_eq!(ok("$.value", json!({"value": [1, 2]})), json!([1, 2]));
    assert_eq!(
        ok("function e() { return $.n * 2; } e();", json!({"n": 21})),
        json!(42)
    );
    // Sloppy mode: undeclared assignment works.
    assert_eq!(ok("x = 3; x + 1", json!({})), json!(4));
}

#[test]
fn conversions() {
    assert_eq!(ok("undefined", json!({})), Value::Null);
    assert_eq!(ok("", json!({})), Value::Null);
    assert_eq!(ok("var a = 1;", json!({})), Value::Null);
    assert_eq!(ok("null", json!({})), Value::Null);
    assert_eq!(ok("(function(){})", json!({})), Value::Null);
    assert_eq!(ok("true", json!({})), json!(true));
    assert_eq!(ok("'s'", json!({})), json!("s"));
    let two = ok("2.0", json!({}));
    assert!(two.is_i64(), "{two:?}");
    assert_eq!(two, json!(2));
    let half = ok("$.a / 2", json!({"a": 1}));
    assert_eq!(half, json!(0.5));
    let big = ok("Math.pow(2, 60)", json!({}));
    assert!(big.is_u64() || big.is_i64(), "{big:?}");
    assert_eq!(ok("-7", json!({})), json!(-7));
    assert_eq!(ok("NaN", json!({})), Value::Null);
    assert_eq!(ok("1/0", json!({})), Value::Null);
    assert_eq!(ok("[1, NaN, 'a']", json!({})), json!([1, null, "a"]));
    assert_eq!(
        ok("({a: [1, {b: 2.5}], c: undefined, d: null})", json!({})),
        json!({"a": [1, {"b": 2.5}], "d": null})
    );
    assert_eq!(
        ok("new Date(0)", json!({})),
        json!("1970-01-01T00:00:00.000Z")
    );
    // The input round-trips, including unicode and key order.
    let input = json!({"z": 1, "a": "é✓😀", "m": [true, null, 1.5, -3]});
    assert_eq!(ok("$", input.clone()), input);
    assert_eq!(ok("$.a.length", input), json!(4));
    // Integers beyond 2^53 lose precision (JS numbers), but stay numbers.
    assert!(ok("$.n", json!({"n": u64::MAX})).is_number());
    // Non-object inputs.
    assert_eq!(ok("$ * 2", json!(21)), json!(42));
    assert_eq!(ok("$", Value::Null), Value::Null);
}

#[test]
fn runtime_errors() {
    match eval("$.a.b.c", json!({})) {
        Err(ScriptError::Runtime(msg)) => {
            assert!(msg.contains("TypeError"), "{msg}");
            assert!(msg.contains("script:1"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    match eval("throw new Error('boom')", json!({})) {
        Err(ScriptError::Runtime(msg)) => assert!(msg.contains("Error: boom"), "{msg}"),
        other => panic!("{other:?}"),
    }
    match eval("throw 'plain'", json!({})) {
        Err(ScriptError::Runtime(msg)) => assert!(msg.contains("plain"), "{msg}"),
        other => panic!("{other:?}"),
    }
    match eval("throw {toString() { throw 1; }}", json!({})) {
        Err(ScriptError::Runtime(_)) => {}
        other => panic!("{other:?}"),
    }
    // A SyntaxError thrown while running is a runtime error.
    match eval("JSON.parse('{')", json!({})) {
        Err(ScriptError::Runtime(msg)) => assert!(msg.contains("SyntaxError"), "{msg}"),
        other => panic!("{other:?}"),
    }
    match eval("eval('(')", json!({})) {
        Err(ScriptError::Runtime(msg)) => assert!(msg.contains("SyntaxError"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // Results that cannot become JSON.
    assert!(matches!(
        eval("10n", json!({})),
        Err(ScriptError::Runtime(_))
    ));
    assert!(matches!(
        eval("var o = {}; o.o = o; o", json!({})),
        Err(ScriptError::Runtime(_))
    ));
}

#[test]
fn syntax_errors() {
    for script in ["$.a +", "function (", "if (", "}", "let let = 1", "a\0b"] {
        match eval(script, json!({})) {
            Err(ScriptError::Syntax(msg)) => assert!(!msg.is_empty()),
            other => panic!("{script:?}: {other:?}"),
        }
        assert!(
            matches!(check_js(script), Err(ScriptError::Syntax(_))),
            "{script:?}"
        );
    }
    // Strict-mode-only early errors are syntax errors, in checks too.
    for script in ["'use strict'; with ({}) {}", "\"use strict\"\nvar x = 010;"] {
        assert!(
            matches!(check_js(script), Err(ScriptError::Syntax(_))),
            "{script}"
        );
        assert!(
            matches!(eval(script, json!({})), Err(ScriptError::Syntax(_))),
            "{script}"
        );
    }
    assert!(check_js("with ({}) {}").is_ok());
    match check_js("var a = 1;\nvar b = a +;") {
        Err(ScriptError::Syntax(msg)) => assert!(msg.contains("script:2"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn check_does_not_run() {
    assert!(check_js("(function(){ return $.a + 1; })()").is_ok());
    assert!(check_js("while (true) {}").is_ok());
    assert!(check_js("throw new Error('x')").is_ok());
    assert!(check_js("$.a.b.c").is_ok());
    assert!(check_js("").is_ok());
    assert!(check_js("// only a comment").is_ok());
    assert!(check_js("if ($.x) { true; } else { false; }").is_ok());
    assert!(check_js("let a = []; while (true) { a.push(1); }").is_ok());
}

#[test]
fn no_state_leaks_between_evaluations() {
    assert_eq!(ok("globalThis.leak = 42; leak", json!({})), json!(42));
    assert_eq!(ok("typeof leak", json!({})), json!("undefined"));
    assert_eq!(ok("Object.prototype.polluted = 1; 1", json!({})), json!(1));
    assert_eq!(ok("({}).polluted === undefined", json!({})), json!(true));
    assert_eq!(ok("let x = 1; x", json!({})), json!(1));
    assert_eq!(ok("let x = 2; x", json!({})), json!(2));
    // The input cannot be modified from the outside.
    let input = json!({"a": 1});
    assert_eq!(ok("$.a = 5; $.a", input.clone()), json!(5));
    assert_eq!(input, json!({"a": 1}));
}

#[test]
fn no_host_access() {
    for name in [
        "std",
        "os",
        "print",
        "console",
        "require",
        "process",
        "scriptArgs",
        "setTimeout",
        "fetch",
        "XMLHttpRequest",
        "Deno",
        "Bun",
    ] {
        assert_eq!(
            ok(&format!("typeof globalThis[{name:?}]"), json!({})),
            json!("undefined"),
            "{name}"
        );
    }
    // Dynamic import only yields a promise, and no job queue runs to settle
    // it: the script never gets hold of a module.
    assert_eq!(
        ok("import('os') instanceof Promise", json!({})),
        json!(true)
    );
    assert_eq!(
        ok(
            "var r = 'pending'; import('os').then(m => { r = m; }, e => { r = 'rejected'; }); r",
            json!({})
        ),
        json!("pending")
    );
    // Dynamic import never resolves to anything: there is no module loader.
    assert!(matches!(
        eval("import * as os from 'os'; 1", json!({})),
        Err(ScriptError::Syntax(_))
    ));
}

#[test]
fn endless_loop_times_out() {
    let limits = Limits {
        time: Duration::from_millis(300),
        ..Limits::default()
    };
    for script in [
        "while(true){}",
        "for(;;){ try { while(true){} } catch (e) {} }",
        "try { while(true){} } finally { while(true){} }",
        "function f(){ try { f(); } catch(e) { f(); } } f()",
    ] {
        let started = Instant::now();
        let result = eval_js(script, &json!({}), &limits);
        assert!(
            matches!(result, Err(ScriptError::Timeout(d)) if d == limits.time),
            "{script}: {result:?}"
        );
        // It ran for its whole budget (a lower bound: no early false alarm).
        assert!(started.elapsed() >= limits.time, "{script}");
    }
}

#[test]
fn default_time_limit_is_about_four_seconds() {
    let started = Instant::now();
    let result = eval("while(true){}", json!({}));
    assert!(
        matches!(result, Err(ScriptError::Timeout(d)) if d == Duration::from_secs(4)),
        "{result:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(4));
}

#[test]
fn regex_backtracking_times_out() {
    let limits = Limits {
        time: Duration::from_millis(300),
        ..Limits::default()
    };
    let result = eval_js("/^(a+)+$/.test('a'.repeat(40) + 'b')", &json!({}), &limits);
    assert!(matches!(result, Err(ScriptError::Timeout(_))), "{result:?}");
}

#[test]
fn memory_limit() {
    for script in [
        "let a=[]; while(true){a.push(new Array(100000).fill(1))}",
        "let s='x'; while(true){s = s + s}",
        "let s=''; for(let i=0;;i++){s += 'abcdefghijabcdefghij'.repeat(1000) + i}",
        "'x'.repeat(1 << 29)",
        "new ArrayBuffer(1 << 30)",
        "let o = {}; for (let i = 0;; i++) { o['k' + i] = i; }",
        "JSON.stringify(new Array(10000000).fill('aaaaaaaa'))",
    ] {
        let result = eval(script, json!({}));
        assert!(
            matches!(result, Err(ScriptError::OutOfMemory(n)) if n == 32 * 1024 * 1024),
            "{script}: {result:?}"
        );
    }
    // Catching the out-of-memory error inside the script is allowed and harmless.
    let caught = eval(
        "let a=[]; try { while(true){a.push(new Array(100000).fill(1))} } catch(e) { a = null; 'caught' }",
        json!({}),
    );
    assert!(
        matches!(caught, Ok(ref v) if v == "caught")
            || matches!(caught, Err(ScriptError::OutOfMemory(_))),
        "{caught:?}"
    );
    // Tiny limits fail cleanly.
    let tiny = Limits {
        memory_bytes: 1,
        ..Limits::default()
    };
    assert!(matches!(
        eval_js("1", &json!({}), &tiny),
        Err(ScriptError::OutOfMemory(1))
    ));
    // The input counts against the limit.
    let small = Limits {
        memory_bytes: 2 * 1024 * 1024,
        ..Limits::default()
    };
    let big_input = json!({"s": "x".repeat(4 * 1024 * 1024)});
    assert!(matches!(
        eval_js("$.s.length", &big_input, &small),
        Err(ScriptError::OutOfMemory(_))
    ));
}

#[test]
fn deep_recursion_is_a_runtime_error() {
    for script in [
        "function f(){f()} f()",
        "function f(n){ return n + f(n + 1) } f(0)",
        "let a = []; for (let i = 0; i < 1e6; i++) a = [a]; JSON.stringify(a)",
        "let a = []; for (let i = 0; i < 1e6; i++) a = [a]; a",
        "let o = {}; o.toString = function(){ return '' + this; }; '' + o",
    ] {
        match eval(script, json!({})) {
            Err(ScriptError::Runtime(msg)) => assert!(!msg.is_empty()),
            other => panic!("{script}: {other:?}"),
        }
    }
}

#[test]
fn concurrent_evaluations() {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..50 {
                    let v = eval_js(
                        "globalThis.n = ($.i * 2); n",
                        &json!({"i": t * 1000 + i}),
                        &Limits::default(),
                    );
                    assert_eq!(v.ok(), Some(json!((t * 1000 + i) * 2)));
                }
                let limits = Limits {
                    time: Duration::from_millis(100),
                    ..Limits::default()
                };
                assert!(matches!(
                    eval_js("while(true){}", &json!({}), &limits),
                    Err(ScriptError::Timeout(_))
                ));
            })
        })
        .collect();
    for thread in threads {
        assert!(thread.join().is_ok());
    }
}

#[test]
fn per_eval_cost() {
    let input = json!({"a": 1, "b": "text", "c": [1, 2, 3]});
    let limits = Limits::default();
    let runs = 200u32;
    let started = Instant::now();
    for _ in 0..runs {
        assert_eq!(eval_js("$.a + 1", &input, &limits).ok(), Some(json!(2)));
    }
    let per_eval = started.elapsed() / runs;
    eprintln!("eval_js trivial script: {per_eval:?} per evaluation");
}

#[test]
fn moderate_recursion_works() {
    assert_eq!(
        ok(
            "function f(n){ return n == 0 ? 0 : 1 + f(n - 1) } f(300)",
            json!({})
        ),
        json!(300)
    );
    let nested = (0..500).fold(json!(1), |acc, _| json!([acc]));
    assert_eq!(ok("$", nested.clone()), nested);
}

#[test]
fn huge_error_values_are_truncated() {
    match eval("throw 'x'.repeat(1000000)", json!({})) {
        Err(ScriptError::Runtime(msg)) => assert!(msg.len() < 2_000, "{}", msg.len()),
        other => panic!("{other:?}"),
    }
    match eval("throw new Error('y'.repeat(1000000))", json!({})) {
        Err(ScriptError::Runtime(msg)) => assert!(msg.len() < 2_000, "{}", msg.len()),
        other => panic!("{other:?}"),
    }
}
