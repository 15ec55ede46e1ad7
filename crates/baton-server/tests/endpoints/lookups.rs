//! Correlation-id lookups, a workflow's tasks page by page, search by tasks.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn start_correlated(s: &TestServer, name: &str, cid: &str) -> String {
    let resp = s
        .post_json(&format!("/workflow/{name}?correlationId={cid}"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await
}

#[tokio::test]
async fn correlated_lookups_by_one_id_and_by_a_list() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("corr_wf", &["corr_task"]))
        .await;
    s.register_workflow(simple_workflow("corr_other", &["corr_task"]))
        .await;
    let a = start_correlated(&s, "corr_wf", "c1").await;
    let b = start_correlated(&s, "corr_wf", "c1").await;
    let c = start_correlated(&s, "corr_wf", "c2").await;
    // Same correlation id, another workflow name: never listed.
    start_correlated(&s, "corr_other", "c1").await;
    expect_status(s.delete(&format!("/workflow/{b}")).await, StatusCode::OK).await;

    // Open executions only, without tasks, by default.
    let open = as_array(s.get_json("/workflow/corr_wf/correlated/c1").await);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["workflowId"], a.as_str());
    assert_eq!(open[0]["tasks"], json!([]));

    let all = as_array(
        s.get_json("/workflow/corr_wf/correlated/c1?includeClosed=true&includeTasks=true")
            .await,
    );
    let mut ids: Vec<&str> = all
        .iter()
        .filter_map(|w| w["workflowId"].as_str())
        .collect();
    ids.sort_unstable();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert!(all
        .iter()
        .all(|w| w["tasks"].as_array().is_some_and(|t| !t.is_empty())));

    let map = s
        .post_json(
            "/workflow/corr_wf/correlated?includeClosed=true",
            &json!(["c1", "c2", "c3"]),
        )
        .await;
    let map = expect_json(map, StatusCode::OK).await;
    assert_eq!(map["c1"].as_array().map(Vec::len), Some(2), "{map}");
    assert_eq!(map["c2"][0]["workflowId"], c.as_str());
    assert_eq!(map["c3"], json!([]));

    // Errors: a body that is not a list, a bad flag.
    let resp = s
        .post_json("/workflow/corr_wf/correlated", &json!({"c": 1}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["body"]).await;
    let resp = s
        .get("/workflow/corr_wf/correlated/c1?includeClosed=maybe")
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["includeClosed"]).await;
}

#[tokio::test]
async fn workflow_tasks_page_and_filter_by_status() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("pages_wf", &["pg_a", "pg_b", "pg_c"]))
        .await;
    let id = s.start("pages_wf", json!({})).await;
    let t = s.poll_one("pg_a").await;
    s.complete(&t, json!({})).await;
    s.wait_for(
        &id,
        "pg_b scheduled",
        std::time::Duration::from_secs(10),
        |w| w["tasks"].as_array().is_some_and(|t| t.len() == 2),
    )
    .await;

    let page = s.get_json(&format!("/workflow/{id}/tasks")).await;
    assert_eq!(page["totalHits"], 2, "{page}");
    assert_eq!(page["results"][0]["referenceTaskName"], "pg_a_ref");
    assert_eq!(page["results"][1]["status"], "SCHEDULED");

    // Status filters are case-insensitive, repeatable and comma-separated.
    let done = s
        .get_json(&format!("/workflow/{id}/tasks?status=completed"))
        .await;
    assert_eq!(done["totalHits"], 1);
    assert_eq!(done["results"][0]["status"], "COMPLETED");
    let both = s
        .get_json(&format!(
            "/workflow/{id}/tasks?status=COMPLETED&status=scheduled"
        ))
        .await;
    assert_eq!(both["totalHits"], 2);
    let both = s
        .get_json(&format!(
            "/workflow/{id}/tasks?status=COMPLETED,SCHEDULED&start=1&count=1"
        ))
        .await;
    assert_eq!(both["totalHits"], 2);
    assert_eq!(both["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(both["results"][0]["referenceTaskName"], "pg_b_ref");

    let resp = s.get(&format!("/workflow/{id}/tasks?status=BOGUS")).await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["status", "BOGUS"]).await;
    let resp = s.get(&format!("/workflow/{id}/tasks?count=x")).await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["count"]).await;
    let resp = s.get("/workflow/no-such-id/tasks").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["no-such-id"]).await;
}

