//! The search grammar over HTTP: the queries Conductor's UI (ui-next) and SDKs send for
//! workflow and task search, and the 400s for what it cannot read.

mod common;

use common::{expect_error, simple_workflow, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Percent-encodes every byte but ASCII letters and digits.
fn enc(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r[key].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn workflow_search_reads_status_lists_quoted_types_wildcards_and_time_ranges() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("gram_alpha", &["gram_t"]))
        .await;
    s.register_workflow(simple_workflow("gram_beta", &["gram_t"]))
        .await;
    let a1 = s.start("gram_alpha", json!({})).await;
    let a2 = s.start("gram_alpha", json!({})).await;
    let b1 = s.start("gram_beta", json!({})).await;
    let resp = s.delete(&format!("/workflow/{a2}?reason=x")).await;
    assert!(resp.status().is_success());

    let q = "status IN (RUNNING,TERMINATED) AND workflowType = 'gram_alpha' AND startTime > 0";
    let found = s
        .get_json(&format!("/workflow/search?query={}", enc(q)))
        .await;
    assert_eq!(found["totalHits"], 2, "{found}");
    let mut got = ids(&found, "workflowId");
    got.sort();
    let mut want = vec![a1.clone(), a2.clone()];
    want.sort();
    assert_eq!(got, want);

    // Lower-case `in` without a space, a wildcard on the type.
    let q = "status in(RUNNING) AND workflowType = 'gram_*'";
    let found = s
        .get_json(&format!("/workflow/search?query={}", enc(q)))
        .await;
    let mut got = ids(&found, "workflowId");
    got.sort();
    let mut want = vec![a1.clone(), b1.clone()];
    want.sort();
    assert_eq!(got, want, "{found}");

    // An end time is set only on the terminated one; the bounds are exclusive.
    let term = s.workflow(&a2).await;
    let end = term["endTime"].as_i64().expect("endTime");
    let q = format!("endTime > {} AND endTime < {}", end - 1, end + 1);
    let found = s
        .get_json(&format!("/workflow/search?query={}", enc(&q)))
        .await;
    assert_eq!(ids(&found, "workflowId"), vec![a2.clone()], "{found}");
    let q = format!("endTime > {end}");
    let found = s
        .get_json(&format!("/workflow/search?query={}", enc(&q)))
        .await;
    assert_eq!(found["totalHits"], 0, "{found}");

    // freeText `*` is no filter; sort by start time ascending gives the first start first.
    let found = s
        .get_json("/workflow/search?freeText=*&sort=startTime:ASC&size=1")
        .await;
    assert_eq!(found["totalHits"], 3);
    assert_eq!(ids(&found, "workflowId"), vec![a1]);
}

#[tokio::test]
async fn task_search_accepts_what_the_conductor_ui_sends() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("gram_tasks", &["gram_a", "gram_b"]))
        .await;
    let wf = s.start("gram_tasks", json!({})).await;
    let before = chrono::Utc::now().timestamp_millis() - 72 * 3600 * 1000;
    let task = s.poll_one("gram_a").await;
    s.complete(&task, json!({})).await;

    // The UI's default: the last 72 hours, free text `*`, newest first. Only started
    // tasks have a start time: gram_a ran, gram_b is only scheduled.
    let path = format!(
        "/tasks/search?start=0&size=15&sort=startTime:DESC&freeText=*&query={}",
        enc(&format!("startTime>{before}"))
    );
    let found = s.get_json(&path).await;
    assert_eq!(found["totalHits"], 1, "{found}");
    assert_eq!(
        ids(&found, "taskId"),
        vec![task["taskId"].as_str().unwrap()]
    );

    // Its basic-search filters.
    for (q, want) in [
        ("taskType IN (gram_a,gram_b)", 2),
        ("taskDefName='gram_b'", 1),
        ("referenceTaskName='gram_a_ref'", 1),
        ("workflowName='gram_tasks' AND status IN (SCHEDULED)", 1),
        ("workflowType='nope'", 0),
        (&format!("taskId='{}'", task["taskId"].as_str().unwrap()), 1),
        (&format!("workflowId='{wf}' AND endTime>0"), 1),
    ] {
        let found = s.get_json(&format!("/tasks/search?query={}", enc(q))).await;
        assert_eq!(found["totalHits"], want, "{q}: {found}");
    }
}

