//! W1 (chains), W2 (fan-out) and W3 (latency).

use crate::*;
use std::collections::HashMap;

// Workloads

pub(crate) struct W1 {
    pub(crate) secs: f64,
    pub(crate) tasks_per_s: f64,
    pub(crate) workflows_per_s: f64,
    pub(crate) peak_rss_mib: f64,
    /// Server CPU (user + system) from the first start to the last ack, per task.
    pub(crate) cpu_us_per_task: f64,
    /// PostgreSQL's CPU per task (every `postgres` process on the machine), on PostgreSQL.
    pub(crate) db_cpu_us_per_task: Option<f64>,
}

/// W1 through one or more nodes: the default worker loops are spread over `apis` (one per
/// node) and so are the starts; CPU and peak RSS are summed over `pids`. The SDK and
/// Python workers use the first node.
pub(crate) async fn w1_chain(
    args: &Args,
    apis: &[Api],
    pids: &[u32],
    dir: &Path,
) -> anyhow::Result<W1> {
    let api = apis.first().context("W1 needs a node")?;
    let total = args.w1_workflows * args.w1_chain;
    let deadline = Instant::now() + Duration::from_secs(args.w1_deadline_secs);
    let origin = Instant::now();
    let progress = Progress::new(total, origin);
    let sdk = if args.sdk_workers {
        Some(sdk::SdkWorkers::spawn(
            api,
            &progress,
            args.workers,
            args.inflight,
        )?)
    } else {
        None
    };
    let mut workers = if args.python_workers || args.sdk_workers {
        JoinSet::new()
    } else if args.w1_update_v2 {
        w1v2::spawn_workers(api, &progress, args.workers, args.inflight, deadline)
    } else {
        let mut all = JoinSet::new();
        for (i, node) in apis.iter().enumerate() {
            // Worker loops dealt round-robin, at least one per node.
            let share = (args.workers + apis.len() - 1 - i) / apis.len();
            let mut set = spawn_workers(
                node,
                &progress,
                share.max(1),
                args.batch,
                args.inflight,
                deadline,
            );
            // One set for every node's loops, so they stop together (dropping a set aborts
            // its tasks).
            all.spawn(async move { while set.join_next().await.is_some() {} });
        }
        all
    };
    let python = if args.python_workers {
        let py = PythonWorkers::spawn(args, api, dir)?;
        // Let the interpreter and its worker processes start polling before the clock starts.
        tokio::time::sleep(Duration::from_secs(3)).await;
        Some(py)
    } else {
        None
    };
    // Starts, with bounded concurrency; the clock starts at the first start request.
    let sem = Arc::new(Semaphore::new(args.w1_start_concurrency.max(1)));
    let mut starts = JoinSet::new();
    let cpu_before = cpu_of(pids)?;
    let db_before = args.postgres.as_ref().map(|_| postgres_cpu());
    let origin_start = Instant::now();
    for i in 0..args.w1_workflows {
        let permit = sem.clone().acquire_owned().await?;
        let api = apis[i % apis.len()].clone();
        starts.spawn(async move {
            let r = api.start(CHAIN_WF).await;
            drop(permit);
            r
        });
    }
    let mut ids = Vec::with_capacity(args.w1_workflows);
    while let Some(r) = starts.join_next().await {
        ids.push(r??);
    }
    let elapsed = if let Some(py) = python {
        let done_at = py.wait_all_completed(api, &ids, deadline).await?;
        done_at.saturating_duration_since(origin_start)
    } else if sdk.is_some() {
        // Executions are counted before their update; the end is when all completed.
        wait_progress(&progress, deadline).await?;
        let done_at = sdk::wait_completed(api, deadline).await?;
        done_at.saturating_duration_since(origin_start)
    } else {
        let at = wait_progress(&progress, deadline).await?;
        at.saturating_sub(origin_start - origin)
    };
    let cpu_used = cpu_of(pids)?.saturating_sub(cpu_before);
    // Read while the servers still hold their connections: a backend's CPU leaves /proc with it.
    let db_used = db_before.map(|before| cpu_since(&before, &postgres_cpu()));
    workers.shutdown().await;
    if let Some(sdk) = sdk {
        sdk.stop().await?;
    }
    let mut peak_rss_mib = 0.0;
    for pid in pids {
        peak_rss_mib += mib(proc_status_kib(*pid, "VmHWM")?);
    }
    // Verify.
    let mut not_done = Vec::new();
    for chunk in ids.chunks(16) {
        let mut set = JoinSet::new();
        for id in chunk {
            let api = api.clone();
            let id = id.clone();
            set.spawn(async move { api.status(&id).await.map(|s| (id, s)) });
        }
        while let Some(r) = set.join_next().await {
            let (id, s) = r??;
            if s != "COMPLETED" {
                not_done.push(format!("{id}={s}"));
            }
        }
    }
    if !not_done.is_empty() {
        bail!(
            "W1: {} workflows not COMPLETED after the last ack: {:?}",
            not_done.len(),
            &not_done[..not_done.len().min(5)]
        );
    }
    let secs = elapsed.as_secs_f64();
    Ok(W1 {
        secs,
        tasks_per_s: total as f64 / secs,
        workflows_per_s: args.w1_workflows as f64 / secs,
        peak_rss_mib,
        cpu_us_per_task: cpu_used as f64 / total as f64,
        db_cpu_us_per_task: db_used.map(|used| used as f64 / total as f64),
    })
}

