//! Two Baton nodes on one PostgreSQL database learn of each other's commits through the
//! change feed (ADR 16): a long poll on one node wakes when a task is queued through the
//! other, and a definition replaced through one node is the one the other starts next.
//! Each node is an in-process server with its own store handle (pool and feed connection).
//! Also the test harness's own promise on PostgreSQL: a server's database is kept across a
//! stop and dropped with the server, and leftovers of dead test processes are swept.
//! Skipped, saying so, where no PostgreSQL answers (unless BATON_REQUIRE_PG is set).

mod common;

use common::{pg, pg::PgDb, simple_workflow, StoreDir, TestServer};
use serde_json::json;
use std::time::{Duration, Instant};

/// Two nodes on a fresh database, allowing long polls far longer than the tests wait.
async fn two_nodes(test: &str) -> Option<(PgDb, TestServer, TestServer)> {
    let db = PgDb::create(test).await?;
    let config = baton_runtime::RuntimeConfig {
        max_poll_timeout: Duration::from_secs(120),
        ..baton_runtime::RuntimeConfig::default()
    };
    let a = TestServer::on_postgres_database(&db.url, config.clone()).await;
    let b = TestServer::on_postgres_database(&db.url, config).await;
    Some((db, a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_when_another_node_queues_a_task() {
    let Some((_db, a, b)) = two_nodes("feed_long_poll").await else {
        return;
    };
    a.register_workflow(simple_workflow("feed_wf", &["feed_task"]))
        .await;
    let b_runtime = b.runtime.clone().expect("in-process node");
    let (queues_before, _) = b_runtime.wakeup_map_sizes();

    // Node B long-polls for a minute (through its runtime: HTTP caps a poll at 5 s); only a
    // wake-up can end it early with a task.
    let poll_timeout = Duration::from_secs(60);
    let poller = {
        let runtime = b_runtime.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let tasks = runtime
                .poll("feed_task", Some("w1"), None, 1, poll_timeout)
                .await
                .expect("poll");
            (tasks, started.elapsed())
        })
    };
    // The poll is waiting once node B holds a wake-up for its queue.
    let deadline = Instant::now() + Duration::from_secs(10);
    while b_runtime.wakeup_map_sizes().0 == queues_before {
        assert!(Instant::now() < deadline, "node B never started waiting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let id = a.start("feed_wf", json!({})).await;
    let (tasks, waited) = poller.await.expect("poller");
    assert_eq!(tasks.len(), 1, "node B's poll got {tasks:?}");
    assert_eq!(tasks[0].workflow_instance_id, id);
    assert!(
        waited < poll_timeout / 2,
        "node B's poll ended after {waited:?}, not woken by node A's commit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_replaced_on_one_node_is_used_by_the_other() {
    let Some((_db, a, b)) = two_nodes("feed_definitions").await else {
        return;
    };
    a.register_workflow(simple_workflow("feed_def", &["first_task"]))
        .await;
    // Node B starts it once, which caches the definition there.
    let first = b.start("feed_def", json!({})).await;
    let wf = b.workflow(&first).await;
    assert_eq!(wf["tasks"][0]["taskType"], "first_task");

    // Replaced through node A (same name and version).
    let resp = a
        .put_json(
            "/metadata/workflow",
            &json!([simple_workflow("feed_def", &["second_task"])]),
        )
        .await;
    assert!(resp.status().is_success(), "update: {}", resp.status());

    // Node B's next starts use the new definition once A's notice arrives; without the
    // feed it would use its cached copy forever.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let id = b.start("feed_def", json!({})).await;
        let wf = b.workflow(&id).await;
        if wf["tasks"][0]["taskType"] == "second_task" {
            break;
        }
        assert_eq!(wf["tasks"][0]["taskType"], "first_task");
        assert!(
            Instant::now() < deadline,
            "node B still starts the old definition"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_listeners_on_one_node_hear_of_another_nodes_commits() {
    let Some((_db, a, b)) = two_nodes("feed_live").await else {
        return;
    };
    a.register_workflow(simple_workflow("feed_live_wf", &["live_task"]))
        .await;
    let mut changes = b
        .runtime
        .clone()
        .expect("in-process node")
        .subscribe_changes();
    let id = a.start("feed_live_wf", json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let change = tokio::time::timeout(left, changes.recv())
            .await
            .expect("node B heard nothing of node A's start")
            .expect("change stream");
        if change.workflow_id == id {
            assert_eq!(change.workflow_type, "feed_live_wf");
            assert!(change.status.is_some(), "{change:?}");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_database_outlives_a_stop_and_is_dropped_with_the_server() {
    let Some(dir) = StoreDir::on_postgres("dropped_with_server").await else {
        return;
    };
    let name = dir.database().expect("a database").to_string();
    let s = TestServer::open(dir, Default::default(), Default::default()).await;
    s.register_workflow(simple_workflow("kept_wf", &["kept_task"]))
        .await;
    // The stopped server's pool is still open: the drop below must end its connections.
    let s = TestServer::open(s.stop(), Default::default(), Default::default()).await;
    s.get_json("/metadata/workflow/kept_wf").await;
    assert!(pg::database_exists(&name).await);
    drop(s);
    assert!(
        !pg::database_exists(&name).await,
        "{name} outlived its server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_drops_databases_of_dead_processes_only() {
    let Ok(client) = pg::admin().await else {
        return;
    };
    // A process that has exited: its pid names no live process (barring reuse).
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead_pid = child.id();
    child.wait().expect("wait");
    let dead = format!("baton_t_{dead_pid}_0_sweep_dead");
    let live = format!("baton_t_{}_0_sweep_live", std::process::id());
    for name in [&dead, &live] {
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create a leftover");
    }
    // Another test process may hold the sweep for a moment.
    let deadline = Instant::now() + Duration::from_secs(60);
    while pg::database_exists(&dead).await {
        assert!(Instant::now() < deadline, "{dead} was never swept");
        pg::sweep_now(&client).await;
    }
    assert!(
        pg::database_exists(&live).await,
        "a live process's database was swept"
    );
    assert!(pg::drop_database(&live).await);
}