#[tokio::test]
async fn bad_queries_are_a_400_naming_the_problem_and_change_nothing() {
    let s = TestServer::spawn().await;
    for (path, needles) in [
        (
            "/workflow/search",
            vec!["status IN RUNNING", "IN takes a list"],
        ),
        ("/workflow/search", vec!["status = 'RUNNING", "unclosed"]),
        (
            "/workflow/search",
            vec!["status=NOPE", "'NOPE' is not a workflow status"],
        ),
        (
            "/workflow/search",
            vec!["startTime>yesterday", "epoch milliseconds"],
        ),
        (
            "/workflow/search",
            vec!["owner=me", "'owner'", "workflowType"],
        ),
        (
            "/workflow/search",
            vec!["status=RUNNING AND ", "empty condition"],
        ),
        (
            "/tasks/search",
            vec!["status=NOPE", "'NOPE' is not a task status"],
        ),
        (
            "/tasks/search",
            vec!["nonsense=1", "'nonsense'", "taskType"],
        ),
        ("/tasks/search", vec!["startTime IN (1,2)", "not IN"]),
    ] {
        let resp = s.get(&format!("{path}?query={}", enc(needles[0]))).await;
        expect_error(resp, StatusCode::BAD_REQUEST, &needles[1..]).await;
    }
    let resp = s.get("/workflow/search?size=5001").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["size", "5000"]).await;
}

