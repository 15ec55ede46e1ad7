//! The search workload (`--only-search`): fills the store with executions over HTTP, then
//! times each kind of search, first page and deep page, and the queue sizes.

use crate::*;

/// p50 and p99 of one kind of request, in ms.
pub(crate) struct Timed {
    pub(crate) name: String,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
}

/// Every this many executions one runs version 2 of the definition, an agent (its metadata
/// has `agent_sdk`), for the searches by classifier.
const AGENT_EVERY: usize = 100;

/// Starts `n` one-task executions (no worker: they stay RUNNING with a SCHEDULED task), a
/// hundred correlation ids among them, every tenth terminated so statuses differ, one in
/// [`AGENT_EVERY`] of an agent's definition (the same type, version 2). `workflow`: the
/// definition to start, [`SINGLE_WF`] or [`STORE_WF`] (whose task no benchmark polls).
async fn fill(args: &Args, api: &Api, n: usize, workflow: &'static str) -> anyhow::Result<()> {
    let task = if workflow == STORE_WF {
        let def = json!({
            "name": STORE_WF, "version": 1, "schemaVersion": 2, "ownerEmail": "bench@example.com",
            "tasks": [{"name": STORE_TASK, "taskReferenceName": "only", "type": "SIMPLE"}],
        });
        api.post_json("/api/metadata/workflow?overwrite=true", &def)
            .await?;
        STORE_TASK
    } else {
        TASK_TYPE
    };
    let agent = json!({
        "name": workflow, "version": 2, "schemaVersion": 2, "ownerEmail": "bench@example.com",
        "metadata": {"agent_sdk": "baton-bench"},
        "tasks": [{"name": task, "taskReferenceName": "only", "type": "SIMPLE"}],
    });
    api.post_json("/api/metadata/workflow?overwrite=true", &agent)
        .await?;
    let sem = Arc::new(Semaphore::new(args.w1_start_concurrency.max(1)));
    let mut starts = JoinSet::new();
    let t0 = Instant::now();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let api = api.clone();
        starts.spawn(async move {
            let version = if i % AGENT_EVERY == 1 { 2 } else { 1 };
            let body = json!({"name": workflow, "version": version,
                              "correlationId": format!("corr-{}", i % 100), "input": {"n": i}});
            let id = api.post_json("/api/workflow", &body).await?;
            if i % 10 == 0 {
                let url = format!("{}/api/workflow/{}?reason=bench", api.base, id.trim());
                let resp = api.client.delete(url).send().await?;
                if !resp.status().is_success() {
                    bail!("terminate: {}", resp.status());
                }
            }
            drop(permit);
            Ok::<(), anyhow::Error>(())
        });
        while starts.len() > 4 * args.w1_start_concurrency.max(1) {
            if let Some(r) = starts.join_next().await {
                r??;
            }
        }
        if i > 0 && i % 10_000 == 0 {
            eprintln!(
                "search: {i} executions started ({:.0}/s)",
                i as f64 / t0.elapsed().as_secs_f64()
            );
        }
    }
    while let Some(r) = starts.join_next().await {
        r??;
    }
    eprintln!(
        "search: {n} executions in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn time_get(api: &Api, name: &str, path: &str, runs: usize) -> anyhow::Result<Timed> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        let resp = api
            .client
            .get(format!("{}{}", api.base, path))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        resp.bytes().await?;
        if !status.is_success() {
            bail!("GET {path}: {status}");
        }
        samples.push(ms(t0.elapsed()));
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    Ok(Timed {
        name: name.to_string(),
        p50: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
    })
}

/// The definition W1's store is filled with (`--w1-store-executions`), and its task type:
/// no worker polls it, so W1's workers see only their own tasks.
const STORE_WF: &str = "bench_store";
const STORE_TASK: &str = "bench_store_task";

/// Fills the store with `n` executions of `workflow`, then (on PostgreSQL) vacuums and
/// analyzes it, as autovacuum would after a bulk load.
pub(crate) async fn fill_store(
    args: &Args,
    api: &Api,
    pg_url: Option<&str>,
    n: usize,
) -> anyhow::Result<()> {
    fill_then_vacuum(args, api, pg_url, n, STORE_WF).await
}

