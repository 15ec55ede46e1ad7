//! Baton's HTTP face: the Conductor REST API (`/api/...`) and health.
//!
//! Handlers are thin: they parse and check the request (every client error names the field),
//! call [`baton_runtime::Runtime`], and shape the answer the way the official SDKs expect
//! (content types per CONDUCTOR-API.md §1.4: bare ids as `text/plain`, JSON with
//! `application/json`, empty 200 bodies for void calls).

mod api;
mod error;
mod extract;

use axum::Router;
use baton_runtime::Runtime;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

/// Server settings that shape HTTP behaviour.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub runtime: Arc<Runtime>,
    pub config: Arc<ServerConfig>,
}

/// The full router.
pub fn app(runtime: Arc<Runtime>, config: ServerConfig) -> Router {
    let limit = config.max_body_bytes;
    let state = AppState {
        runtime,
        config: Arc::new(config),
    };
    api::routes()
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
}

/// Serves `app` on `listener` with the sweeper and the system-task workers running beside
/// it, until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    runtime: Arc<Runtime>,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cancel = CancellationToken::new();
    let sweeper = tokio::spawn(runtime.clone().run_sweeper(cancel.clone()));
    let system = tokio::spawn(runtime.clone().run_system_workers(cancel.clone()));
    let scheduler = tokio::spawn(runtime.clone().run_scheduler(cancel.clone()));
    let router = app(runtime, config);
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    cancel.cancel();
    let _ = sweeper.await;
    let _ = system.await;
    let _ = scheduler.await;
    result
}