#[tokio::test]
async fn search_by_tasks_finds_the_workflows_of_matching_tasks() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("sbt_one", &["sbt_x"]))
        .await;
    s.register_workflow(simple_workflow("sbt_two", &["sbt_y"]))
        .await;
    let one = s.start("sbt_one", json!({})).await;
    let _two = s.start("sbt_two", json!({})).await;
    let one_b = s.start("sbt_one", json!({})).await;

    let found = s
        .get_json("/workflow/search-by-tasks?query=taskDefName%3Dsbt_x")
        .await;
    assert_eq!(found["totalHits"], 2, "{found}");
    let mut ids: Vec<&str> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["workflowId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![one.as_str(), one_b.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    // Summaries carry input as a string; v2 carries whole workflows.
    assert!(found["results"][0]["input"].is_string());
    let v2 = s
        .get_json("/workflow/search-by-tasks-v2?query=taskDefName%3Dsbt_x&size=1")
        .await;
    assert_eq!(v2["totalHits"], 2);
    assert_eq!(v2["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(v2["results"][0]["workflowName"], "sbt_one");

    let resp = s.get("/workflow/search-by-tasks?query=status%3DNOPE").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["NOPE"]).await;
    let resp = s.get("/workflow/search-by-tasks?size=9999").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["size"]).await;
}

#[tokio::test]
async fn external_storage_location_names_the_path_and_no_uri() {
    let s = TestServer::spawn().await;
    for base in ["/workflow", "/tasks"] {
        let v = s
            .get_json(&format!(
                "{base}/externalstoragelocation?path=a/b&operation=WRITE&payloadType=TASK_OUTPUT"
            ))
            .await;
        assert_eq!(v["path"], "a/b");
        assert!(v["uri"].is_null(), "{v}");
        let resp = s
            .get(&format!(
                "{base}/external-storage-location?operation=READ&payloadType=X"
            ))
            .await;
        expect_error(resp, StatusCode::BAD_REQUEST, &["path"]).await;
        let resp = s
            .get(&format!(
                "{base}/externalstoragelocation?path=p&operation=EAT&payloadType=X"
            ))
            .await;
        expect_error(resp, StatusCode::BAD_REQUEST, &["operation"]).await;
    }
}

/// The status summary: id, status and correlation id, output and variables on request,
/// never the input (read without it from the store); Conductor's message for an unknown id.
#[tokio::test]
async fn the_status_summary_shows_the_state_without_the_input() {
    let s = TestServer::spawn().await;
    let mut def = simple_workflow("summary_wf", &["summary_task"]);
    def["outputParameters"] = json!({"answer": "${summary_task_ref.output.answer}"});
    def["variables"] = json!({"stage": "built"});
    s.register_workflow(def).await;
    let resp = s
        .post_json(
            "/workflow/summary_wf?correlationId=sum-1",
            &json!({"files": ["a-large-input"]}),
        )
        .await;
    let id = expect_status(resp, StatusCode::OK).await;
    let running = s.get_json(&format!("/workflow/{id}/status")).await;
    assert_eq!(
        running,
        json!({"workflowId": id, "status": "RUNNING", "correlationId": "sum-1"})
    );
    let task = s.poll_one("summary_task").await;
    s.complete(&task, json!({"answer": 42})).await;
    s.wait_for_status(&id, "COMPLETED", std::time::Duration::from_secs(10))
        .await;
    let done = s
        .get_json(&format!(
            "/workflow/{id}/status?includeOutput=true&includeVariables=true"
        ))
        .await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["output"], json!({"answer": 42}));
    assert_eq!(done["variables"], json!({"stage": "built"}));
    assert!(done.get("input").is_none(), "{done}");
    expect_error(
        s.get("/workflow/no-such-run/status").await,
        StatusCode::NOT_FOUND,
        &["Workflow with id: no-such-run not found."],
    )
    .await;
}
