//! Cron schedules over loopback HTTP: the API, firing with the input, pause/resume/delete,
//! exactly one start per due time with two nodes on one SQLite file, and the catch-up
//! policies for times missed while no server was running. Every wait is bounded.

mod common;

use baton_store::Store;
use common::{expect_error, expect_json, expect_status, simple_workflow};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WF: &str = "sched_wf";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A server on a given SQLite file, stoppable (and restartable on the same file).
struct Node {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    runtime: Arc<baton_runtime::Runtime>,
}

impl Node {
    async fn spawn(db: &Path) -> Node {
        Self::spawn_with_clock(db, baton_runtime::Clock::System).await
    }

    async fn spawn_with_clock(db: &Path, clock: baton_runtime::Clock) -> Node {
        let store = baton_store::SqliteStore::open(baton_store::SqliteOptions {
            clock: clock.clone(),
            ..baton_store::SqliteOptions::new(db)
        })
        .expect("open sqlite store");
        let config = baton_runtime::RuntimeConfig {
            clock,
            ..Default::default()
        };
        let runtime = baton_runtime::Runtime::new(Arc::new(store), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(baton_server::serve(
            listener,
            runtime.clone(),
            baton_server::ServerConfig::default(),
            async {
                let _ = rx.await;
            },
        ));
        Node {
            base: format!("http://{addr}/api"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            stop: Some(tx),
            handle: Some(handle),
            runtime,
        }
    }

    /// Stops the server and waits until it (and its scheduler) has finished.
    async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(20), h)
                .await
                .expect("server stops within 20 s")
                .unwrap()
                .unwrap();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn put(&self, path: &str) -> reqwest::Response {
        self.client.put(self.url(path)).send().await.unwrap()
    }

    async fn delete(&self, path: &str) -> reqwest::Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    async fn register(&self) {
        let resp = self
            .post("/metadata/taskdefs", &json!([{"name": "sched_task"}]))
            .await;
        expect_status(resp, StatusCode::OK).await;
        let resp = self
            .post("/metadata/workflow", &simple_workflow(WF, &["sched_task"]))
            .await;
        expect_status(resp, StatusCode::OK).await;
    }

    async fn save(&self, body: Value) -> Value {
        expect_json(
            self.post("/scheduler/schedules", &body).await,
            StatusCode::OK,
        )
        .await
    }

    async fn schedule(&self, name: &str) -> Value {
        expect_json(
            self.get(&format!("/scheduler/schedules/{name}")).await,
            StatusCode::OK,
        )
        .await
    }

    /// Inputs of the running executions of the scheduled workflow.
    async fn run_inputs(&self) -> Vec<Value> {
        let ids: Vec<String> = serde_json::from_value(
            expect_json(
                self.get(&format!("/workflow/running/{WF}")).await,
                StatusCode::OK,
            )
            .await,
        )
        .unwrap();
        let mut out = Vec::new();
        for id in ids {
            let wf = expect_json(
                self.get(&format!("/workflow/{id}?includeTasks=false"))
                    .await,
                StatusCode::OK,
            )
            .await;
            out.push(wf["input"].clone());
        }
        out
    }

    /// Waits (at most `max`) until `pred` holds for the run inputs; answers them.
    async fn wait_runs(&self, max: Duration, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + max;
        loop {
            let runs = self.run_inputs().await;
            if pred(&runs) {
                return runs;
            }
            assert!(
                Instant::now() < deadline,
                "condition not met within {max:?}; runs: {runs:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn schedule_body(name: &str, cron: &str, input: Value) -> Value {
    json!({
        "name": name,
        "cronExpression": cron,
        "startWorkflowRequest": {"name": WF, "input": input},
    })
}

fn tag_runs<'a>(runs: &'a [Value], tag: &str) -> Vec<&'a Value> {
    runs.iter().filter(|r| r["tag"] == json!(tag)).collect()
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("sched.db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_get_pause_resume_delete_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::spawn(&db_path(&dir)).await;
    node.register().await;

    // Bad input names the field and stores nothing.
    let resp = node
        .post(
            "/scheduler/schedules",
            &schedule_body("bad", "not a cron", json!({})),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["cronExpression"]).await;
    let resp = node
        .post(
            "/scheduler/schedules",
            &schedule_body("bad", "0 61 * * * *", json!({})),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["cronExpression"]).await;
    let mut body = schedule_body("bad", "0 * * * * *", json!({}));
    body["zoneId"] = json!("Mars/Olympus_Mons");
    let resp = node.post("/scheduler/schedules", &body).await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["zoneId"]).await;
    let mut body = schedule_body("bad", "0 * * * * *", json!({}));
    body["startWorkflowRequest"]["name"] = json!("no_such_workflow");
    let resp = node.post("/scheduler/schedules", &body).await;
    expect_error(
        resp,
        StatusCode::NOT_FOUND,
        &["startWorkflowRequest.name", "no_such_workflow"],
    )
    .await;
    let resp = node
        .post(
            "/scheduler/schedules",
            &json!({"name": "bad", "cronExpression": "0 * * * * *"}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["startWorkflowRequest"]).await;
    let mut body = schedule_body("bad", "0 * * * * *", json!({}));
    body["catchupPolicy"] = json!("SOMETIMES");
    let resp = node.post("/scheduler/schedules", &body).await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["catchupPolicy"]).await;
    let resp = node.get("/scheduler/schedules/bad").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["bad"]).await;

    // Create: hourly, 6-field; and a 5-field one.
    let before = now_ms();
    let saved = node
        .save(schedule_body("hourly", "0 0 * * * *", json!({"k": "v"})))
        .await;
    let next = saved["nextRunTime"].as_i64().expect("nextRunTime");
    assert!(next > before && next <= before + 3_600_000, "{saved}");
    assert_eq!(next % 3_600_000, 0, "{saved}");
    assert_eq!(saved["catchupPolicy"], json!("ONE"));
    assert_eq!(saved["runCatchupScheduleInstances"], json!(false));
    assert_eq!(saved["zoneId"], json!("UTC"));
    assert_eq!(saved["paused"], json!(false));
    assert!(saved["createTime"].as_i64().unwrap() >= before);
    let five = node
        .save(schedule_body("daily", "30 2 * * *", json!({})))
        .await;
    assert_eq!(
        five["nextRunTime"].as_i64().unwrap() % 86_400_000,
        (2 * 60 + 30) * 60_000,
        "{five}"
    );

    let list = expect_json(node.get("/scheduler/schedules").await, StatusCode::OK).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["daily", "hourly"]);
    assert!(list[1]["nextRunTime"].as_i64().is_some());
    let filtered = expect_json(
        node.get("/scheduler/schedules?workflowName=other").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(filtered, json!([]));

    let got = node.schedule("hourly").await;
    assert_eq!(got["nextRunTime"].as_i64(), Some(next));
    assert_eq!(got["startWorkflowRequest"]["input"], json!({"k": "v"}));
    assert_eq!(got["cronExpression"], json!("0 0 * * * *"));

    // Pause (PUT, as Baton documents) and resume (GET, as the Orkes SDK calls it).
    expect_status(
        node.put("/scheduler/schedules/hourly/pause").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(node.schedule("hourly").await["paused"], json!(true));
    expect_status(
        node.get("/scheduler/schedules/hourly/resume").await,
        StatusCode::OK,
    )
    .await;
    let resumed = node.schedule("hourly").await;
    assert_eq!(resumed["paused"], json!(false));
    assert!(resumed["nextRunTime"].as_i64().is_some());
    let resp = node.put("/scheduler/schedules/nope/pause").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["nope"]).await;

    // Update keeps createTime, recomputes the next run.
    let updated = node
        .save(schedule_body("hourly", "0 */5 * * * *", json!({})))
        .await;
    assert_eq!(updated["createTime"], saved["createTime"]);
    assert_eq!(updated["nextRunTime"].as_i64().unwrap() % 300_000, 0);

    // nextFewSchedules.
    let few = expect_json(
        node.get("/scheduler/nextFewSchedules?cronExpression=0%200%20*%20*%20*%20*&scheduleStartTime=0&limit=3")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(few, json!([0, 3_600_000, 7_200_000]));
    let few = expect_json(
        node.get("/scheduler/nextFewSchedules?cronExpression=0%209%20*%20*%20*&scheduleStartTime=1&scheduleEndTime=200000000&zoneId=%2B02:00&limit=5")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(few, json!([25_200_000, 111_600_000, 198_000_000]));
    // A named zone follows its daylight saving time: 09:00 in Berlin is 08:00 UTC on
    // 2025-01-01 and 07:00 UTC on 2025-07-01.
    for (start, utc_hour) in [(1_735_689_600_000_i64, 8), (1_751_328_000_000, 7)] {
        let few = expect_json(
            node.get(&format!("/scheduler/nextFewSchedules?cronExpression=0%209%20*%20*%20*&scheduleStartTime={start}&zoneId=Europe/Berlin&limit=1"))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(few, json!([start + utc_hour * 3_600_000]), "from {start}");
    }
    let few = expect_json(
        node.get("/scheduler/nextFewSchedules?cronExpression=*%20*%20*%20*%20*")
            .await,
        StatusCode::OK,
    )
    .await;
    // Conductor's default limit is 5.
    assert_eq!(few.as_array().unwrap().len(), 5);
    let resp = node
        .get("/scheduler/nextFewSchedules?cronExpression=bad")
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["cronExpression"]).await;
    let resp = node.get("/scheduler/nextFewSchedules").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["cronExpression"]).await;
    let resp = node
        .get("/scheduler/nextFewSchedules?cronExpression=*%20*%20*%20*%20*&limit=x")
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["limit"]).await;

    // Delete.
    expect_status(
        node.delete("/scheduler/schedules/hourly").await,
        StatusCode::OK,
    )
    .await;
    let resp = node.get("/scheduler/schedules/hourly").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["hourly"]).await;
    // Deleting an unknown schedule is a no-op, as in Conductor.
    expect_status(
        node.delete("/scheduler/schedules/hourly").await,
        StatusCode::OK,
    )
    .await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_with_input_and_stops_when_paused_or_deleted() {
    // On a manual clock a due time comes only when the test moves time, so "no new runs"
    // is shown by moving time past several due times and firing what is due.
    let dir = tempfile::tempdir().unwrap();
    let clock = baton_runtime::Clock::manual_from_now();
    let node = Node::spawn_with_clock(&db_path(&dir), clock.clone()).await;
    node.register().await;
    node.save(schedule_body(
        "every_minute",
        "0 * * * * *",
        json!({"tag": "s", "n": 1}),
    ))
    .await;
    let minute = Duration::from_secs(60);
    for _ in 0..2 {
        clock.advance(minute);
        node.runtime.fire_due_schedules().await;
    }
    let runs = node.run_inputs().await;
    assert_eq!(runs.len(), 2, "one run per minute: {runs:?}");
    let mut scheduled = BTreeSet::new();
    for input in &runs {
        assert_eq!(input["tag"], json!("s"), "{input}");
        assert_eq!(input["n"], json!(1), "{input}");
        let at = input["_scheduledTime"].as_i64().expect("_scheduledTime");
        let exec = input["_executionTime"].as_i64().expect("_executionTime");
        assert_eq!(at % 60_000, 0, "{input}");
        assert!(exec >= at, "{input}");
        assert!(scheduled.insert(at), "two runs for one due time: {runs:?}");
    }

    // Paused: five due times pass, no new runs.
    expect_status(
        node.put("/scheduler/schedules/every_minute/pause").await,
        StatusCode::OK,
    )
    .await;
    clock.advance(minute * 5);
    node.runtime.fire_due_schedules().await;
    assert_eq!(node.run_inputs().await.len(), 2);

    // Resumed: the next due time runs (the paused ones are not caught up).
    expect_status(
        node.put("/scheduler/schedules/every_minute/resume").await,
        StatusCode::OK,
    )
    .await;
    clock.advance(minute);
    node.runtime.fire_due_schedules().await;
    assert_eq!(node.run_inputs().await.len(), 3);

    // Deleted: no new runs.
    expect_status(
        node.delete("/scheduler/schedules/every_minute").await,
        StatusCode::OK,
    )
    .await;
    clock.advance(minute * 5);
    node.runtime.fire_due_schedules().await;
    let runs = node.run_inputs().await;
    assert_eq!(runs.len(), 3, "{runs:?}");
    let all: BTreeSet<i64> = runs
        .iter()
        .map(|r| r["_scheduledTime"].as_i64().unwrap())
        .collect();
    assert_eq!(all.len(), runs.len(), "a due time ran twice: {runs:?}");
    node.shutdown().await;
}

/// A schedule in Spring's `L-n` form fires on the day it names in each month, and on no
/// day between: three days before the last, 28 January and then 25 February 2025.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_days_before_the_last_of_each_month() {
    let dir = tempfile::tempdir().unwrap();
    // 2025-01-27T12:00:00Z.
    let clock = baton_runtime::Clock::manual(1_737_979_200_000);
    let node = Node::spawn_with_clock(&db_path(&dir), clock.clone()).await;
    node.register().await;
    node.save(schedule_body(
        "from_end",
        "0 0 12 L-3 * ?",
        json!({"tag": "l3"}),
    ))
    .await;
    let day = Duration::from_secs(86_400);
    let scheduled = |runs: Vec<Value>| -> Vec<i64> {
        let mut at: Vec<i64> = runs
            .iter()
            .map(|r| r["_scheduledTime"].as_i64().expect("_scheduledTime"))
            .collect();
        at.sort();
        at
    };
    let jan_28 = 1_738_065_600_000;
    let feb_25 = 1_740_484_800_000;
    clock.advance(day);
    node.runtime.fire_due_schedules().await;
    assert_eq!(scheduled(node.run_inputs().await), vec![jan_28]);
    // Day by day to 24 February: nothing more is due.
    for _ in 0..27 {
        clock.advance(day);
        node.runtime.fire_due_schedules().await;
    }
    assert_eq!(scheduled(node.run_inputs().await), vec![jan_28]);
    clock.advance(day);
    node.runtime.fire_due_schedules().await;
    assert_eq!(scheduled(node.run_inputs().await), vec![jan_28, feb_25]);
    let got = node.schedule("from_end").await;
    assert_eq!(
        got["nextRunTime"],
        json!(1_743_163_200_000_i64),
        "28 March: {got}"
    );
    node.shutdown().await;
}

