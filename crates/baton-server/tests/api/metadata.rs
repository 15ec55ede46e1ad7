//! §2.2 / §2.3: task and workflow definitions.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn task_def_crud_fills_defaults() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "td_a"})).await;

    let td = s.get_json("/metadata/taskdefs/td_a").await;
    assert_eq!(td["name"], "td_a");
    assert_eq!(td["retryCount"], 3, "{td}");
    assert_eq!(td["timeoutPolicy"], "TIME_OUT_WF", "{td}");
    assert_eq!(td["responseTimeoutSeconds"], 3600, "{td}");
    assert_eq!(td["retryLogic"], "FIXED", "{td}");
    assert_eq!(td["retryDelaySeconds"], 60, "{td}");
    assert_eq!(td["timeoutSeconds"], 0, "{td}");

    // update (PUT single)
    let resp = s
        .put_json(
            "/metadata/taskdefs",
            &json!({"name": "td_a", "retryCount": 7, "description": "changed"}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let td = s.get_json("/metadata/taskdefs/td_a").await;
    assert_eq!(td["retryCount"], 7);
    assert_eq!(td["description"], "changed");

    // update of a missing def → 404, and it is not created
    let resp = s
        .put_json("/metadata/taskdefs", &json!({"name": "td_missing"}))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["td_missing"]).await;
    let resp = s.get("/metadata/taskdefs/td_missing").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["td_missing"]).await;

    // list
    s.register_task_def(json!({"name": "td_b"})).await;
    let list = as_array(s.get_json("/metadata/taskdefs").await);
    let mut names: Vec<&str> = list.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["td_a", "td_b"]);

    // delete, delete missing
    let resp = s.delete("/metadata/taskdefs/td_a").await;
    expect_status(resp, StatusCode::OK).await;
    let resp = s.get("/metadata/taskdefs/td_a").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["td_a"]).await;
    let resp = s.delete("/metadata/taskdefs/td_a").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["td_a"]).await;
    let list = as_array(s.get_json("/metadata/taskdefs").await);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "td_b");
}

#[tokio::test]
async fn workflow_def_crud_versions_and_conflicts() {
    let s = TestServer::spawn().await;
    let mut v1 = simple_workflow("wf_meta", &["t1"]);
    s.register_workflow(v1.clone()).await;

    // Default timeoutPolicy for a workflow def is ALERT_ONLY.
    let got = s.get_json("/metadata/workflow/wf_meta").await;
    assert_eq!(got["timeoutPolicy"], "ALERT_ONLY", "{got}");
    assert_eq!(got["version"], 1);

    // duplicate without overwrite → 409
    let resp = s.post_json("/metadata/workflow", &v1).await;
    expect_error(resp, StatusCode::CONFLICT, &["wf_meta"]).await;

    // with overwrite → 200 and the change is visible
    v1["description"] = json!("overwritten");
    let resp = s.post_json("/metadata/workflow?overwrite=true", &v1).await;
    expect_status(resp, StatusCode::OK).await;
    let got = s.get_json("/metadata/workflow/wf_meta?version=1").await;
    assert_eq!(got["description"], "overwritten");

    // version 2
    let mut v2 = simple_workflow("wf_meta", &["t1", "t2"]);
    v2["version"] = json!(2);
    s.register_workflow(v2).await;
    let latest = s.get_json("/metadata/workflow/wf_meta").await;
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["tasks"].as_array().unwrap().len(), 2);
    let first = s.get_json("/metadata/workflow/wf_meta?version=1").await;
    assert_eq!(first["version"], 1);
    assert_eq!(first["tasks"].as_array().unwrap().len(), 1);
    let resp = s.get("/metadata/workflow/wf_meta?version=9").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["wf_meta"]).await;

    // bulk PUT: another def and a new version of wf_meta
    let mut v3 = simple_workflow("wf_meta", &["t1"]);
    v3["version"] = json!(3);
    let other = simple_workflow("wf_other", &["t9"]);
    let resp = s.put_json("/metadata/workflow", &json!([v3, other])).await;
    let bulk = expect_json(resp, StatusCode::OK).await;
    let ok: Vec<&str> = bulk["bulkSuccessfulResults"]
        .as_array()
        .unwrap_or_else(|| panic!("{bulk}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        ok.contains(&"wf_meta") && ok.contains(&"wf_other"),
        "{bulk}"
    );
    assert!(
        bulk["bulkErrorResults"]
            .as_object()
            .is_none_or(|m| m.is_empty()),
        "{bulk}"
    );

    // list = all versions of all defs
    let all = as_array(s.get_json("/metadata/workflow").await);
    let mut pairs: Vec<(String, i64)> = all
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["version"].as_i64().unwrap(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            ("wf_meta".to_string(), 1),
            ("wf_meta".to_string(), 2),
            ("wf_meta".to_string(), 3),
            ("wf_other".to_string(), 1)
        ]
    );

    // names
    let mut names: Vec<String> = as_array(s.get_json("/metadata/workflow/names").await)
        .into_iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, vec!["wf_meta", "wf_other"]);

    // latest-versions
    let latest = as_array(s.get_json("/metadata/workflow/latest-versions").await);
    let meta = latest.iter().find(|d| d["name"] == "wf_meta").unwrap();
    assert_eq!(meta["version"], 3);
    assert_eq!(latest.len(), 2);

    // versions of one name
    let mut versions: Vec<i64> = as_array(s.get_json("/metadata/workflow/wf_meta/versions").await)
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    versions.sort();
    assert_eq!(versions, vec![1, 2, 3]);

    // names-and-versions
    let nv = s.get_json("/metadata/workflow/names-and-versions").await;
    assert_eq!(nv["wf_meta"].as_array().unwrap().len(), 3, "{nv}");
    assert_eq!(nv["wf_other"].as_array().unwrap().len(), 1, "{nv}");

    // delete one version; delete a missing one → 404
    let resp = s.delete("/metadata/workflow/wf_meta/3").await;
    expect_status(resp, StatusCode::OK).await;
    let latest = s.get_json("/metadata/workflow/wf_meta").await;
    assert_eq!(latest["version"], 2);
    let resp = s.delete("/metadata/workflow/wf_meta/3").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["wf_meta"]).await;
    let resp = s.delete("/metadata/workflow/nope/1").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["nope"]).await;
    let all = as_array(s.get_json("/metadata/workflow").await);
    assert_eq!(all.len(), 3);
}
