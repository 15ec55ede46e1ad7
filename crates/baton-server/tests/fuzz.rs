//! A bounded, seeded fuzz of the HTTP API's entry points (issue 9): random definitions,
//! starts, task results, workflow operations, search queries and expressions, many of them
//! malformed or hostile (huge and negative numbers, deep nesting, bad expressions, wrong
//! types). After every call: no 5xx, and a rejected call changed nothing; at the end the
//! server still serves and every workflow it accepted reads back.
//!
//! `BATON_FUZZ_SEED` replays one seed; `BATON_FUZZ_ACTIONS` sets the calls per seed.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

const NAMES: &[&str] = &["fz_a", "fz_b", "fz_c"];
const TASK_TYPES: &[&str] = &["fz_work", "fz_other", "unregistered_type"];

/// Task types the generated definitions may use: everything except what starts other
/// workflows or reaches outside (SUB_WORKFLOW, START_WORKFLOW, HTTP, EVENT), so that the
/// number of workflows changes only by the fuzzer's own starts.
const TYPES: &[&str] = &[
    "SIMPLE",
    "SIMPLE",
    "INLINE",
    "JSON_JQ_TRANSFORM",
    "SWITCH",
    "DECISION",
    "DO_WHILE",
    "FORK_JOIN",
    "JOIN",
    "FORK_JOIN_DYNAMIC",
    "WAIT",
    "HUMAN",
    "SET_VARIABLE",
    "NOOP",
    "TERMINATE",
    "DYNAMIC",
    "LAMBDA",
    "NOT_A_TYPE",
];

const EXPRESSIONS: &[&str] = &[
    "${workflow.input.a}",
    "${workflow.input}",
    "${workflow.input.list[0]}",
    "${workflow.input.list[-1]}",
    "${workflow.input.list[*].x}",
    "${workflow.input..x}",
    "${workflow.input.list[?(@.x > 1)]}",
    "${w1.output.result}",
    "${w1.output}",
    "${workflow.variables.v}",
    "${workflow.workflowId}",
    "${workflow.input.a",
    "${}",
    "${ }",
    "$${escaped}",
    "${workflow.input.list[}",
    "${workflow.input['a']}",
    "${CPEWF_TASK_ID}",
    "prefix ${workflow.input.a} suffix",
    "${workflow.input.a} and ${workflow.input.b}",
];

const SCRIPTS: &[&str] = &[
    "$.a + 1",
    "$.a",
    "(function(){ return {x: $.a}; })()",
    "throw new Error('boom')",
    "syntax error (",
    "",
    "JSON.parse('{')",
    "[1,2,3].map(function(x){return x*2})",
    "$.list.length > 0",
    "undefined",
    "null",
    "1e309",
];

const JQ: &[&str] = &[
    ".",
    ".a",
    ".list | map(.x)",
    "[.[] | select(. != null)]",
    "error(\"bad\")",
    ".a +",
    "reduce range(10) as $i (0; . + $i)",
    "{a: .a, n: (.list | length)}",
    "",
    "$__loc__",
    "input",
];

const QUERIES: &[&str] = &[
    "workflowType=fz_a",
    "status IN (RUNNING,FAILED)",
    "status=NOT_A_STATUS",
    "workflowType=",
    "startTime>0",
    "startTime>abc",
    "correlationId='x' AND status=RUNNING",
    "((((",
    "workflowId IN ()",
    "a=b=c",
    "'unterminated",
    "status IN (RUNNING",
];

/// Types whose well-formed use the generator knows, for definitions meant to be accepted.
const WELL_FORMED_TYPES: &[&str] = &[
    "SIMPLE",
    "SIMPLE",
    "SIMPLE",
    "INLINE",
    "JSON_JQ_TRANSFORM",
    "SET_VARIABLE",
    "NOOP",
    "DO_WHILE",
    "SWITCH",
];

struct Fuzz {
    rng: StdRng,
    /// While generating one definition: whether it may be malformed anywhere.
    hostile: bool,
    s: TestServer,
    /// Workflows the server accepted.
    workflows: Vec<String>,
    /// Tasks handed to the fuzzer by polls: (workflow id, task id).
    tasks: Vec<(String, String)>,
    calls: usize,
    rejected: usize,
}

