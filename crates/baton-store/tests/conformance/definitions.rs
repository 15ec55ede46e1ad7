//! Conformance checks, run by `conformance.rs` on every backend: task and workflow definitions.

use super::suite::*;
use baton_model::TaskDef;
use baton_store::{Store, StoreError};
use std::sync::Arc;

pub async fn task_defs(store: Arc<dyn Store>) {
    let mut a = TaskDef::named("alpha");
    a.retry_count = 5;
    store
        .put_task_defs(vec![TaskDef::named("beta"), a.clone()])
        .await
        .unwrap();
    let got = store.get_task_def("alpha").await.unwrap().unwrap();
    assert_eq!(got.retry_count, 5);
    assert!(got.create_time > 0, "createTime set on insert");
    let created = got.create_time;
    assert!(store.get_task_def("gamma").await.unwrap().is_none());

    let names: Vec<String> = store
        .list_task_defs()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    // Re-put replaces and keeps the creation time.
    a.retry_count = 7;
    store.put_task_defs(vec![a.clone()]).await.unwrap();
    let got = store.get_task_def("alpha").await.unwrap().unwrap();
    assert_eq!(got.retry_count, 7);
    assert_eq!(got.create_time, created);

    a.retry_count = 1;
    store.update_task_def(a).await.unwrap();
    assert_eq!(
        store
            .get_task_def("alpha")
            .await
            .unwrap()
            .unwrap()
            .retry_count,
        1
    );
    let err = store
        .update_task_def(TaskDef::named("missing"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(store.get_task_def("missing").await.unwrap().is_none());

    store.delete_task_def("beta").await.unwrap();
    assert!(store.get_task_def("beta").await.unwrap().is_none());
    let err = store.delete_task_def("beta").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(store.list_task_defs().await.unwrap().len(), 1);
}

pub async fn workflow_defs(store: Arc<dyn Store>) {
    let mut v1 = def("flow", 1);
    store.put_workflow_def(v1.clone(), false).await.unwrap();
    let err = store.put_workflow_def(v1.clone(), false).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");

    v1.description = Some("replaced".into());
    store.put_workflow_def(v1.clone(), true).await.unwrap();
    let got = store
        .get_workflow_def("flow", Some(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.description.as_deref(), Some("replaced"));
    assert!(got.create_time > 0);

    store.put_workflow_def(def("flow", 3), false).await.unwrap();
    store.put_workflow_def(def("flow", 2), false).await.unwrap();
    store
        .put_workflow_def(def("another", 1), false)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_workflow_def("flow", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );
    assert_eq!(
        store
            .get_workflow_def("flow", Some(2))
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert!(store
        .get_workflow_def("flow", Some(9))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get_workflow_def("nope", None)
        .await
        .unwrap()
        .is_none());

    let listed: Vec<(String, i32)> = store
        .list_workflow_defs()
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.name, d.version))
        .collect();
    assert_eq!(
        listed,
        [
            ("another".to_string(), 1),
            ("flow".to_string(), 1),
            ("flow".to_string(), 2),
            ("flow".to_string(), 3)
        ]
    );

    store.delete_workflow_def("flow", 3).await.unwrap();
    assert_eq!(
        store
            .get_workflow_def("flow", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    let err = store.delete_workflow_def("flow", 3).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}
