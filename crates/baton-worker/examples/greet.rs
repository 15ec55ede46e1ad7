//! A Rust worker for the `greet` task of the README's five-minute tour.
//!
//! ```sh
//! cargo run --release -p baton -- server &                        # a server on :8080
//! cargo run -p baton-worker --example greet -- http://localhost:8080
//! ```
//! Then register and start the `hello` workflow as the README shows; this worker completes
//! both of its steps. Ctrl-C stops it gracefully and prints what it abandoned, if anything.

use baton_worker::{worker_fn, Client, Outcome, Runner, RunnerConfig, WorkerOptions};
use serde_json::json;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://localhost:8080".to_string());
    let greet = worker_fn(|task, ctx| async move {
        let Some(who) = task.input_data.get("who").and_then(|v| v.as_str()) else {
            // Retrying cannot fix a missing input: fail for good.
            return Outcome::failed_terminal("input 'who' must be a string");
        };
        ctx.log(format!("greeting {who}")).await;
        Outcome::completed_value(json!({ "greeting": format!("hello {who}") }))
    });
    let report = Runner::new(Client::new(&server)?)
        .config(RunnerConfig {
            shutdown_timeout: Duration::from_secs(10),
            ..RunnerConfig::default()
        })
        .register("greet", WorkerOptions::with_concurrency(4), greet)
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    println!(
        "stopped: {} results delivered, {} tasks abandoned",
        report.results_delivered,
        report.abandoned.len()
    );
    Ok(())
}