impl Fuzz {
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.rng.gen_range(0..items.len())]
    }

    fn number(&mut self) -> Value {
        match self.rng.gen_range(0..10) {
            0 => json!(i64::MAX),
            1 => json!(i64::MIN),
            2 => json!(-1),
            3 => json!(u64::MAX),
            4 => json!(1e308),
            5 => json!(0.5),
            6 => json!(0),
            _ => json!(self.rng.gen_range(0..5)),
        }
    }

    fn string(&mut self) -> Value {
        match self.rng.gen_range(0..8) {
            0 => json!(self.pick(EXPRESSIONS)),
            1 => json!("x".repeat(self.rng.gen_range(0..20_000))),
            2 => json!("ünïcödé \u{0} \u{1F600}"),
            3 => json!(""),
            _ => json!(format!("s{}", self.rng.gen_range(0..100))),
        }
    }

    /// A random JSON value; sometimes nested around or past the depth limit.
    fn value(&mut self, depth: usize) -> Value {
        if self.rng.gen_ratio(1, 60) {
            let levels = self.rng.gen_range(90..140);
            let mut v = json!(1);
            for _ in 0..levels {
                v = if self.rng.gen_bool(0.5) {
                    json!([v])
                } else {
                    json!({ "d": v })
                };
            }
            return v;
        }
        match self.rng.gen_range(0..if depth > 3 { 5 } else { 8 }) {
            0 => Value::Null,
            1 => json!(self.rng.gen_bool(0.5)),
            2 => self.number(),
            3 | 4 => self.string(),
            5 => {
                let n = self.rng.gen_range(0..4);
                Value::Array((0..n).map(|_| self.value(depth + 1)).collect())
            }
            _ => Value::Object(self.map(depth + 1)),
        }
    }

    fn map(&mut self, depth: usize) -> Map<String, Value> {
        let n = self.rng.gen_range(0..4);
        let mut m = Map::new();
        for _ in 0..n {
            let key = self.pick(&["a", "b", "x", "list", "v", "evaluatorType", "expression"]);
            let v = self.value(depth + 1);
            m.insert(key.to_string(), v);
        }
        m
    }

    fn workflow_task(&mut self, depth: usize, index: usize) -> Value {
        let kind = if self.hostile {
            self.pick(TYPES)
        } else {
            self.pick(WELL_FORMED_TYPES)
        };
        let reference = match self.rng.gen_range(0..12) {
            0 if self.hostile => String::new(),
            _ if depth == 0 && index == 0 => "w1".to_string(),
            _ => format!("t{depth}_{index}_{}", self.rng.gen_range(0..1_000_000)),
        };
        let mut t = json!({
            "name": if kind == "SIMPLE" { self.pick(TASK_TYPES) } else { kind },
            "taskReferenceName": reference,
            "type": kind,
        });
        let mut input = self.map(0);
        if self.rng.gen_bool(0.5) {
            input.insert("a".into(), json!(self.pick(EXPRESSIONS)));
        }
        match kind {
            "INLINE" | "LAMBDA" => {
                input.insert("evaluatorType".into(), json!("javascript"));
                input.insert("expression".into(), json!(self.pick(SCRIPTS)));
                t["scriptExpression"] = json!(self.pick(SCRIPTS));
            }
            "JSON_JQ_TRANSFORM" => {
                input.insert("queryExpression".into(), json!(self.pick(JQ)));
            }
            "SWITCH" | "DECISION" if !self.hostile => {
                t["evaluatorType"] = json!("value-param");
                t["expression"] = json!("a");
                t["decisionCases"] = json!({"1": [], "s1": []});
            }
            "SWITCH" | "DECISION" => {
                t["evaluatorType"] = json!(self.pick(&["value-param", "javascript", "nope"]));
                t["expression"] = json!(self.pick(SCRIPTS));
                t["caseValueParam"] = json!("a");
                t["caseExpression"] = json!(self.pick(SCRIPTS));
                if depth < 2 {
                    t["decisionCases"] = json!({"1": [self.workflow_task(depth + 1, 0)]});
                    t["defaultCase"] = json!([self.workflow_task(depth + 1, 1)]);
                }
            }
            "DO_WHILE" => {
                t["loopCondition"] = json!(self.pick(SCRIPTS));
                if depth < 2 {
                    t["loopOver"] = json!([self.workflow_task(depth + 1, 0)]);
                }
            }
            "FORK_JOIN" if depth < 2 => {
                t["forkTasks"] = json!([
                    [self.workflow_task(depth + 1, 0)],
                    [self.workflow_task(depth + 1, 1)]
                ]);
            }
            "JOIN" => t["joinOn"] = json!(["w1", reference]),
            "FORK_JOIN_DYNAMIC" => {
                input.insert("forkTaskName".into(), json!(self.pick(TASK_TYPES)));
                let inputs = self.value(1);
                input.insert("forkTaskInputs".into(), inputs);
                t["dynamicForkTasksParam"] = json!("dyn");
                input.insert("dyn".into(), json!(self.pick(EXPRESSIONS)));
            }
            "WAIT" => {
                let wait = self.pick(&["1s", "-5s", "99999999999999d", "soon", "2 minutes"]);
                input.insert("duration".into(), json!(wait));
            }
            "DYNAMIC" => {
                t["dynamicTaskNameParam"] = json!("a");
            }
            _ => {}
        }
        t["inputParameters"] = Value::Object(input);
        for field in [
            "retryCount",
            "startDelay",
            "timeoutSeconds",
            "responseTimeoutSeconds",
        ] {
            if self.hostile && self.rng.gen_ratio(1, 5) {
                t[field] = self.number();
            }
        }
        if self.hostile && self.rng.gen_ratio(1, 15) {
            t["optional"] = json!("maybe");
        }
        t
    }

    fn definition(&mut self) -> Value {
        self.hostile = self.rng.gen_ratio(1, 3);
        let n = self.rng.gen_range(if self.hostile { 0 } else { 1 }..5);
        let tasks: Vec<Value> = (0..n).map(|i| self.workflow_task(0, i)).collect();
        let mut def = json!({
            "name": self.pick(NAMES),
            "version": if self.hostile && self.rng.gen_ratio(1, 4) { self.number() } else { json!(1) },
            "schemaVersion": 2,
            "tasks": tasks,
            "outputParameters": self.map(0),
        });
        if self.rng.gen_ratio(1, 4) {
            def["timeoutSeconds"] = self.number();
            def["timeoutPolicy"] = json!(self.pick(&["TIME_OUT_WF", "ALERT_ONLY", "BOGUS"]));
        }
        if self.hostile && self.rng.gen_ratio(1, 4) {
            def["tasks"] = json!("not a list");
        }
        def
    }

    fn task_def(&mut self) -> Value {
        let mut d = json!({"name": self.pick(TASK_TYPES)});
        for field in [
            "retryCount",
            "retryDelaySeconds",
            "timeoutSeconds",
            "responseTimeoutSeconds",
            "concurrentExecLimit",
            "rateLimitPerFrequency",
            "rateLimitFrequencyInSeconds",
            "pollTimeoutSeconds",
        ] {
            if self.rng.gen_bool(0.4) {
                d[field] = self.number();
            }
        }
        if self.rng.gen_bool(0.3) {
            d["retryLogic"] = json!(self.pick(&["FIXED", "EXPONENTIAL_BACKOFF", "NOPE"]));
        }
        d
    }

    fn task_result(&mut self) -> Value {
        let (wf, task) = if !self.tasks.is_empty() && self.rng.gen_ratio(4, 5) {
            self.tasks[self.rng.gen_range(0..self.tasks.len())].clone()
        } else {
            ("no-such-workflow".to_string(), "no-such-task".to_string())
        };
        let status = self.pick(&[
            "COMPLETED",
            "FAILED",
            "IN_PROGRESS",
            "FAILED_WITH_TERMINAL_ERROR",
            "SCHEDULED",
            "bogus",
        ]);
        let mut r = json!({"workflowInstanceId": wf, "taskId": task, "status": status});
        if self.rng.gen_bool(0.7) {
            r["outputData"] = if self.rng.gen_ratio(1, 10) {
                self.value(0)
            } else {
                Value::Object(self.map(0))
            };
        }
        if self.rng.gen_bool(0.3) {
            r["callbackAfterSeconds"] = self.number();
        }
        if self.rng.gen_ratio(1, 10) {
            r["reasonForIncompletion"] = self.string();
        }
        r
    }

    /// The state a rejected call must leave unchanged: definitions and the set of workflows.
    async fn snapshot(&self) -> (Value, Value, Value) {
        let defs = self.s.get_json("/metadata/workflow").await;
        let task_defs = self.s.get_json("/metadata/taskdefs").await;
        let count = self
            .s
            .get_json("/workflow/search?query=&size=1")
            .await
            .get("totalHits")
            .cloned()
            .unwrap_or(Value::Null);
        (defs, task_defs, count)
    }

    /// One call; checks it did not fail the server and, if rejected, changed nothing.
    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> Option<Value> {
        self.calls += 1;
        let mutating = method != Method::GET;
        let before = if mutating {
            Some(self.snapshot().await)
        } else {
            None
        };
        let mut req = self.s.client.request(method.clone(), self.s.url(path));
        if let Some(body) = &body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).expect("encode"));
        }
        let resp = req.send().await.unwrap_or_else(|e| {
            panic!("{method} {path}: the server did not answer: {e}\nbody: {body:?}")
        });
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            !status.is_server_error(),
            "{method} {path} answered {status}: {text}\nbody: {}",
            short(&body)
        );
        if status.is_client_error() {
            self.rejected += 1;
            if let Some(before) = before {
                let after = self.snapshot().await;
                assert_eq!(
                    before,
                    after,
                    "{method} {path} was rejected ({status}: {text}) but changed the state\nbody: {}",
                    short(&body)
                );
            }
            return None;
        }
        Some(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn step(&mut self) {
        match self.rng.gen_range(0..14) {
            0 | 1 => {
                let def = self.definition();
                self.call(Method::POST, "/metadata/workflow?overwrite=true", Some(def))
                    .await;
            }
            2 => {
                let defs = json!([self.definition(), self.definition()]);
                self.call(Method::PUT, "/metadata/workflow", Some(defs))
                    .await;
            }
            3 => {
                let defs = json!([self.task_def()]);
                self.call(Method::POST, "/metadata/taskdefs", Some(defs))
                    .await;
            }
            4 | 5 => {
                let name = self.pick(NAMES);
                let input = if self.rng.gen_ratio(1, 6) {
                    self.value(0)
                } else {
                    Value::Object(self.map(0))
                };
                if let Some(Value::String(id)) = self
                    .call(Method::POST, &format!("/workflow/{name}"), Some(input))
                    .await
                {
                    self.workflows.push(id);
                }
            }
            6 => {
                let mut req = json!({"name": self.pick(NAMES), "input": self.map(0)});
                if self.rng.gen_bool(0.3) {
                    req["workflowDef"] = self.definition();
                }
                if self.rng.gen_bool(0.3) {
                    req["priority"] = self.number();
                }
                if self.rng.gen_ratio(1, 5) {
                    req["taskToDomain"] = self.value(1);
                }
                if let Some(Value::String(id)) =
                    self.call(Method::POST, "/workflow", Some(req)).await
                {
                    self.workflows.push(id);
                }
            }
            7 | 8 => {
                let task_type = self.pick(TASK_TYPES);
                let count = self.pick(&["1", "5", "5", "5", "0", "-1", "99999999999", "x"]);
                let path = format!("/tasks/poll/batch/{task_type}?count={count}&timeout=10");
                if let Some(Value::Array(tasks)) = self.call(Method::GET, &path, None).await {
                    for t in tasks {
                        let wf = t["workflowInstanceId"].as_str().unwrap_or_default();
                        let id = t["taskId"].as_str().unwrap_or_default();
                        self.tasks.push((wf.to_string(), id.to_string()));
                    }
                }
            }
            9 | 10 => {
                let result = self.task_result();
                let path = self.pick(&["/tasks", "/tasks/update-v2"]);
                self.call(Method::POST, path, Some(result)).await;
            }
            11 => {
                let query = self.pick(QUERIES);
                let free = self.pick(&["*", "s1", "%", "'", ""]);
                let path = format!(
                    "/workflow/search?query={}&freeText={}&start={}&size={}&sort={}",
                    urlencode(query),
                    urlencode(free),
                    self.pick(&["0", "-1", "99999999999"]),
                    self.pick(&["10", "0", "-5", "100000"]),
                    self.pick(&["startTime:DESC", "nope:UP", "", ":"]),
                );
                self.call(Method::GET, &path, None).await;
            }
            12 => {
                let path = format!(
                    "/tasks/search?query={}&size={}",
                    urlencode(self.pick(QUERIES)),
                    self.pick(&["10", "-1"])
                );
                self.call(Method::GET, &path, None).await;
            }
            _ => {
                let id = if !self.workflows.is_empty() && self.rng.gen_ratio(4, 5) {
                    self.workflows[self.rng.gen_range(0..self.workflows.len())].clone()
                } else {
                    "no-such-workflow".to_string()
                };
                let (method, path, body) = match self.rng.gen_range(0..8) {
                    0 => (Method::PUT, format!("/workflow/{id}/pause"), None),
                    1 => (Method::PUT, format!("/workflow/{id}/resume"), None),
                    2 => (Method::DELETE, format!("/workflow/{id}?reason=fuzz"), None),
                    3 => (Method::POST, format!("/workflow/{id}/retry"), None),
                    4 => (Method::POST, format!("/workflow/{id}/restart"), None),
                    5 => {
                        let body = json!({"reRunFromTaskId": self.string(),
                                          "workflowInput": self.map(0)});
                        (Method::POST, format!("/workflow/{id}/rerun"), Some(body))
                    }
                    6 => {
                        let reference = self.pick(&["w1", "t0_0_1", "nope"]);
                        let status = self.pick(&["COMPLETED", "FAILED", "NOPE"]);
                        let body = Value::Object(self.map(0));
                        (
                            Method::POST,
                            format!("/tasks/{id}/{reference}/{status}"),
                            Some(body),
                        )
                    }
                    _ => (Method::GET, format!("/workflow/{id}"), None),
                };
                // Operations on existing workflows legitimately change them; only the
                // 5xx check and the snapshot of definitions and counts apply.
                self.call(method, &path, body).await;
            }
        }
    }
}

