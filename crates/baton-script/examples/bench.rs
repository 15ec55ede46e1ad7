use std::time::Instant;
fn main() {
    let input = serde_json::json!({"a": 1, "b": "text", "c": [1, 2, 3], "items": [{"x": 1}, {"x": 2}]});
    let limits = baton_script::Limits::default();
    for _ in 0..20 { let _ = baton_script::eval_js("$.a + 1", &input, &limits); }
    let n = 2000u32;
    let t = Instant::now();
    for _ in 0..n { let _ = baton_script::eval_js("$.a + 1", &input, &limits); }
    println!("eval_js: {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n { let _ = baton_script::check_js("$.a + 1"); }
    println!("check_js: {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n { let _ = baton_script::eval_jq(".items | map(.x)", &input); }
    println!("eval_jq: {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n { let _ = baton_script::check_jq(".items | map(.x)"); }
    println!("check_jq: {:?}", t.elapsed() / n);
}
