//! Records of the security features: API keys and webhook deliveries.

use crate::Millis;

/// An API key as stored. The secret itself is never stored, only `secret_hash` (an argon2
/// PHC string); the role is a name the server checks (`admin`, `operator`, `worker`,
/// `viewer`).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub key_id: String,
    /// A label for people (`ci`, `k1-workers`).
    pub name: String,
    pub role: String,
    pub secret_hash: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
    /// The task types a (worker) key may poll, update and read; `None` for every type.
    pub task_types: Option<Vec<String>>,
}

impl std::fmt::Debug for ApiKey {
    // The hash stays out of debug output and so out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("key_id", &self.key_id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .field("revoked_at", &self.revoked_at)
            .field("task_types", &self.task_types)
            .finish_non_exhaustive()
    }
}

/// A webhook delivery as first recorded: which workflows it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub hook: String,
    pub delivery_id: String,
    pub received_at: Millis,
    pub workflow_ids: Vec<String>,
}

/// `task_types` as stored: a JSON array, or NULL for every type.
pub(crate) fn task_types_column(types: &Option<Vec<String>>) -> crate::Result<Option<String>> {
    types
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| crate::StoreError::Database(format!("key task types: {e}")))
}

/// The stored `task_types` column read back.
pub(crate) fn task_types_from_column(raw: Option<String>) -> crate::Result<Option<Vec<String>>> {
    raw.map(|r| serde_json::from_str(&r))
        .transpose()
        .map_err(|e| crate::StoreError::Corrupt(format!("key task types: {e}")))
}