/// A parent with one sub-workflow (a WAIT keeps both running), and the child's id.
async fn parent_and_child(s: &TestServer) -> (String, String) {
    s.register_workflow(json!({
        "name": "scope_child", "version": 1,
        "tasks": [{"name": "hold", "taskReferenceName": "hold", "type": "WAIT"}]
    }))
    .await;
    s.register_workflow(json!({
        "name": "scope_parent", "version": 1,
        "tasks": [{"name": "child", "taskReferenceName": "child", "type": "SUB_WORKFLOW",
                   "subWorkflowParam": {"name": "scope_child", "version": 1}}]
    }))
    .await;
    let parent = s.start("scope_parent", json!({})).await;
    let wf = s
        .wait_for(
            &parent,
            "the child recorded",
            std::time::Duration::from_secs(15),
            |w| {
                w["tasks"][0]["subWorkflowId"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
            },
        )
        .await;
    let child = wf["tasks"][0]["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string();
    (parent, child)
}

#[tokio::test]
async fn top_level_only_leaves_sub_workflows_out() {
    let s = TestServer::spawn().await;
    let (parent, child) = parent_and_child(&s).await;
    let q = enc("workflowType IN (scope_parent,scope_child)");
    let all = s.get_json(&format!("/workflow/search?query={q}")).await;
    assert_eq!(all["totalHits"], 2, "{all}");

    for path in [
        format!("/workflow/search?query={q}&topLevelOnly=true"),
        format!("/workflow/search-v2?query={q}&topLevelOnly=TRUE"),
        format!(
            "/workflow/search?query={}",
            enc("workflowType IN (scope_parent,scope_child) AND parentWorkflowId = ''")
        ),
    ] {
        let found = s.get_json(&path).await;
        assert_eq!(found["totalHits"], 1, "{path}: {found}");
        assert_eq!(ids(&found, "workflowId"), vec![parent.clone()], "{path}");
    }
    let found = s
        .get_json(&format!("/workflow/search?query={q}&topLevelOnly=false"))
        .await;
    assert_eq!(found["totalHits"], 2, "{found}");
    let found = s
        .get_json(&format!(
            "/workflow/search?query={}",
            enc(&format!("parentWorkflowId = '{parent}'"))
        ))
        .await;
    assert_eq!(ids(&found, "workflowId"), vec![child], "{found}");

    let resp = s.get("/workflow/search?topLevelOnly=yes").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["topLevelOnly", "yes"]).await;
}

/// Registers `name` (one WAIT, or a SUB_WORKFLOW of `child`) with `metadata`.
async fn register_with_metadata(s: &TestServer, name: &str, metadata: Value, child: Option<&str>) {
    let task = match child {
        Some(c) => json!({"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
                          "subWorkflowParam": {"name": c, "version": 1}}),
        None => json!({"name": "hold", "taskReferenceName": "hold", "type": "WAIT"}),
    };
    s.register_workflow(json!({"name": name, "version": 1, "tasks": [task], "metadata": metadata}))
        .await;
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn classifier_filters_executions_by_their_definitions_metadata() {
    let s = TestServer::spawn().await;
    register_with_metadata(&s, "cls_plain", json!({}), None).await;
    register_with_metadata(&s, "cls_report", json!({"classifier": "report"}), None).await;
    register_with_metadata(&s, "cls_agent", json!({"agent_sdk": "py"}), None).await;
    register_with_metadata(&s, "cls_sub_agent", json!({"agentDef": {}}), None).await;
    register_with_metadata(
        &s,
        "cls_lead_agent",
        json!({"agent_sdk": "py"}),
        Some("cls_sub_agent"),
    )
    .await;
    let plain = s.start("cls_plain", json!({})).await;
    let report = s.start("cls_report", json!({})).await;
    let agent = s.start("cls_agent", json!({})).await;
    let stopped = s.start("cls_agent", json!({})).await;
    let resp = s.delete(&format!("/workflow/{stopped}?reason=x")).await;
    assert!(resp.status().is_success());
    let lead = s.start("cls_lead_agent", json!({})).await;
    let wf = s
        .wait_for(
            &lead,
            "the sub-agent started",
            std::time::Duration::from_secs(15),
            |w| {
                w["tasks"][0]["subWorkflowId"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
            },
        )
        .await;
    let sub = wf["tasks"][0]["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string();
    // Changing the definition afterwards leaves an execution with the one it runs.
    let def = json!({"name": "cls_plain", "version": 1, "metadata": {"agent_sdk": "py"},
                     "tasks": [{"name": "hold", "taskReferenceName": "hold", "type": "WAIT"}]});
    let resp = s.put_json("/metadata/workflow", &json!([def])).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let defs = s.get_json("/metadata/workflow?classifier=agent").await;
    assert!(defs.to_string().contains("cls_plain"), "{defs}");

    let agents = sorted(vec![
        agent.clone(),
        stopped.clone(),
        lead.clone(),
        sub.clone(),
    ]);
    let cases: Vec<(String, Vec<String>)> = vec![
        ("classifier=agent".into(), agents.clone()),
        (
            format!("query={}", enc("classifier = 'agent'")),
            agents.clone(),
        ),
        (format!("query={}", enc("classifier = ag*")), agents.clone()),
        (
            "classifier=agent&topLevelOnly=true".into(),
            sorted(vec![agent.clone(), stopped.clone(), lead.clone()]),
        ),
        (
            format!("query={}", enc("classifier IN (report,workflow)")),
            sorted(vec![plain.clone(), report.clone()]),
        ),
        (
            "classifier=report,%20workflow".into(),
            sorted(vec![plain.clone(), report.clone()]),
        ),
        (
            format!(
                "query={}",
                enc("status = TERMINATED AND classifier IN (agent)")
            ),
            vec![stopped.clone()],
        ),
        (
            format!(
                "classifier=agent&query={}",
                enc("workflowType = cls_lead_agent AND startTime > 0")
            ),
            vec![lead.clone()],
        ),
        // Two conditions on the classifier both hold, as in Conductor.
        (
            format!(
                "classifier=agent,report&query={}",
                enc("classifier = report")
            ),
            vec![report.clone()],
        ),
        (
            format!("classifier=agent&query={}", enc("classifier = report")),
            vec![],
        ),
        (
            format!(
                "query={}",
                enc("workflowType = cls_plain AND classifier = agent")
            ),
            vec![],
        ),
        // Unknown classifiers match nothing; values are compared with case.
        ("classifier=nosuch".into(), vec![]),
        (format!("query={}", enc("classifier = 'Agent'")), vec![]),
    ];
    for (params, want) in &cases {
        for route in ["search", "search-v2"] {
            let found = s.get_json(&format!("/workflow/{route}?{params}")).await;
            assert_eq!(
                sorted(ids(&found, "workflowId")),
                *want,
                "{route}?{params}: {found}"
            );
            assert_eq!(found["totalHits"], want.len(), "{route}?{params}: {found}");
        }
    }

    // Each summary names the classifier its execution took when it started, as Conductor's
    // `WorkflowSummary` does: from its column in a search, from the definition it runs in a
    // search by tasks. `cls_plain` is an agent's definition since, its execution still plain.
    let summaries = [
        "/workflow/search?size=100".to_string(),
        format!(
            "/workflow/search-by-tasks?size=100&query={}",
            enc("taskDefName = hold")
        ),
    ];
    for path in &summaries {
        let found = s.get_json(path).await;
        for (id, want) in [
            (&plain, "workflow"),
            (&report, "report"),
            (&agent, "agent"),
            (&sub, "agent"),
        ] {
            let summary = found["results"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["workflowId"] == id.as_str());
            assert_eq!(
                summary.map(|r| &r["classifier"]),
                Some(&json!(want)),
                "{path}: {id}: {found}"
            );
        }
    }

    // An empty classifier is no filter, as Conductor's UI sends it.
    for params in ["classifier=", "classifier=%20,%20"] {
        let found = s.get_json(&format!("/workflow/search?{params}")).await;
        assert_eq!(found["totalHits"], 6, "{params}: {found}");
    }
    let resp = s
        .get(&format!(
            "/workflow/search?query={}",
            enc("classifier > agent")
        ))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["classifier", "'>'"]).await;
}
