//! `/metrics`: scrape, run workflows, scrape again, and compare; label sets stay bounded;
//! every response carries a request id.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// One sample line: metric name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// One scrape, parsed.
struct Scrape(Vec<Sample>);

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
            let value: f64 = value.parse().expect("sample value is a number");
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), Vec::new()),
                Some((name, rest)) => {
                    let rest = rest.strip_suffix('}').expect("labels end with }");
                    let labels = rest
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once("=\"").expect("label k=\"v\"");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            samples.push((name, labels, value));
        }
        Scrape(samples)
    }

    /// The sum of every sample of `name` whose labels include all of `labels` (0 if none).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, ls, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| ls.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| *v)
            .sum()
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.0.iter().any(|(n, ls, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| ls.iter().any(|(lk, lv)| lk == k && lv == v))
        })
    }

    /// Distinct values of label `key` on metric `name`.
    fn label_values(&self, name: &str, key: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .iter()
            .filter(|(n, _, _)| n == name)
            .filter_map(|(_, ls, _)| ls.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

async fn scrape(s: &TestServer) -> Scrape {
    let resp = s
        .client
        .get(format!("{}/metrics", s.root))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        content_type(&resp).starts_with("text/plain"),
        "{}",
        content_type(&resp)
    );
    Scrape::parse(&resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_workflows_run() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({
        "name": "m_task", "retryCount": 1, "retryDelaySeconds": 0, "responseTimeoutSeconds": 30
    }))
    .await;
    s.register_workflow(simple_workflow("m_flow", &["m_task"]))
        .await;

    let before = scrape(&s).await;
    assert_eq!(before.get("baton_build_info", &[]), 1.0);
    assert_eq!(
        before.get(
            "baton_storage_info",
            &if common::on_postgres() {
                [("backend", "postgres"), ("tier", "1")]
            } else {
                [("backend", "sqlite"), ("tier", "2")]
            }
        ),
        1.0
    );
    assert_eq!(
        before.get("baton_workflow_starts_total", &[("workflow", "m_flow")]),
        0.0
    );

    let ids = [
        s.start("m_flow", json!({})).await,
        s.start("m_flow", json!({})).await,
        s.start("m_flow", json!({})).await,
    ];
    let queued = scrape(&s).await;
    assert_eq!(
        queued.get("baton_workflow_starts_total", &[("workflow", "m_flow")]),
        3.0
    );
    assert_eq!(
        queued.get("baton_workflows_running", &[("workflow", "m_flow")]),
        3.0
    );
    assert!(queued.has(
        "baton_workflow_oldest_running_age_seconds",
        &[("workflow", "m_flow")]
    ));
    assert_eq!(queued.get("baton_queue_depth", &[("queue", "m_task")]), 3.0);
    assert!(queued.has("baton_queue_oldest_age_seconds", &[("queue", "m_task")]));

    // Two succeed at once; one fails, is retried, and its retry succeeds.
    let tasks = s.poll_batch("m_task", 3, 1000).await;
    assert_eq!(tasks.len(), 3);
    s.complete(&tasks[0], json!({})).await;
    s.complete(&tasks[1], json!({})).await;
    s.fail(&tasks[2], "first attempt fails").await;
    let retry = s.poll_one("m_task").await;
    s.complete(&retry, json!({})).await;
    for id in &ids {
        s.wait_for_status(id, "COMPLETED", Duration::from_secs(10))
            .await;
    }
    // A poll that finds nothing.
    assert!(s.poll_batch("m_task", 1, 0).await.is_empty());

    let after = scrape(&s).await;
    let flow = [("workflow", "m_flow")];
    let task = [("task_type", "m_task")];
    assert_eq!(
        after.get(
            "baton_workflows_ended_total",
            &[flow[0], ("status", "COMPLETED")]
        ),
        3.0
    );
    assert_eq!(
        after.get(
            "baton_workflows_ended_total",
            &[flow[0], ("status", "FAILED")]
        ),
        0.0
    );
    assert_eq!(
        after.get("baton_workflow_duration_seconds_count", &flow),
        3.0
    );
    assert_eq!(
        after.get(
            "baton_tasks_ended_total",
            &[task[0], ("status", "COMPLETED")]
        ),
        3.0
    );
    assert_eq!(
        after.get("baton_tasks_ended_total", &[task[0], ("status", "FAILED")]),
        1.0
    );
    assert_eq!(after.get("baton_task_retries_total", &task), 1.0);
    assert_eq!(after.get("baton_task_run_seconds_count", &task), 4.0);
    assert_eq!(after.get("baton_task_queue_wait_seconds_count", &task), 4.0);
    assert_eq!(after.get("baton_poll_tasks_total", &task), 4.0);
    assert!(after.get("baton_poll_requests_total", &[task[0], ("result", "empty")]) >= 1.0);
    assert_eq!(
        after.get("baton_poll_requests_total", &[task[0], ("result", "tasks")]),
        2.0
    );
    assert_eq!(after.get("baton_workflows_running", &[]), 0.0);
    assert!(!after.has(
        "baton_workflow_oldest_running_age_seconds",
        &[("workflow", "m_flow")]
    ));
    assert_eq!(after.get("baton_queue_depth", &[("queue", "m_task")]), 0.0);
    assert!(
        after.get("baton_commit_seconds_count", &[])
            > queued.get("baton_commit_seconds_count", &[])
    );
    // HTTP requests by route template, never by path.
    let updates = [
        ("method", "POST"),
        ("route", "/api/tasks"),
        ("status", "200"),
    ];
    assert_eq!(
        after.get("baton_http_requests_total", &updates),
        4.0, // two completions, a failure, the retry's completion
        "{:?}",
        after
            .0
            .iter()
            .filter(|(n, _, _)| n == "baton_http_requests_total")
            .collect::<Vec<_>>()
    );
    assert_eq!(
        after.get(
            "baton_http_requests_total",
            &[("route", "/api/workflow/{id}"), ("status", "200")]
        ),
        after.get(
            "baton_http_requests_total",
            &[("route", "/api/workflow/{id}"), ("method", "GET")]
        )
    );
    for route in after.label_values("baton_http_requests_total", "route") {
        for id in &ids {
            assert!(
                !route.contains(id.as_str()),
                "a workflow id became a label: {route}"
            );
        }
    }
    // A refused request is counted under its status.
    let resp = s.get("/workflow/no-such-workflow").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let last = scrape(&s).await;
    assert_eq!(
        last.get(
            "baton_http_requests_total",
            &[("route", "/api/workflow/{id}"), ("status", "404")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_values_are_capped() {
    let s = TestServer::with_runtime_config(baton_runtime::RuntimeConfig {
        metrics_max_label_values: 3,
        ..Default::default()
    })
    .await;
    for i in 0..8 {
        assert!(s
            .poll_batch(&format!("invented_{i}"), 1, 0)
            .await
            .is_empty());
    }
    let m = scrape(&s).await;
    let types = m.label_values("baton_poll_requests_total", "task_type");
    assert!(
        types.len() <= 4,
        "three names and _other at most: {types:?}"
    );
    assert!(types.contains(&"_other".to_string()), "{types:?}");
    // Every poll is still counted.
    assert!(m.get("baton_poll_requests_total", &[("result", "empty")]) >= 8.0);
    assert!(
        m.get(
            "baton_metrics_label_overflow_total",
            &[("kind", "task_type")]
        ) >= 5.0
    );
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let s = TestServer::spawn().await;
    let made = s.get("/health").await;
    let id = made
        .headers()
        .get("x-request-id")
        .expect("made-up id")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let other = s.get("/health").await;
    assert_ne!(
        other
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap(),
        id
    );

    let kept = s
        .client
        .get(s.url("/health"))
        .header("x-request-id", "client-id-42")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers().get("x-request-id").unwrap(), "client-id-42");

    let odd = s
        .client
        .get(s.url("/health"))
        .header("x-request-id", "x".repeat(300))
        .send()
        .await
        .unwrap();
    let replaced = odd.headers().get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(
        replaced.len(),
        36,
        "an over-long client id is replaced: {replaced}"
    );
}

/// Eight workers long-poll one queue; four tasks arrive one at a time. Each arrival wakes
/// one waiting poll, not all of them: every poll queries the store once when it starts,
/// the four that get a task once more, and the four left once when they time out. (Waking
/// every waiting poll made the others query for nothing: 7 + 6 + 5 + 4 more.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_task_wakes_one_waiting_poll() {
    const POLLERS: usize = 8;
    const TASKS: usize = 4;
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("herd_flow", &["herd_task"]))
        .await;
    let mut polls = tokio::task::JoinSet::new();
    for w in 0..POLLERS {
        let url = s.url(&format!(
            "/tasks/poll/batch/herd_task?count=1&timeout=5000&workerid=w{w}"
        ));
        let client = s.client.clone();
        polls.spawn(async move {
            let resp = client.get(url).send().await.expect("poll");
            assert_eq!(resp.status(), StatusCode::OK);
            resp.json::<Vec<serde_json::Value>>().await.expect("tasks")
        });
    }
    let queries = |m: &Scrape, result: &str| {
        m.get(
            "baton_poll_queries_total",
            &[("task_type", "herd_task"), ("result", result)],
        )
    };
    // Every poll has queried once and waits.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while queries(&scrape(&s).await, "empty") < POLLERS as f64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the polls never waited"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut handed = 0;
    for _ in 0..TASKS {
        s.start("herd_flow", json!({})).await;
        let got = polls.join_next().await.expect("a poll").expect("poll task");
        assert_eq!(got.len(), 1, "a woken poll got the task");
        handed += 1;
    }
    while let Some(left) = polls.join_next().await {
        assert!(
            left.expect("poll task").is_empty(),
            "only {TASKS} tasks exist"
        );
    }
    let m = scrape(&s).await;
    assert_eq!(handed, TASKS);
    assert_eq!(queries(&m, "tasks"), TASKS as f64);
    let empty = queries(&m, "empty");
    // POLLERS first queries, one last query per poll that timed out, and a little room for
    // a wake that raced a query.
    let bound = (POLLERS + (POLLERS - TASKS) + 2) as f64;
    assert!(
        empty <= bound,
        "{empty} empty queries, at most {bound} expected"
    );
}
