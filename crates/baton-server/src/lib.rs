//! Baton's HTTP face: the Conductor REST API (`/api/...`), health, the live event stream and
//! the web UI (from `baton-ui`).
//!
//! Handlers are thin: they parse and check the request (every client error names the field),
//! call [`baton_runtime::Runtime`], and shape the answer the way the official SDKs expect
//! (content types per CONDUCTOR-API.md §1.4: bare ids as `text/plain`, JSON with
//! `application/json`, empty 200 bodies for void calls).

mod api;
pub mod auth;
mod conn;
mod error;
mod extract;
mod listener;
mod nofile;
mod observe;
pub mod retention;
pub mod tier;
pub mod tls;
pub mod webhook;

use axum::Router;
use baton_runtime::Runtime;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use nofile::{
    connection_capacity, raise_open_file_limit, soft_open_file_limit, OpenFileLimit,
    RESERVED_DESCRIPTORS,
};

/// Entry points for the fuzz targets under `fuzz/`; not an API.
#[doc(hidden)]
pub mod fuzzing {
    use std::collections::HashMap;

    /// Parses a workflow search the way `GET /api/workflow/search` does (`query`, `freeText`,
    /// `sort`, `start`, `size`); `Err` is the 400 message.
    pub fn workflow_search(params: HashMap<String, String>) -> Result<(), String> {
        crate::api::search_query(&params)
            .map(|_| ())
            .map_err(|e| e.message)
    }
}

/// Server settings that shape HTTP behaviour.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// A connection whose request headers are not complete this long after their first byte
    /// is closed (slow-loris headers).
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in flight and no bytes moving for this long is
    /// closed.
    pub idle_timeout: Duration,
    /// A request body not fully received this long after its headers is answered 408 and its
    /// connection closed. Handlers that wait after reading (long polls, synchronous execute)
    /// are not affected.
    pub body_read_timeout: Duration,
    /// Most connections served at once; more are answered 503 and closed. Lowered at start to
    /// fit the open-file limit (see [`connection_capacity`]).
    pub max_connections: usize,
    /// After the shutdown signal, how long in-flight requests may finish before the remaining
    /// connections are dropped.
    pub shutdown_timeout: Duration,
    /// Authentication: off, or keys required (see [`auth::decide_mode`]).
    pub auth: auth::AuthConfig,
    /// Configured webhooks (`--webhooks FILE`); none by default.
    pub webhooks: Arc<webhook::WebhookConfig>,
    /// Serve HTTPS with these files (`--tls-cert`, `--tls-key`); plain HTTP when None.
    pub tls: Option<Arc<tls::TlsFiles>>,
    /// The tier served from and how it was chosen (`baton start`), shown by `/health`.
    pub tier: Arc<tier::TierStatus>,
    /// Archive or delete ended executions past an age (`--retention-days`); off by default.
    pub retention: Option<retention::RetentionConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 8 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            body_read_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(10),
            auth: auth::AuthConfig::default(),
            webhooks: Arc::default(),
            tls: None,
            tier: Arc::default(),
            retention: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub runtime: Arc<Runtime>,
    pub config: Arc<ServerConfig>,
    pub auth: Arc<auth::Auth>,
    /// Cancelled when the server starts shutting down, so open event streams end instead of
    /// holding the drain until its deadline. Behind an `Arc`: every request clones the
    /// state, and a token's own clone and drop lock its tree node.
    pub shutdown: Arc<CancellationToken>,
}

/// The full router: the API and the web UI.
pub fn app(runtime: Arc<Runtime>, config: ServerConfig) -> Router {
    router(runtime, config, CancellationToken::new())
}

fn router(runtime: Arc<Runtime>, config: ServerConfig, shutdown: CancellationToken) -> Router {
    let limit = config.max_body_bytes;
    let metrics = runtime.metrics().clone();
    let auth = Arc::new(auth::Auth::new(
        runtime.store().clone(),
        config.auth.clone(),
    ));
    let state = AppState {
        runtime,
        config: Arc::new(config),
        auth: auth.clone(),
        shutdown: Arc::new(shutdown),
    };
    let routes = api::routes()
        .route("/metrics", axum::routing::get(observe::metrics))
        .route("/api/token", axum::routing::post(auth::issue_token))
        .route("/api/token/whoami", axum::routing::get(auth::whoami))
        .route("/api/webhook/{name}", axum::routing::post(webhook::receive));
    observe::layer(routes, observe::RequestLayer { metrics, auth })
        .with_state(state)
        .merge(baton_ui::routes())
        .layer(axum::extract::DefaultBodyLimit::max(limit))
}

/// Serves `app` on `listener` with the sweeper, the system-task workers and the scheduler
/// running beside it, until `shutdown` resolves. Then it stops accepting, lets in-flight
/// requests and system-task executions finish for up to `config.shutdown_timeout` (both
/// drain at once), drops the connections and aborts the executions still running, and
/// stops the background loops.
pub async fn serve(
    listener: tokio::net::TcpListener,
    runtime: Arc<Runtime>,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cancel = CancellationToken::new();
    // Fired by the shutdown signal: the system workers stop claiming at once and drain their
    // executions within the same deadline as the connections.
    let stopping = CancellationToken::new();
    let sweeper = tokio::spawn(runtime.clone().run_sweeper(cancel.clone()));
    let system = tokio::spawn(
        runtime
            .clone()
            .run_system_workers(stopping.clone(), config.shutdown_timeout),
    );
    let scheduler = tokio::spawn(runtime.clone().run_scheduler(cancel.clone()));
    let retention = config
        .retention
        .clone()
        .map(|r| tokio::spawn(retention::run(runtime.clone(), r, cancel.clone())));
    let router = router(runtime, config.clone(), stopping.clone());
    let signal = {
        let stopping = stopping.clone();
        async move {
            shutdown.await;
            stopping.cancel();
        }
    };
    listener::run(listener, router, &config, signal).await;
    stopping.cancel();
    cancel.cancel();
    let _ = sweeper.await;
    let _ = system.await;
    let _ = scheduler.await;
    if let Some(r) = retention {
        let _ = r.await;
    }
    Ok(())
}