/// CPU time (µs) of every process named `postgres`, by pid.
fn postgres_cpu() -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim() == "postgres");
        if is_postgres {
            if let Ok(us) = w1v2::cpu_micros(pid) {
                out.insert(pid, us);
            }
        }
    }
    out
}

/// CPU used between two snapshots: processes that started since count from zero; those that
/// exited in between are missed (the servers' pooled connections live through the run).
fn cpu_since(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(pid, us)| us.saturating_sub(before.get(pid).copied().unwrap_or(0)))
        .sum()
}

/// CPU time (user + system, µs) the processes `pids` have used so far.
fn cpu_of(pids: &[u32]) -> anyhow::Result<u64> {
    let mut total = 0;
    for pid in pids {
        total += w1v2::cpu_micros(*pid)?;
    }
    Ok(total)
}

pub(crate) struct W2 {
    pub(crate) completed_ms: f64,
    pub(crate) last_ack_ms: f64,
}

pub(crate) async fn w2_fanout(args: &Args, api: &Api) -> anyhow::Result<W2> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let origin = Instant::now();
    let progress = Progress::new(args.w2_branches, origin);
    let mut workers = spawn_workers(
        api,
        &progress,
        args.workers,
        args.batch,
        args.inflight,
        deadline,
    );
    let t0 = Instant::now();
    let id = api.start(FANOUT_WF).await?;
    let last_ack = wait_progress(&progress, deadline).await?;
    workers.shutdown().await;
    loop {
        let s = api.status(&id).await?;
        match s.as_str() {
            "COMPLETED" => break,
            "RUNNING" | "PAUSED" => {}
            other => bail!("W2: workflow {id} is {other}"),
        }
        if Instant::now() > deadline {
            bail!("W2: workflow {id} not COMPLETED by the deadline");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(W2 {
        completed_ms: ms(t0.elapsed()),
        last_ack_ms: ms(last_ack.saturating_sub(t0 - origin)),
    })
}

pub(crate) struct W3 {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

pub(crate) async fn w3_latency(args: &Args, api: &Api) -> anyhow::Result<W3> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let worker = "bench-latency";
    let mut lat = Vec::with_capacity(args.w3_iterations);
    for i in 0..args.w3_iterations {
        if Instant::now() > deadline {
            bail!("W3: deadline exceeded after {i} iterations");
        }
        // The worker's long poll is issued first and left waiting in the server.
        let poller = api.clone();
        let mut poll = tokio::spawn(async move { poller.poll(1, 1000, worker).await });
        tokio::time::sleep(Duration::from_millis(3)).await;
        let t0 = Instant::now();
        let id = api.start(SINGLE_WF).await?;
        let task = loop {
            let mut tasks = (&mut poll).await??;
            if let Some(t) = tasks.pop() {
                break t;
            }
            if Instant::now() > deadline {
                bail!("W3: task of {id} never delivered");
            }
            let poller = api.clone();
            poll = tokio::spawn(async move { poller.poll(1, 1000, worker).await });
        };
        if task["workflowInstanceId"].as_str() != Some(id.as_str()) {
            bail!("W3: got a task of another workflow: {task}");
        }
        api.complete(&task, worker).await?;
        lat.push(ms(t0.elapsed()));
        if i % 50 == 0 || i + 1 == args.w3_iterations {
            let s = api.status(&id).await?;
            if s != "COMPLETED" {
                bail!("W3: workflow {id} is {s} right after the ack");
            }
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(W3 {
        p50: percentile(&lat, 50.0),
        p99: percentile(&lat, 99.0),
        max: *lat.last().unwrap_or(&f64::NAN),
    })
}
