//! The limits on bulk calls and scans (`--max-bulk-ids`, `--max-correlated-executions`,
//! `--search-by-tasks-scan-limit`, `--max-requeue-tasks`, `--search-count-limit`) bound
//! what one request does.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn bulk_calls_and_scans_stop_at_their_configured_limits() {
    let s = TestServer::with_runtime_config(baton_runtime::RuntimeConfig {
        max_bulk_ids: 2,
        max_correlated_executions: 2,
        search_by_tasks_scan_limit: 2,
        max_requeue_tasks: 2,
        ..Default::default()
    })
    .await;
    s.register_workflow(simple_workflow("lim_scan", &["lim_scan_t"]))
        .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let resp = s
            .post_json("/workflow/lim_scan?correlationId=c1", &json!({}))
            .await;
        ids.push(expect_status(resp, StatusCode::OK).await);
    }

    // Three ids in a bulk call, a batch lookup or a schedule bulk call: a 400, nothing done.
    let resp = s.put_json("/workflow/bulk/pause", &json!(ids)).await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["more than 2 workflows"]).await;
    assert_eq!(s.workflow(&ids[0]).await["status"], "RUNNING");
    let resp = s
        .post_json("/workflow/lim_scan/correlated", &json!(["a", "b", "c"]))
        .await;
    expect_error(
        resp,
        StatusCode::BAD_REQUEST,
        &["limit is 2", "--max-bulk-ids"],
    )
    .await;
    let resp = s
        .put_json("/scheduler/bulk/pause", &json!(["a", "b", "c"]))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["more than 2 schedules"]).await;
    // Two are within the limit.
    let resp = s.put_json("/workflow/bulk/pause", &json!(ids[..2])).await;
    expect_status(resp, StatusCode::OK).await;

    // Scans read at most their limit.
    let found = as_array(
        s.get_json("/workflow/lim_scan/correlated/c1?includeClosed=true")
            .await,
    );
    assert_eq!(found.len(), 2, "{found:?}");
    let by_tasks = s
        .get_json("/workflow/search-by-tasks?query=taskDefName%3Dlim_scan_t")
        .await;
    assert_eq!(by_tasks["totalHits"], 2, "{by_tasks}");
    let resp = s
        .post_json("/tasks/queue/requeue/lim_scan_t", &json!({}))
        .await;
    assert_eq!(expect_status(resp, StatusCode::OK).await, "2");
}

#[tokio::test]
async fn search_totals_stop_counting_at_the_count_limit() {
    let s = TestServer::with_runtime_config(baton_runtime::RuntimeConfig {
        search_count_limit: 2,
        ..Default::default()
    })
    .await;
    s.register_workflow(simple_workflow("lim_count", &["lim_count_t"]))
        .await;
    for _ in 0..4 {
        let resp = s
            .post_json("/workflow/lim_count?correlationId=c1", &json!({}))
            .await;
        expect_status(resp, StatusCode::OK).await;
    }
    // Task search counts its matches: two, then it stops.
    let tasks = s
        .get_json("/tasks/search?query=taskType%3Dlim_count_t&size=1")
        .await;
    assert_eq!(tasks["totalHits"], 2, "{tasks}");
    assert_eq!(as_array(tasks["results"].clone()).len(), 1, "{tasks}");
    // A page is whole, and the total never less than what it shows.
    let all = s
        .get_json("/tasks/search?query=taskType%3Dlim_count_t&size=10")
        .await;
    assert_eq!(all["totalHits"], 4, "{all}");
    assert_eq!(as_array(all["results"].clone()).len(), 4, "{all}");
    // A page past the cap reports at least the rows up to its end.
    let deep = s
        .get_json("/tasks/search?query=taskType%3Dlim_count_t&start=2&size=1")
        .await;
    assert_eq!(deep["totalHits"], 3, "{deep}");
    // A workflow search beyond type and status counts its matches too.
    let by_correlation = s
        .get_json("/workflow/search?query=correlationId%3Dc1&size=1")
        .await;
    assert_eq!(by_correlation["totalHits"], 2, "{by_correlation}");
    // Totals of a search by type come from kept counts: exact.
    let by_type = s
        .get_json("/workflow/search?query=workflowType%3Dlim_count&size=1")
        .await;
    assert_eq!(by_type["totalHits"], 4, "{by_type}");
    // A lookup is not a search: every execution of the correlation id.
    let found = as_array(s.get_json("/workflow/lim_count/correlated/c1").await);
    assert_eq!(found.len(), 4, "{found:?}");
}
