//! What only a shared server can show: several store handles (each its own connection pool,
//! as several Baton nodes have) on one PostgreSQL database, racing on one queue and one
//! workflow (a task definition's limits: postgres_limits.rs).

use baton_model::{TaskDef, TaskStatus};
use baton_store::{Commit, Store, StoreError, WorkflowWrite};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Barrier;

#[path = "support/pg_fixtures.rs"]
mod fixtures;
#[path = "support/pg.rs"]
mod pg;
use fixtures::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pollers_on_separate_handles_claim_each_task_once() {
    let Some(db) = pg::PgDb::create("pollers_handles").await else {
        return;
    };
    let stores = handles(&db, 4).await;
    for w in 0..40 {
        let id = format!("wf-{w}");
        let tasks = (0..15)
            .map(|i| task(&id, &format!("{id}-t{i}"), i, "work"))
            .collect();
        stores[0].commit(insert(&id, tasks)).await.unwrap();
    }
    let pollers = 12;
    let start = Arc::new(Barrier::new(pollers));
    let mut joins = Vec::new();
    for p in 0..pollers {
        let store = stores[p % stores.len()].clone();
        let start = start.clone();
        joins.push(tokio::spawn(async move {
            start.wait().await;
            let mut mine = Vec::new();
            loop {
                let out = store
                    .poll(poll_req("work", 5, &format!("w{p}")))
                    .await
                    .unwrap();
                if out.tasks.is_empty() {
                    break;
                }
                mine.extend(out.tasks.into_iter().map(|t| t.task_id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for j in joins {
        all.extend(j.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a task was handed out twice");
    assert_eq!(all.len(), 600, "every task handed out");
    // Each task was claimed by exactly one transaction: one poll, one IN_PROGRESS event.
    for w in 0..40 {
        let id = format!("wf-{w}");
        let state = stores[1].load_workflow(&id).await.unwrap().unwrap();
        assert_eq!(
            state.version, 1,
            "claims leave the workflow's version alone"
        );
        assert!(state.tasks.iter().all(|t| t.poll_count == 1));
        let claims = stores[2]
            .history(&id)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.status == "IN_PROGRESS")
            .count();
        assert_eq!(claims, 15);
    }
}

/// Commits that name the same version from two handles at once: exactly one wins, the others
/// conflict and write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_commits_from_two_handles_win_once() {
    let Some(db) = pg::PgDb::create("racing_commits").await else {
        return;
    };
    let stores = handles(&db, 2).await;
    stores[0].commit(insert("wf-1", vec![])).await.unwrap();
    let state = stores[0].load_workflow("wf-1").await.unwrap().unwrap();
    let racers = 10;
    let start = Arc::new(Barrier::new(racers));
    let mut joins = Vec::new();
    for i in 0..racers {
        let store = stores[i % 2].clone();
        let start = start.clone();
        let state = state.clone();
        joins.push(tokio::spawn(async move {
            let mut workflow = state.workflow.clone();
            workflow.reason_for_incompletion = Some(format!("racer {i}"));
            let write = WorkflowWrite {
                workflow,
                def: state.def.clone(),
                expected_version: Some(state.version),
                tasks: writes(vec![task("wf-1", &format!("new-{i}"), i as i32, "x")]),
                removed_tasks: vec![],
                queue_push: vec![],
                queue_remove: vec![],
                history: vec![baton_model::HistoryEvent::workflow(
                    "wf-1", "RUNNING", NOW, None,
                )],
                next_wake_at: None,
                keep_input: false,
            };
            start.wait().await;
            let commit = Commit {
                workflows: vec![write],
                ..Default::default()
            };
            (i, store.commit(commit).await)
        }));
    }
    let mut winners = Vec::new();
    for j in joins {
        let (i, result) = j.await.unwrap();
        match result {
            Ok(()) => winners.push(i),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("racer {i}: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let after = stores[1].load_workflow("wf-1").await.unwrap().unwrap();
    assert_eq!(after.version, 2);
    assert_eq!(after.tasks.len(), 1, "only the winner's task was written");
    assert_eq!(after.tasks[0].task_id, format!("new-{}", winners[0]));
    assert_eq!(stores[1].history("wf-1").await.unwrap().len(), 1);
}

/// A claim and a commit from a copy that has not seen it, racing on one task from two
/// handles: never both. Either the claim wins and the commit conflicts, or the commit
/// (cancelling the task) wins and the claim hands nothing out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_and_a_stale_commit_never_both_win() {
    let Some(db) = pg::PgDb::create("claim_vs_commit").await else {
        return;
    };
    let stores = handles(&db, 2).await;
    for round in 0..30 {
        let id = format!("wf-{round}");
        let t = task(&id, &format!("{id}-t"), 0, "race");
        stores[0]
            .commit(insert(&id, vec![t.clone()]))
            .await
            .unwrap();
        let state = stores[0].load_workflow(&id).await.unwrap().unwrap();
        let mut cancelled = state.tasks[0].clone();
        cancelled.status = TaskStatus::Canceled;
        let commit = Commit {
            workflows: vec![WorkflowWrite {
                workflow: state.workflow.clone(),
                def: state.def.clone(),
                expected_version: Some(state.version),
                tasks: writes(vec![cancelled]),
                removed_tasks: vec![],
                queue_push: vec![],
                queue_remove: vec![t.task_id.clone()],
                history: vec![],
                next_wake_at: None,
                keep_input: false,
            }],
            ..Default::default()
        };
        let start = Arc::new(Barrier::new(2));
        let (a, b) = (stores[0].clone(), stores[1].clone());
        let (s1, s2) = (start.clone(), start.clone());
        let claim = tokio::spawn(async move {
            s1.wait().await;
            a.poll(poll_req("race", 1, "w")).await.unwrap().tasks.len()
        });
        let commit = tokio::spawn(async move {
            s2.wait().await;
            b.commit(commit).await
        });
        let claimed = claim.await.unwrap();
        let committed = commit.await.unwrap();
        let stored = stores[0].get_task(&t.task_id).await.unwrap().unwrap();
        match (claimed, committed) {
            (1, Err(StoreError::Conflict(_))) => {
                assert_eq!(stored.status, TaskStatus::InProgress)
            }
            (0, Ok(())) => assert_eq!(stored.status, TaskStatus::Canceled),
            (claimed, committed) => {
                panic!("round {round}: claimed {claimed}, commit {committed:?}")
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_a_database_from_a_newer_baton() {
    let Some(db) = pg::PgDb::create("newer").await else {
        return;
    };
    drop(db.open().await);
    let client = db.client().await;
    client
        .execute(
            "INSERT INTO baton_schema_migrations (version, name) VALUES (999, 'future')",
            &[],
        )
        .await
        .unwrap();
    let err = baton_store::PostgresStore::open(baton_store::PostgresOptions::new(db.url.clone()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let opts = baton_store::PostgresOptions::new("postgres://postgres@127.0.0.1:1/none");
    let err = baton_store::PostgresStore::open(opts).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("refused"), "says why: {err}");
}

/// The database going away: operations fail as Unavailable (the server answers 503 with
/// `retryable: true`), nothing panics, and the store recovers by itself once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_is_unavailable_then_recovers() {
    let Some(db) = pg::PgDb::create("lost_database").await else {
        return;
    };
    let Some((proxy, url)) = pg::Proxy::in_front_of(&db).await else {
        eprintln!("SKIPPED a_lost_database_is_unavailable_then_recovers: not a TCP server");
        return;
    };
    let target = proxy.target;
    let store = baton_store::PostgresStore::open(baton_store::PostgresOptions::new(url))
        .await
        .expect("open through the proxy");
    store
        .put_task_defs(vec![TaskDef::named("kept")])
        .await
        .unwrap();

    let port = proxy.cut().await;
    for _ in 0..3 {
        let err = store.get_task_def("kept").await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        let err = store.commit(insert("wf-x", vec![])).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }

    let _proxy = pg::Proxy::start(port, target).await;
    assert!(store.get_task_def("kept").await.unwrap().is_some());
    store.commit(insert("wf-x", vec![])).await.unwrap();
    assert!(store.load_workflow("wf-x").await.unwrap().is_some());
}

/// Due workflows are claimed by one sweeper at a time: handles racing to claim 40 due
/// workflows get disjoint sets that cover them all; a claimed workflow comes back when its
/// claim lapses or when a commit of it (the decision) ends the claim, and the next wake-up a
/// sweeper sees skips claims it cannot take.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn due_workflows_are_claimed_by_one_sweeper() {
    let Some(db) = pg::PgDb::create("sweep_claims").await else {
        return;
    };
    let stores = handles(&db, 3).await;
    let due = 40;
    for i in 0..due {
        let mut c = insert(&format!("wf-{i:02}"), vec![]);
        c.workflows[0].next_wake_at = Some(NOW - 1000 + i as i64);
        stores[0].commit(c).await.unwrap();
    }
    let claim_for = 15_000;
    let start = Arc::new(Barrier::new(stores.len()));
    let mut joins = Vec::new();
    for store in stores.clone() {
        let start = start.clone();
        joins.push(tokio::spawn(async move {
            start.wait().await;
            let mut mine = Vec::new();
            for _ in 0..10 {
                mine.extend(store.claim_due_workflows(NOW, 7, claim_for).await.unwrap());
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for j in joins {
        all.extend(j.await.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(
        all.len(),
        due,
        "each due workflow claimed exactly once: {all:?}"
    );
    assert_eq!(distinct.len(), due);
    // Everything is claimed: nothing is left to claim, and a sweeper's next look is at the
    // end of the claims.
    assert!(stores[1]
        .claim_due_workflows(NOW, 100, claim_for)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        stores[1].next_wake_at().await.unwrap(),
        Some(NOW + claim_for)
    );
    // A decision's commit ends its claim: a reschedule to a time already due makes it
    // claimable again at once.
    let state = stores[0].load_workflow("wf-00").await.unwrap().unwrap();
    stores[0]
        .commit(Commit {
            reschedule: vec![baton_store::Reschedule {
                workflow_id: "wf-00".into(),
                version: state.version,
                next_wake_at: Some(NOW - 1000),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stores[2].next_wake_at().await.unwrap(), Some(NOW - 1000));
    assert_eq!(
        stores[2]
            .claim_due_workflows(NOW, 100, claim_for)
            .await
            .unwrap(),
        ["wf-00"]
    );
    // Claims that lapse (their node died) are taken by another sweeper.
    let later = NOW + claim_for + 1;
    let retaken = stores[1]
        .claim_due_workflows(later, 100, claim_for)
        .await
        .unwrap();
    assert_eq!(retaken.len(), due, "{retaken:?}");
}

/// A string PostgreSQL cannot compress under its index-entry limit (about 2.7 KB).
fn incompressible(len: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"0123456789abcdefghijklmnopqrstuvwxyz"[(x % 36) as usize])
        })
        .collect()
}

/// Group commit (ADR 23): commits that wait while a group is in flight are written together
/// in the next; in that group a commit that fails its checks, or whose write fails, fails
/// alone, and every other commit is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_commits_fail_alone() {
    let Some(db) = pg::PgDb::create("group_commit").await else {
        return;
    };
    let mut opts = baton_store::PostgresOptions::new(db.url.clone());
    opts.group_commit = baton_store::GroupCommitOptions {
        group_max: 64,
        lanes: 1,
    };
    let store = Arc::new(baton_store::PostgresStore::open(opts).await.unwrap());
    store.commit(insert("blocker", vec![])).await.unwrap();
    store.commit(insert("taken", vec![])).await.unwrap();
    let stale = store.load_workflow("taken").await.unwrap().unwrap();
    let bump = |state: &baton_store::WorkflowState, reason: &str| {
        let mut workflow = state.workflow.clone();
        workflow.reason_for_incompletion = Some(reason.to_string());
        Commit {
            workflows: vec![WorkflowWrite {
                workflow,
                def: state.def.clone(),
                expected_version: Some(state.version),
                tasks: vec![],
                removed_tasks: vec![],
                queue_push: vec![],
                queue_remove: vec![],
                history: vec![],
                next_wake_at: None,
                keep_input: true,
            }],
            ..Default::default()
        }
    };
    store.commit(bump(&stale, "first")).await.unwrap();

    // Another connection holds the blocker's row: the lane's next group waits on it, and
    // everything committed meanwhile queues for the group after.
    let locker = db.client().await;
    locker
        .batch_execute("BEGIN; SELECT 1 FROM workflows WHERE workflow_id = 'blocker' FOR UPDATE")
        .await
        .unwrap();
    let blocker_state = store.load_workflow("blocker").await.unwrap().unwrap();
    let blocked = {
        let store = store.clone();
        let commit = bump(&blocker_state, "blocked");
        tokio::spawn(async move { store.commit(commit).await })
    };
    let before = store.group_commit_stats();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.group_commit_stats().groups == before.groups {
        assert!(
            std::time::Instant::now() < deadline,
            "the blocked group never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let mut joins = Vec::new();
    for i in 0..40 {
        let id = format!("good-{i}");
        let commit = insert(&id, vec![task(&id, &format!("t-{i}"), 0, "work")]);
        let store = store.clone();
        joins.push((id, tokio::spawn(async move { store.commit(commit).await })));
    }
    let duplicate = insert("taken", vec![]);
    let outdated = bump(&stale, "outdated");
    let mut too_big = insert("too-big", vec![]);
    // Passes every check, then fails in the write: its index entry is too large.
    too_big.workflows[0].workflow.correlation_id = Some(incompressible(40_000));
    let spawn = |commit: Commit| {
        let store = store.clone();
        tokio::spawn(async move { store.commit(commit).await })
    };
    let (duplicate, outdated, too_big) = (spawn(duplicate), spawn(outdated), spawn(too_big));
    // All 43 wait in the queue before the blocker's row is released.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.group_commit_stats().queued < 43 {
        assert!(
            std::time::Instant::now() < deadline,
            "the commits never queued"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    locker.batch_execute("ROLLBACK").await.unwrap();
    blocked.await.unwrap().unwrap();

    for (id, join) in joins {
        join.await.unwrap().unwrap_or_else(|e| panic!("{id}: {e}"));
        let state = store.load_workflow(&id).await.unwrap().unwrap();
        assert_eq!(state.tasks.len(), 1, "{id}");
    }
    assert!(matches!(
        duplicate.await.unwrap(),
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        outdated.await.unwrap(),
        Err(StoreError::Conflict(_))
    ));
    let err = too_big.await.unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    assert!(store.load_workflow("too-big").await.unwrap().is_none());
    let taken = store.load_workflow("taken").await.unwrap().unwrap();
    assert_eq!(
        taken.workflow.reason_for_incompletion.as_deref(),
        Some("first")
    );
    // Queued tasks of the stored workflows are there to claim.
    let mut req = poll_req("work", 100, "w");
    req.now = NOW + 1;
    assert_eq!(store.poll(req).await.unwrap().tasks.len(), 40);

    let stats = store.group_commit_stats();
    assert_eq!(stats.commits - before.commits, 44, "{stats:?}");
    // The blocked group; then one group of the 43 that waited, which failed as a whole (the
    // oversized entry) and was written again one commit at a time, except for whichever of
    // the duplicate and the outdated update came second: both name `taken`, so it waited
    // for a group of its own.
    assert_eq!(stats.groups - before.groups, 3, "{stats:?}");
    assert_eq!(stats.split - before.split, 1, "{stats:?}");
}

/// A test database copied from the migrated template has the schema a store migrating an
/// empty database makes (same migrations, same tables and indexes), and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_of_the_schema_template_is_a_migrated_database() {
    let Some(empty) = pg::PgDb::create("template_empty").await else {
        return;
    };
    let Some(copy) = pg::PgDb::create_migrated("template_copy").await else {
        return;
    };
    let admin = pg::admin().await.expect("connect to PostgreSQL");
    let template = pg::schema_template(&admin)
        .await
        .expect("the template is made");
    let row = admin
        .query_one(
            "SELECT datistemplate, NOT datallowconn FROM pg_database WHERE datname = $1",
            &[&template],
        )
        .await
        .expect("the template is listed");
    assert_eq!((row.get::<_, bool>(0), row.get::<_, bool>(1)), (true, true));

    // What the copy holds before any store opened it, against a database a store migrated.
    let migrated = empty.store().await;
    migrated.close();
    drop(migrated);
    let (empty_schema, copy_schema) = (schema_of(&empty).await, schema_of(&copy).await);
    assert!(
        empty_schema.iter().any(|s| s.starts_with("migration ")),
        "{empty_schema:?}"
    );
    assert_eq!(copy_schema, empty_schema);

    let store = copy.store().await;
    store
        .put_task_defs(vec![TaskDef::named("from_the_template")])
        .await
        .expect("writes");
    let read = store
        .get_task_def("from_the_template")
        .await
        .expect("reads");
    assert!(read.is_some());
    store.close();
}

/// The migrations applied, the tables and the indexes of `db`, sorted.
async fn schema_of(db: &pg::PgDb) -> Vec<String> {
    let client = db.client().await;
    let mut out = Vec::new();
    for row in client
        .query(
            "SELECT 'migration ' || version || ' ' || name FROM baton_schema_migrations
             UNION ALL
             SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
             UNION ALL
             SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type
               FROM information_schema.columns WHERE table_schema = 'public'",
            &[],
        )
        .await
        .expect("read the schema")
    {
        out.push(row.get::<_, String>(0));
    }
    out.sort();
    out
}