async fn fill_then_vacuum(
    args: &Args,
    api: &Api,
    pg_url: Option<&str>,
    n: usize,
    workflow: &'static str,
) -> anyhow::Result<()> {
    fill(args, api, n, workflow).await?;
    if let Some(url) = pg_url {
        let t0 = Instant::now();
        crate::pgdb::vacuum_analyze(url).await?;
        eprintln!(
            "search: VACUUM (ANALYZE) in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub(crate) async fn search(
    args: &Args,
    api: &Api,
    pg_url: Option<&str>,
) -> anyhow::Result<Vec<Timed>> {
    let n = args.search_executions;
    fill_then_vacuum(args, api, pg_url, n, SINGLE_WF).await?;
    let deep = n.saturating_sub(200);
    let runs = args.search_runs.max(1);
    let kinds = [
        (
            // Timed as every search is: what the machine and HTTP add to any request.
            "GET /health (the noise floor)",
            "/health".to_string(),
        ),
        (
            "workflow search by status, first page",
            "/api/workflow/search?query=status%3DRUNNING&size=100".to_string(),
        ),
        (
            "workflow search by status, deep page",
            format!(
                "/api/workflow/search?query=status%3DRUNNING&size=100&start={}",
                deep * 9 / 10
            ),
        ),
        (
            "workflow search by status, middle page",
            format!(
                "/api/workflow/search?query=status%3DRUNNING&size=100&start={}",
                deep * 9 / 20
            ),
        ),
        (
            "workflow search by type, first page",
            format!("/api/workflow/search?query=workflowType%3D{SINGLE_WF}&size=100"),
        ),
        (
            "workflow search by type, deep page",
            format!("/api/workflow/search?query=workflowType%3D{SINGLE_WF}&size=100&start={deep}"),
        ),
        (
            "workflow search by classifier (agents, 1%), first page",
            "/api/workflow/search?classifier=agent&size=100".to_string(),
        ),
        (
            "workflow search by classifier (agents), deep page",
            format!(
                "/api/workflow/search?classifier=agent&size=100&start={}",
                (n / AGENT_EVERY).saturating_sub(100)
            ),
        ),
        (
            "workflow search by classifier=workflow, first page",
            "/api/workflow/search?classifier=workflow&size=100".to_string(),
        ),
        (
            "workflow search by classifier=workflow, middle page",
            format!(
                "/api/workflow/search?classifier=workflow&size=100&start={}",
                deep * 9 / 20
            ),
        ),
        (
            "workflow search, free text",
            "/api/workflow/search?freeText=corr-42&size=100".to_string(),
        ),
        (
            "task search, free text",
            "/api/tasks/search?freeText=corr-42&size=100".to_string(),
        ),
        (
            "correlation lookup (GET correlated)",
            format!("/api/workflow/{SINGLE_WF}/correlated/corr-42"),
        ),
        (
            "task search by status, first page",
            "/api/tasks/search?query=status%3DSCHEDULED&size=100".to_string(),
        ),
        (
            "task search by status, deep page",
            format!(
                "/api/tasks/search?query=status%3DSCHEDULED&size=100&start={}",
                deep * 9 / 10
            ),
        ),
        (
            "task search by status, middle page",
            format!(
                "/api/tasks/search?query=status%3DSCHEDULED&size=100&start={}",
                deep * 9 / 20
            ),
        ),
        (
            // The last page a capped total (`--search-count-limit`, 10,000) offers.
            "task search by status, last page under the cap",
            "/api/tasks/search?query=status%3DSCHEDULED&size=100&start=9900".to_string(),
        ),
        (
            "search by tasks (taskDefName), first page",
            format!("/api/workflow/search-by-tasks?query=taskDefName%3D{TASK_TYPE}&size=100"),
        ),
        (
            "search by tasks v2 (whole workflows), first page",
            format!("/api/workflow/search-by-tasks-v2?query=taskDefName%3D{TASK_TYPE}&size=100"),
        ),
        (
            // The last page of the newest 10,000 matching attempts (the scan limit).
            "search by tasks, last page under the scan limit",
            format!(
                "/api/workflow/search-by-tasks?query=taskDefName%3D{TASK_TYPE}&size=100&start=9900"
            ),
        ),
        (
            "queue sizes (/tasks/queue/all)",
            "/api/tasks/queue/all".to_string(),
        ),
    ];
    let mut out = Vec::new();
    for (name, path) in kinds {
        let t = time_get(api, name, &path, runs).await?;
        eprintln!("search: {name}: p50 {:.2} ms, p99 {:.2} ms", t.p50, t.p99);
        out.push(t);
    }
    // Started after the kinds above were timed, so that their figures stay comparable with
    // earlier runs (the executions below add running workflows).
    let ui_n = n / 10;
    fill_started(args, api, ui_n).await?;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        .saturating_sub(72 * 3600 * 1000);
    // What Conductor's UI (ui-next, Task Executions) sends by default: the last 72 hours,
    // newest start first, 15 rows a page, `freeText=*`.
    let ui = |start: usize| {
        format!(
            "/api/tasks/search?start={start}&size=15&sort=startTime%3ADESC&freeText=%2A\
             &query=startTime%3E{since}"
        )
    };
    let later = [
        (
            "task search as Conductor's UI sends it (startTime > 72 h ago, sort startTime:DESC, 15 a page), first page",
            ui(0),
        ),
        (
            "task search as Conductor's UI sends it, middle page",
            ui(ui_n / 2),
        ),
    ];
    for (name, path) in later {
        let t = time_get(api, name, &path, runs).await?;
        eprintln!("search: {name}: p50 {:.2} ms, p99 {:.2} ms", t.p50, t.p99);
        out.push(t);
    }
    Ok(out)
}

/// The task type of [`fill_started`]'s executions.
const STARTED_TYPE: &str = "bench_started";

/// Starts `n` one-task executions of their own type and polls every task, so each has a
/// start time (the tasks of [`fill`] are never polled, and Conductor's UI searches tasks by
/// start time).
async fn fill_started(args: &Args, api: &Api, n: usize) -> anyhow::Result<()> {
    let taskdef = json!([{"name": STARTED_TYPE, "ownerEmail": "bench@example.com",
                          "retryCount": 0, "timeoutSeconds": 0,
                          "responseTimeoutSeconds": 86_400, "timeoutPolicy": "TIME_OUT_WF"}]);
    api.post_json("/api/metadata/taskdefs", &taskdef).await?;
    let def = json!({
        "name": STARTED_TYPE, "version": 1, "schemaVersion": 2, "ownerEmail": "bench@example.com",
        "tasks": [{"name": STARTED_TYPE, "taskReferenceName": "only", "type": "SIMPLE"}],
    });
    api.post_json("/api/metadata/workflow?overwrite=true", &def)
        .await?;
    let sem = Arc::new(Semaphore::new(args.w1_start_concurrency.max(1)));
    let mut starts = JoinSet::new();
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let api = api.clone();
        starts.spawn(async move {
            api.post_json(&format!("/api/workflow/{STARTED_TYPE}"), &json!({}))
                .await?;
            drop(permit);
            Ok::<(), anyhow::Error>(())
        });
        while starts.len() > 4 * args.w1_start_concurrency.max(1) {
            if let Some(r) = starts.join_next().await {
                r??;
            }
        }
    }
    while let Some(r) = starts.join_next().await {
        r??;
    }
    let mut polled = 0;
    while polled < n {
        let url = format!(
            "{}/api/tasks/poll/batch/{STARTED_TYPE}?count=100&timeout=100&workerid=bench",
            api.base
        );
        let resp = api.client.get(url).send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            bail!("batch poll {STARTED_TYPE}: {status}");
        }
        let got = match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(tasks)) => tasks.len(),
            _ => 0,
        };
        if got == 0 {
            bail!("batch poll {STARTED_TYPE}: no task after {polled} of {n}");
        }
        polled += got;
    }
    eprintln!("search: {n} executions of {STARTED_TYPE} started and polled");
    Ok(())
}
