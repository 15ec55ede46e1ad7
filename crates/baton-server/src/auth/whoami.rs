//! `GET /api/token/whoami` (a Baton extension): who the caller authenticated as, so a client
//! such as the web UI can show only what the caller's role may do. The answer holds no
//! secret and no token.

use super::{AuthMode, Principal};
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{json, Value};

/// `{"authentication": false}` when auth is off (everyone may do everything); otherwise
/// `{"authentication": true, "keyId", "role", "taskTypes", "expiresAt"}` (`expiresAt` in
/// epoch milliseconds, null for basic auth). Without a credential the auth layer answers 401.
pub(crate) async fn whoami(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Json<Value> {
    match principal {
        Some(Extension(p)) if state.auth.mode() == AuthMode::On => Json(json!({
            "authentication": true,
            "keyId": p.key_id,
            "role": p.role.as_str(),
            "taskTypes": p.task_types.as_deref(),
            "expiresAt": p.expires_at.map(|s| s.saturating_mul(1000)),
        })),
        _ => Json(json!({"authentication": false})),
    }
}
