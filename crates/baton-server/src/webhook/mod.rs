//! Webhooks: `POST /api/webhook/{name}` (GitHub's `github` among them) starts the workflows
//! its configured rules map the event to.
//!
//! In order: the hook must exist (404); the body must carry a valid `X-Hub-Signature-256`
//! (HMAC-SHA256 of the raw body with the hook's secret, compared in constant time; 401
//! otherwise, and nothing happens); a delivery id seen before starts nothing again (the
//! answer repeats the ids it started then); an event no rule maps gets 202 and starts
//! nothing; otherwise each matching rule starts its workflow, with an idempotency key made
//! of the hook, the delivery id and the rule, so even a crash between starting and
//! recording the delivery cannot start a workflow twice.

mod config;

pub use config::{Hook, Rule, WebhookConfig};

use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_engine::expr;
use baton_model::{IdempotencyStrategy, StartWorkflowRequest};
use baton_store::WebhookDelivery;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// Longest delivery id kept (GitHub's are UUIDs).
const MAX_DELIVERY_ID: usize = 128;

fn header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| headers.get(*n))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`; the
/// comparison is constant-time (`verify_slice`).
pub fn signature_valid(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The branch a `ref` names (`refs/heads/main` → `main`); tags and others as they are.
fn branch_of(payload: &Value) -> Option<String> {
    let r = payload.get("ref")?.as_str()?;
    Some(r.strip_prefix("refs/heads/").unwrap_or(r).to_string())
}

fn rule_matches(rule: &Rule, event: Option<&str>, payload: &Value, branch: Option<&str>) -> bool {
    let field = |path: &[&str]| -> Option<&str> {
        let mut v = payload;
        for p in path {
            v = v.get(*p)?;
        }
        v.as_str()
    };
    rule.event.as_deref().is_none_or(|e| Some(e) == event)
        && rule
            .repository
            .as_deref()
            .is_none_or(|r| Some(r) == field(&["repository", "full_name"]))
        && rule.branch.as_deref().is_none_or(|b| Some(b) == branch)
        && rule
            .action
            .as_deref()
            .is_none_or(|a| Some(a) == field(&["action"]))
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

/// `POST /api/webhook/{name}`.
pub(crate) async fn receive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(hook) = state.config.webhooks.hooks.get(&name) else {
        return Err(ApiError::not_found(format!(
            "no webhook named '{name}' is configured"
        )));
    };
    // A body that did not arrive whole (cut short, too large) is refused before anything.
    let body = body.map_err(crate::extract::body_error)?;
    let Some(signature) = header(&headers, &["x-hub-signature-256"]) else {
        return Err(unauthorized("X-Hub-Signature-256 is missing"));
    };
    if !signature_valid(&hook.secret, &body, signature) {
        return Err(unauthorized("X-Hub-Signature-256 does not match the body"));
    }
    let payload: Value = crate::extract::parse_json(&body)?;
    let event = header(&headers, &["x-github-event", "x-baton-event"]);
    let delivery = header(&headers, &["x-github-delivery", "x-baton-delivery"]);
    if let Some(d) = delivery {
        if d.len() > MAX_DELIVERY_ID {
            return Err(ApiError::bad_request(format!(
                "X-GitHub-Delivery: longer than {MAX_DELIVERY_ID} characters"
            )));
        }
    }
    let runtime = &state.runtime;
    if let Some(d) = delivery {
        if let Some(seen) = runtime
            .store()
            .webhook_delivery(&hook.name, d)
            .await
            .map_err(baton_runtime::Error::Store)?
        {
            return Ok(answer(StatusCode::OK, &seen.workflow_ids, true));
        }
    }
    let branch = branch_of(&payload);
    let matching: Vec<(usize, &Rule)> = hook
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| rule_matches(r, event, &payload, branch.as_deref()))
        .collect();
    if matching.is_empty() {
        return Ok(answer(StatusCode::ACCEPTED, &[], false));
    }
    let scope = json!({
        "payload": payload,
        "webhook": {"name": hook.name, "event": event, "deliveryId": delivery, "branch": branch},
    });
    let mut started = Vec::with_capacity(matching.len());
    for (i, rule) in matching {
        let input = expr::resolve_map(&rule.input, &scope, None);
        let req = StartWorkflowRequest {
            name: rule.workflow.clone(),
            version: rule.version,
            input: input.into_iter().collect(),
            correlation_id: delivery.map(|d| format!("webhook:{}:{d}", hook.name)),
            idempotency_key: delivery.map(|d| format!("webhook:{}:{d}:{i}", hook.name)),
            idempotency_strategy: delivery.map(|_| IdempotencyStrategy::ReturnExisting),
            ..Default::default()
        };
        started.push(runtime.start_workflow(req).await?);
    }
    if let Some(d) = delivery {
        let record = WebhookDelivery {
            hook: hook.name.clone(),
            delivery_id: d.to_string(),
            received_at: runtime.now(),
            workflow_ids: started.clone(),
        };
        if let Some(before) = runtime
            .store()
            .record_webhook_delivery(record)
            .await
            .map_err(baton_runtime::Error::Store)?
        {
            // The same delivery raced this one; the idempotency keys made both start the
            // same workflows.
            return Ok(answer(StatusCode::OK, &before.workflow_ids, true));
        }
    }
    tracing::info!(hook = %hook.name, event = event.unwrap_or(""), workflows = ?started, "webhook started workflows");
    Ok(answer(StatusCode::OK, &started, false))
}

fn answer(status: StatusCode, ids: &[String], duplicate: bool) -> Response {
    (
        status,
        axum::Json(json!({"workflowIds": ids, "duplicate": duplicate})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_check_body_and_secret() {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"key").unwrap();
        mac.update(b"body");
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_valid(b"key", b"body", &sig));
        assert!(!signature_valid(b"key", b"bodx", &sig));
        assert!(!signature_valid(b"kex", b"body", &sig));
        assert!(!signature_valid(
            b"key",
            b"body",
            &sig.replace("sha256=", "sha1=")
        ));
        assert!(!signature_valid(b"key", b"body", "sha256=zz"));
    }

    #[test]
    fn rules_filter_on_event_repository_branch_and_action() {
        let rule = Rule {
            event: Some("push".into()),
            repository: Some("acme/k1".into()),
            branch: Some("main".into()),
            action: None,
            workflow: "w".into(),
            version: None,
            input: Default::default(),
        };
        let p = json!({"ref": "refs/heads/main", "repository": {"full_name": "acme/k1"}});
        let b = branch_of(&p);
        assert!(rule_matches(&rule, Some("push"), &p, b.as_deref()));
        assert!(!rule_matches(&rule, Some("pull_request"), &p, b.as_deref()));
        let other = json!({"ref": "refs/heads/dev", "repository": {"full_name": "acme/k1"}});
        assert!(!rule_matches(
            &rule,
            Some("push"),
            &other,
            branch_of(&other).as_deref()
        ));
    }
}
