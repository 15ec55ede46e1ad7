use baton_model::*;
use baton_store::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn def() -> WorkflowDef {
    serde_json::from_value(serde_json::json!({"name":"flow","version":1,"tasks":[
        {"name":"a","taskReferenceName":"a_ref","type":"SIMPLE"}]})).unwrap()
}

async fn run(sync: Synchronous, writers: usize, secs: u64, with_task: bool) {
    let path = std::path::PathBuf::from(format!("/tmp/bench/b-{}-{:?}-{writers}-{with_task}.db", std::process::id(), sync));
    let store = Arc::new(SqliteStore::open(SqliteOptions { path: path.clone(), synchronous: sync, readers: 4 }).unwrap());
    let d = Arc::new(def());
    let mut hs = vec![];
    let deadline = Instant::now() + Duration::from_secs(secs);
    for w in 0..writers {
        let store = store.clone();
        let d = d.clone();
        hs.push(tokio::spawn(async move {
            let id = format!("wf-{w}");
            let mut wf = Workflow { workflow_id: id.clone(), workflow_name: "flow".into(), workflow_version: 1, ..Default::default() };
            wf.input.insert("payload".into(), serde_json::json!({"k": "some value here", "n": 12345}));
            store.commit(Commit { workflows: vec![WorkflowWrite { workflow: wf.clone(), def: d.clone(), expected_version: None, tasks: vec![], removed_tasks: vec![], queue_push: vec![], queue_remove: vec![], history: vec![], next_wake_at: None }], ..Default::default() }).await.unwrap();
            let mut v = 1;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let mut tasks = vec![];
                let mut qp = vec![];
                let mut hist = vec![];
                if with_task {
                    let t = Task { task_id: format!("{id}-{n}"), workflow_instance_id: id.clone(), task_type: "a".into(), reference_task_name: "a_ref".into(), seq: n as i32, ..Default::default() };
                    qp.push(QueueEntry { queue: "a".into(), task_id: t.task_id.clone(), workflow_id: id.clone(), priority: 0, visible_at: 0 });
                    hist.push(HistoryEvent::task(&t, 0));
                    tasks.push(t);
                }
                store.commit(Commit { workflows: vec![WorkflowWrite { workflow: wf.clone(), def: d.clone(), expected_version: Some(v), tasks, removed_tasks: vec![], queue_push: qp, queue_remove: vec![], history: hist, next_wake_at: Some(1) }], ..Default::default() }).await.unwrap();
                v += 1; n += 1;
            }
            n
        }));
    }
    let start = Instant::now();
    let mut total = 0;
    for h in hs { total += h.await.unwrap(); }
    let el = start.elapsed().as_secs_f64();
    println!("BENCH sync={sync:?} committers={writers} task={with_task}: {total} commits in {el:.2}s = {:.0}/s", total as f64 / el);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench() {
    let which = std::env::var("BENCH").unwrap_or_default();
    if which == "task" { run(Synchronous::Normal, 64, 8, true).await; return; }
    run(Synchronous::Normal, 1, 3, false).await;
    run(Synchronous::Normal, 64, 5, false).await;
    run(Synchronous::Normal, 64, 5, true).await;
    run(Synchronous::Full, 64, 5, true).await;
    run(Synchronous::Full, 1, 3, false).await;
}
