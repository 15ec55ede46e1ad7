//! `GET /api/tasks/queue/stats`: each queue's depth and the age of its oldest claimable
//! entry, proved with the manual clock (time moves only when the test moves it).

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_stats_report_depth_and_the_oldest_entrys_age() {
    let s = TestServer::with_manual_clock(baton_runtime::RuntimeConfig::default()).await;
    s.register_workflow(simple_workflow("stats_old", &["stats_old_task"]))
        .await;
    s.register_workflow(simple_workflow("stats_new", &["stats_new_task"]))
        .await;
    s.start("stats_old", json!({})).await;
    s.start("stats_old", json!({})).await;
    s.advance(Duration::from_secs(90)).await;
    s.start("stats_new", json!({})).await;
    s.advance(Duration::from_secs(5)).await;

    let stats = as_array(s.get_json("/tasks/queue/stats").await);
    let row = |name: &str| {
        stats
            .iter()
            .find(|q| q["queueName"] == name)
            .unwrap_or_else(|| panic!("no {name} in {stats:?}"))
            .clone()
    };
    let old = row("stats_old_task");
    assert_eq!(old["depth"], 2);
    let age = old["oldestAgeMs"].as_i64().expect("an age");
    assert!((95_000..96_000).contains(&age), "{old}");
    let new = row("stats_new_task");
    assert_eq!(new["depth"], 1);
    let age = new["oldestAgeMs"].as_i64().expect("an age");
    assert!((5_000..6_000).contains(&age), "{new}");

    // Claimed entries leave the queue: the age is the next one's, then none.
    s.poll_batch("stats_new_task", 1, 0).await;
    let stats = as_array(s.get_json("/tasks/queue/stats").await);
    assert!(
        stats
            .iter()
            .all(|q| q["queueName"] != "stats_new_task" || q["depth"] == 0),
        "{stats:?}"
    );
}
