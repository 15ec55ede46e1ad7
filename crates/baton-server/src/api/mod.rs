//! Route table. One module per Conductor controller.

mod events;
mod metadata;
mod params;
mod scheduler;
mod stream;
mod tasks;
mod workflow;

/// For the fuzz targets (`crate::fuzzing`).
pub(crate) use workflow::search_query;

use crate::AppState;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/api/health", get(health))
        .route("/api/version", get(version))
        // metadata
        .route(
            "/api/metadata/taskdefs",
            post(metadata::create_task_defs)
                .put(metadata::update_task_def)
                .get(metadata::list_task_defs),
        )
        .route(
            "/api/metadata/taskdefs/{name}",
            get(metadata::get_task_def).delete(metadata::delete_task_def),
        )
        .route(
            "/api/metadata/workflow",
            post(metadata::create_workflow_def)
                .put(metadata::update_workflow_defs)
                .get(metadata::list_workflow_defs),
        )
        .route(
            "/api/metadata/workflow/validate",
            post(metadata::validate_workflow_def),
        )
        .route(
            "/api/metadata/workflow/latest-versions",
            get(metadata::latest_versions),
        )
        .route(
            "/api/metadata/workflow/names-and-versions",
            get(metadata::names_and_versions),
        )
        .route("/api/metadata/workflow/names", get(metadata::names))
        .route(
            "/api/metadata/workflow/{name}",
            get(metadata::get_workflow_def),
        )
        .route(
            "/api/metadata/workflow/{name}/versions",
            get(metadata::versions),
        )
        .route(
            "/api/metadata/workflow/{name}/{version}",
            delete(metadata::delete_workflow_def),
        )
        // workflows
        .route("/api/workflow", post(workflow::start))
        .route(
            "/api/workflow/{id}",
            post(workflow::start_by_name)
                .get(workflow::get)
                .delete(workflow::terminate),
        )
        .route("/api/workflow/search", get(workflow::search))
        .route(
            "/api/workflow/execute/{name}/{version}",
            post(workflow::execute),
        )
        .route("/api/workflow/search-v2", get(workflow::search_v2))
        .route("/api/workflow/running/{name}", get(workflow::running))
        .route("/api/workflow/{id}/status", get(workflow::status))
        .route("/api/workflow/{id}/pause", put(workflow::pause))
        .route("/api/workflow/{id}/resume", put(workflow::resume))
        .route("/api/workflow/{id}/restart", post(workflow::restart))
        .route("/api/workflow/{id}/retry", post(workflow::retry))
        .route("/api/workflow/{id}/rerun", post(workflow::rerun))
        .route(
            "/api/workflow/{id}/skiptask/{reference}",
            put(workflow::skip_task),
        )
        .route("/api/workflow/{id}/remove", delete(workflow::remove))
        .route("/api/workflow/{id}/history", get(workflow::history))
        // event handlers
        .route(
            "/api/event",
            post(events::create).put(events::update).get(events::list),
        )
        .route("/api/event/published", get(events::published))
        .route(
            "/api/event/{name}",
            get(events::for_event).delete(events::delete),
        )
        // tasks
        .route("/api/tasks", post(tasks::update_v1))
        .route("/api/tasks/update-v2", post(tasks::update_v2))
        .route("/api/tasks/poll/{task_type}", get(tasks::poll_one))
        .route("/api/tasks/poll/batch/{task_type}", get(tasks::poll_batch))
        .route("/api/tasks/queue/sizes", get(tasks::queue_sizes))
        .route("/api/tasks/queue/size", get(tasks::queue_size))
        .route("/api/tasks/queue/all", get(tasks::queue_all))
        .route("/api/tasks/queue/polldata", get(tasks::poll_data))
        .route("/api/tasks/queue/polldata/all", get(tasks::poll_data_all))
        .route("/api/tasks/search", get(tasks::search))
        .route("/api/tasks/search-v2", get(tasks::search_v2))
        .route("/api/tasks/{task_id}", get(tasks::get))
        .route(
            "/api/tasks/{task_id}/log",
            post(tasks::add_log).get(tasks::logs),
        )
        .route(
            "/api/tasks/{workflow_id}/{reference}/{status}",
            post(tasks::update_by_ref),
        )
        // Baton extension: live changes as server-sent events (the web UI's feed)
        .route("/api/events/stream", get(stream::stream))
        .merge(scheduler::routes())
}

async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Json<serde_json::Value> {
    let mut body = json!({"healthResults": [], "suppressedHealthResults": [], "healthy": true});
    if state.config.auth.insecure {
        body["warnings"] =
            json!(["insecure: authentication is off on a non-loopback address (--insecure)"]);
    }
    Json(body)
}

async fn version() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain")],
        env!("CARGO_PKG_VERSION"),
    )
}
