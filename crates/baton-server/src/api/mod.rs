//! Route table. One module per Conductor controller.

mod admin;
mod events;
mod metadata;
mod params;
mod scheduler;
mod search_grammar;
mod signal_response;
mod stream;
mod task_signals;
mod tasks;
mod workflow;
mod workflow_bulk;
mod workflow_ops;
mod workflow_reads;

use crate::error::ApiError;
/// For the fuzz targets (`crate::fuzzing`).
pub(crate) use workflow::search_query;

use crate::AppState;
use axum::http::{Method, StatusCode, Uri};
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
        .route("/api/workflow/{id}/tasks", get(workflow_reads::tasks))
        .route(
            "/api/workflow/{id}/correlated",
            post(workflow_reads::correlated_many),
        )
        .route(
            "/api/workflow/{id}/correlated/{correlation_id}",
            get(workflow_reads::correlated_one),
        )
        .route(
            "/api/workflow/search-by-tasks",
            get(workflow_reads::search_by_tasks),
        )
        .route(
            "/api/workflow/search-by-tasks-v2",
            get(workflow_reads::search_by_tasks_v2),
        )
        .route(
            "/api/workflow/externalstoragelocation",
            get(workflow_reads::external_storage_location),
        )
        .route(
            "/api/workflow/external-storage-location",
            get(workflow_reads::external_storage_location),
        )
        .route("/api/workflow/decide/{id}", put(workflow_ops::decide))
        .route(
            "/api/workflow/{id}/resetcallbacks",
            post(workflow_ops::reset_callbacks),
        )
        .route(
            "/api/workflow/{id}/terminate-remove",
            delete(workflow_ops::terminate_remove),
        )
        .route("/api/workflow/test", post(workflow_ops::test))
        // workflow bulk
        .route("/api/workflow/bulk/pause", put(workflow_bulk::pause))
        .route("/api/workflow/bulk/resume", put(workflow_bulk::resume))
        .route("/api/workflow/bulk/restart", post(workflow_bulk::restart))
        .route("/api/workflow/bulk/retry", post(workflow_bulk::retry))
        .route(
            "/api/workflow/bulk/terminate",
            post(workflow_bulk::terminate),
        )
        .route("/api/workflow/bulk/remove", delete(workflow_bulk::remove))
        .route(
            "/api/workflow/bulk/terminate-remove",
            delete(workflow_bulk::terminate_remove),
        )
        .route("/api/workflow/bulk/search", post(workflow_bulk::search))
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
        // Baton extension: depth and oldest entry age per queue (the UI's queues page)
        .route("/api/tasks/queue/stats", get(tasks::queue_stats))
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
        .route(
            "/api/tasks/{workflow_id}/{reference}/{status}/sync",
            post(task_signals::update_by_ref_sync),
        )
        // Conductor's `/{workflowId}/{status}/signal`: the status sits where the update by
        // reference has the reference name.
        .route(
            "/api/tasks/{workflow_id}/{reference}/signal",
            post(task_signals::signal),
        )
        .route(
            "/api/tasks/{workflow_id}/{reference}/signal/sync",
            post(task_signals::signal_sync),
        )
        .route(
            "/api/tasks/queue/all/verbose",
            get(tasks::queue_all_verbose),
        )
        .route("/api/tasks/queue/requeue/{task_type}", post(tasks::requeue))
        .route(
            "/api/tasks/externalstoragelocation",
            get(workflow_reads::external_storage_location),
        )
        .route(
            "/api/tasks/external-storage-location",
            get(workflow_reads::external_storage_location),
        )
        // admin and event-queue admin
        .route("/api/admin/config", get(admin::config))
        .route("/api/admin/task/{task_type}", get(admin::pending_tasks))
        .route("/api/admin/sweep/requeue/{id}", post(admin::requeue_sweep))
        .route(
            "/api/admin/consistency/verifyAndRepair/{id}",
            post(admin::verify_and_repair),
        )
        .route("/api/admin/queues", get(admin::event_queues))
        .route("/api/queue/size", get(admin::event_queues))
        .route("/api/queue", get(admin::event_queues))
        .route("/api/queue/", get(admin::event_queues))
        .route(
            "/api/queue/update/{workflow_id}/{reference}/{status}",
            post(admin::update_by_ref),
        )
        .route(
            "/api/queue/update/{workflow_id}/task/{task_id}/{status}",
            post(admin::update_by_id),
        )
        .route("/api/environment", get(admin::environment))
        .route("/api/environment/{key}", get(admin::environment_variable))
        .route("/api/secrets", get(admin::secrets))
        .merge(scheduler::routes())
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
}

/// An unknown path: a JSON 404 naming it, as Conductor answers (never another route).
async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("No endpoint {method} {}", uri.path()))
}

/// A known path with a method it does not serve.
async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "Request method '{method}' is not supported for {}",
            uri.path()
        ),
    )
}

async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Json<serde_json::Value> {
    let backend = state.runtime.store().backend_name();
    let tier = &state.config.tier;
    let mut body = json!({
        "healthResults": [],
        "suppressedHealthResults": [],
        "healthy": true,
        "tier": crate::tier::tier_of(backend),
        "backend": backend,
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": tier.uptime_secs(),
    });
    let mut warnings = Vec::new();
    if state.config.auth.insecure {
        warnings.push(json!(
            "insecure: authentication is off on a non-loopback address (--insecure)"
        ));
    }
    if let Some(fallback) = tier.fallback() {
        warnings.push(json!(format!(
            "fallback: PostgreSQL {} was not used ({}); serving from {}",
            fallback.primary, fallback.reason, fallback.sqlite_url
        )));
        body["fallback"] = fallback.to_json();
    }
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    Json(body)
}

async fn version() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain")],
        env!("CARGO_PKG_VERSION"),
    )
}