fn short(body: &Option<Value>) -> String {
    let text = body.as_ref().map(Value::to_string).unwrap_or_default();
    text.chars().take(2_000).collect()
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn run(seed: u64, actions: usize) {
    let mut f = Fuzz {
        rng: StdRng::seed_from_u64(seed),
        hostile: false,
        s: TestServer::spawn().await,
        workflows: Vec::new(),
        tasks: Vec::new(),
        calls: 0,
        rejected: 0,
    };
    for _ in 0..actions {
        f.step().await;
    }
    // The server still serves, and everything it accepted reads back.
    assert_eq!(f.s.get("/health").await.status(), StatusCode::OK);
    for id in f.workflows.clone() {
        let resp = f.s.get(&format!("/workflow/{id}")).await;
        assert_eq!(resp.status(), StatusCode::OK, "workflow {id} (seed {seed})");
        let resp = f.s.get(&format!("/workflow/{id}/history")).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "history of {id} (seed {seed})"
        );
    }
    let page = f.s.get("/workflow/search?size=1000").await;
    assert_eq!(page.status(), StatusCode::OK);
    println!(
        "seed {seed}: {} calls, {} rejected, {} workflows accepted, {} tasks polled",
        f.calls,
        f.rejected,
        f.workflows.len(),
        f.tasks.len()
    );
    // Both kinds of answer were exercised.
    assert!(f.rejected > 0 && f.rejected < f.calls, "seed {seed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_calls_never_fail_the_server_and_rejections_change_nothing() {
    let actions = std::env::var("BATON_FUZZ_ACTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    let seeds: Vec<u64> = match std::env::var("BATON_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(seed) => vec![seed],
        None => vec![1, 2, 3],
    };
    for seed in seeds {
        run(seed, actions).await;
    }
}
