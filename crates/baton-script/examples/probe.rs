fn main() {
    let args: Vec<String> = std::env::args().collect();
    let q = &args[1];
    let input: serde_json::Value = args.get(2).map(|s| serde_json::from_str(s).unwrap()).unwrap_or(serde_json::Value::Null);
    let r = baton_script::eval_jq(q, &input);
    println!("{:?}", r);
}
