//! Scheduler routes beside CRUD: search, executions, bulk pause/resume, pause reason,
//! deleting an unknown schedule, and nextFewSchedules' default.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn save(s: &TestServer, name: &str, workflow: &str, cron: &str, paused: bool) {
    let resp = s
        .post_json(
            "/scheduler/schedules",
            &json!({
                "name": name, "cronExpression": cron, "paused": paused,
                "startWorkflowRequest": {"name": workflow, "version": 1}
            }),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
}

async fn put(s: &TestServer, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = s.client.put(s.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("PUT")
}

fn names(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {v}"))
        .iter()
        .map(|x| x["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn search_bulk_and_pause_reason() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("sch_a", &["sch_t"]))
        .await;
    s.register_workflow(simple_workflow("sch_b", &["sch_t"]))
        .await;
    save(&s, "nightly_a", "sch_a", "0 0 3 * * *", false).await;
    save(&s, "hourly_a", "sch_a", "0 0 * * * *", true).await;
    save(&s, "nightly_b", "sch_b", "0 0 3 * * *", false).await;

    let all = s
        .get_json("/scheduler/schedules/search?sort=name:DESC")
        .await;
    assert_eq!(all["totalHits"], 3);
    assert_eq!(names(&all), ["nightly_b", "nightly_a", "hourly_a"]);
    let a = s
        .get_json("/scheduler/schedules/search?workflowName=sch_a&sort=name")
        .await;
    assert_eq!(names(&a), ["hourly_a", "nightly_a"]);
    let nightly = s
        .get_json("/scheduler/schedules/search?scheduleName=nightly*&size=1")
        .await;
    assert_eq!(nightly["totalHits"], 2);
    assert_eq!(nightly["results"].as_array().map(Vec::len), Some(1));
    let paused = s.get_json("/scheduler/schedules/search?paused=true").await;
    assert_eq!(names(&paused), ["hourly_a"]);
    let free = s
        .get_json("/scheduler/schedules/search?freeText=SCH_B")
        .await;
    assert_eq!(names(&free), ["nightly_b"]);
    let resp = s.get("/scheduler/schedules/search?sort=colour").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["colour"]).await;
    let resp = s.get("/scheduler/schedules/search?paused=sometimes").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["paused"]).await;

    // Pause with a reason; resume clears it.
    expect_status(
        put(
            &s,
            "/scheduler/schedules/nightly_a/pause?reason=maintenance",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let got = s.get_json("/scheduler/schedules/nightly_a").await;
    assert_eq!(got["paused"], true);
    assert_eq!(got["pausedReason"], "maintenance");
    expect_status(
        put(&s, "/scheduler/schedules/nightly_a/resume", None).await,
        StatusCode::OK,
    )
    .await;
    let got = s.get_json("/scheduler/schedules/nightly_a").await;
    assert_eq!(got["paused"], false);
    assert!(got.get("pausedReason").is_none(), "{got}");

    // Bulk: each name succeeds or names its error.
    let r = expect_json(
        put(
            &s,
            "/scheduler/bulk/pause",
            Some(json!(["nightly_a", "nightly_b", "ghost"])),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        r["bulkSuccessfulResults"],
        json!(["nightly_a", "nightly_b"])
    );
    assert!(r["bulkErrorResults"]["ghost"]
        .as_str()
        .is_some_and(|m| m.contains("ghost")));
    let paused = s.get_json("/scheduler/schedules/search?paused=true").await;
    assert_eq!(paused["totalHits"], 3);
    let r = expect_json(
        put(&s, "/scheduler/bulk/resume", Some(json!(["nightly_a"]))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["bulkSuccessfulResults"], json!(["nightly_a"]));
    let resp = put(&s, "/scheduler/bulk/resume", Some(json!("nightly_a"))).await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["body"]).await;

    // Deleting an unknown schedule is a no-op.
    expect_status(s.delete("/scheduler/schedules/ghost").await, StatusCode::OK).await;
    // Five next times by default.
    let few = s
        .get_json("/scheduler/nextFewSchedules?cronExpression=0%200%203%20*%20*%20*")
        .await;
    assert_eq!(few.as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn executions_list_the_runs_a_schedule_started() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("sch_run", &["sch_rt"]))
        .await;
    save(&s, "every_second", "sch_run", "*/1 * * * * *", false).await;
    save(&s, "never_due", "sch_run", "0 0 3 1 1 *", false).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let found = loop {
        let v = s
            .get_json("/scheduler/search/executions?query=scheduleName%3Devery_second")
            .await;
        if v["totalHits"].as_i64().unwrap_or(0) >= 1 {
            break v;
        }
        assert!(Instant::now() < deadline, "no run recorded in 15 s: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    expect_status(
        put(&s, "/scheduler/schedules/every_second/pause", None).await,
        StatusCode::OK,
    )
    .await;
    let run = &found["results"][0];
    assert_eq!(run["scheduleName"], "every_second");
    assert_eq!(run["workflowName"], "sch_run");
    assert_eq!(run["state"], "EXECUTED");
    assert!(run["scheduledTime"].as_i64().is_some(), "{run}");
    let wf = s.workflow(run["workflowId"].as_str().unwrap()).await;
    assert_eq!(wf["workflowName"], "sch_run");

    let none = s
        .get_json("/scheduler/search/executions?query=scheduleName%3Dnever_due")
        .await;
    assert_eq!(none["totalHits"], 0);
    let by_wf = s
        .get_json("/scheduler/search/executions?query=workflowName%20IN%20(sch_run,other)")
        .await;
    assert!(by_wf["totalHits"].as_i64().unwrap_or(0) >= 1);
    let resp = s
        .get("/scheduler/search/executions?query=colour%3Dblue")
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["colour"]).await;
}
