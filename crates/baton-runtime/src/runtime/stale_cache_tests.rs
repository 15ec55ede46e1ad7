//! A turn given a cached state that lacks what the request names (a stale copy) reads the
//! store once before answering 404 (`Runtime::mutate`'s safety net).

use super::*;
use baton_model::{TaskResult, TaskResultStatus, TaskStatus, WorkflowStatus};
use baton_store::SqliteStore;
use serde_json::json;

async fn runtime(dir: &std::path::Path) -> Arc<Runtime> {
    let store = SqliteStore::open_path(dir.join("baton.db")).expect("a new SQLite store opens");
    Runtime::new(Arc::new(store), RuntimeConfig::default())
}

async fn start_one_task_workflow(rt: &Runtime) -> (String, String) {
    let def: WorkflowDef = serde_json::from_value(json!({
        "name": "stale_cache_wf",
        "version": 1,
        "tasks": [{"name": "stale_cache_t", "taskReferenceName": "t1", "type": "SIMPLE"}],
    }))
    .expect("the definition parses");
    rt.register_workflow_def(def, true)
        .await
        .expect("registers");
    let req: StartWorkflowRequest =
        serde_json::from_value(json!({"name": "stale_cache_wf", "version": 1}))
            .expect("the start request parses");
    let id = rt.start_workflow(req).await.expect("starts");
    let wf = rt.get_workflow(&id, true).await.expect("reads back");
    let task_id = wf
        .tasks
        .first()
        .expect("one task scheduled")
        .task_id
        .clone();
    (id, task_id)
}

#[tokio::test]
async fn an_update_the_cached_copy_does_not_know_reads_the_store_before_a_404() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = runtime(dir.path()).await;
    let (id, task_id) = start_one_task_workflow(&rt).await;

    // Replace the cached entry with a copy of the same version that lacks the task.
    let cached = rt.states.take(&id).expect("the start cached its state");
    let stale = ExecState::new(
        cached.workflow,
        cached.def,
        cached.index,
        Vec::new(),
        Some(cached.version),
        rt.now(),
    );
    rt.states.insert(stale, cached.version);

    let mut result = TaskResult::new(&id, &task_id, TaskResultStatus::Completed);
    result.output_data = Some(serde_json::Map::from_iter([("ok".into(), json!(true))]));
    let resp = rt
        .update_task(result)
        .await
        .expect("the update finds its task in the store");
    assert!(
        resp.stale.is_none(),
        "applied, not ignored: {:?}",
        resp.stale
    );
    let wf = rt.get_workflow(&id, true).await.expect("reads back");
    assert_eq!(wf.status, WorkflowStatus::Completed);
    assert_eq!(wf.tasks[0].status, TaskStatus::Completed);
}

#[tokio::test]
async fn an_update_of_a_task_nobody_has_is_still_a_404_after_the_store_is_read() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = runtime(dir.path()).await;
    let (id, _) = start_one_task_workflow(&rt).await;
    let result = TaskResult::new(&id, "no-such-task", TaskResultStatus::Completed);
    match rt.update_task(result).await {
        Err(Error::NotFound(m)) => assert!(m.contains("no-such-task"), "{m}"),
        other => panic!("expected a 404, got {other:?}"),
    }
    // The failed turn left nothing out: the workflow's entry can be taken again.
    assert!(rt.states.stats().out_with_turns == 0);
}