/// Two nodes (two scheduler loops, two store handles) on one SQLite file: every due time of
/// every schedule starts exactly one workflow, and under ALL none is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_fire_each_due_time_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::spawn(&db_path(&dir)).await;
    let b = Node::spawn(&db_path(&dir)).await;
    a.register().await;
    let tags = ["x", "y", "z"];
    for tag in tags {
        let mut body = schedule_body(&format!("race_{tag}"), "*/1 * * * * *", json!({"tag": tag}));
        body["catchupPolicy"] = json!("ALL");
        // Alternate the node that writes the schedule.
        let node = if tag == "y" { &b } else { &a };
        node.save(body).await;
    }
    let runs = a
        .wait_runs(Duration::from_secs(30), |r| {
            tags.iter().all(|t| tag_runs(r, t).len() >= 5)
        })
        .await;
    for tag in tags {
        expect_status(
            b.put(&format!("/scheduler/schedules/race_{tag}/pause"))
                .await,
            StatusCode::OK,
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let runs_after = b.run_inputs().await;
    assert!(runs_after.len() >= runs.len());
    for tag in tags {
        let mut per_time: BTreeMap<i64, usize> = BTreeMap::new();
        for r in tag_runs(&runs_after, tag) {
            *per_time
                .entry(r["_scheduledTime"].as_i64().unwrap())
                .or_default() += 1;
        }
        assert!(
            per_time.values().all(|n| *n == 1),
            "schedule {tag}: a due time started more than once: {per_time:?}"
        );
        let times: Vec<i64> = per_time.keys().copied().collect();
        assert!(times.len() >= 5, "{tag}: {times:?}");
        for w in times.windows(2) {
            assert_eq!(
                w[1] - w[0],
                1000,
                "{tag}: a due time was skipped: {times:?}"
            );
        }
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// Times missed while no server ran: ALL starts each, ONE starts one (for the latest),
/// NONE starts none (they are more than a minute old). All then wait for the next due time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_after_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    // Yearly, at 00:00:00 on January 1st (UTC).
    let cron = "0 0 0 1 1 *";
    let parsed = baton_runtime::parse_cron(cron).unwrap();
    let utc = baton_runtime::parse_zone("UTC").unwrap();
    let missed_from = 1_577_836_800_000; // 2020-01-01T00:00:00Z
    let now = now_ms();
    let mut missed = vec![missed_from];
    missed.extend(
        baton_runtime::next_run_times(&parsed, utc, missed_from, None, None, 100)
            .into_iter()
            .take_while(|t| *t <= now),
    );
    let next_year = baton_runtime::next_run_times(&parsed, utc, now, None, None, 1)[0];
    assert!(missed.len() >= 7, "{missed:?}");
    assert!(
        now - missed.last().unwrap() > 61_000,
        "run this test more than a minute after New Year"
    );

    let node = Node::spawn(&path).await;
    node.register().await;
    for policy in ["ALL", "ONE", "NONE"] {
        let mut body = schedule_body(&format!("catchup_{policy}"), cron, json!({"tag": policy}));
        body["catchupPolicy"] = json!(policy);
        let saved = node.save(body).await;
        assert_eq!(saved["nextRunTime"].as_i64(), Some(next_year));
        assert_eq!(saved["runCatchupScheduleInstances"], json!(policy == "ALL"));
    }
    node.shutdown().await;

    // While the server is down, the schedules' next runs fall years into the past.
    {
        let store = baton_store::SqliteStore::open_path(&path).unwrap();
        for policy in ["ALL", "ONE", "NONE"] {
            let mut s = store
                .get_schedule(&format!("catchup_{policy}"))
                .await
                .unwrap()
                .unwrap();
            s.next_run_time = Some(missed_from);
            store.put_schedule(s).await.unwrap();
        }
        let due = store.due_schedules(now_ms(), 10).await.unwrap();
        assert_eq!(due.len(), 3);
    }

    let node = Node::spawn(&path).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut done = true;
        for policy in ["ALL", "ONE", "NONE"] {
            let s = node.schedule(&format!("catchup_{policy}")).await;
            done &= s["nextRunTime"].as_i64() == Some(next_year);
        }
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "catch-up did not finish in 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runs = node.run_inputs().await;
    let times = |tag: &str| -> Vec<i64> {
        let mut t: Vec<i64> = tag_runs(&runs, tag)
            .iter()
            .map(|r| r["_scheduledTime"].as_i64().unwrap())
            .collect();
        t.sort();
        t
    };
    assert_eq!(times("ALL"), missed);
    assert_eq!(times("ONE"), vec![*missed.last().unwrap()]);
    assert_eq!(times("NONE"), Vec::<i64>::new());

    // A restart does not fire them again.
    node.shutdown().await;
    let node = Node::spawn(&path).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(node.run_inputs().await.len(), runs.len());
    node.shutdown().await;
}
