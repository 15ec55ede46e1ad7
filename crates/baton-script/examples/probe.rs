fn main() {
    let args: Vec<String> = std::env::args().collect();
    let q = &args[1];
    let r = baton_script::eval_jq(q, &serde_json::json!(null));
    println!("{:?}", r.map(|v| v.len()));
}
