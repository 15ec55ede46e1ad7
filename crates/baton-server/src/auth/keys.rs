//! API keys: roles, making a key (id, secret, argon2 hash), and checking a secret.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;

/// What a key may do. Each role includes the ones below it except `worker`, which is its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including metadata and event handler changes.
    Admin,
    /// Start and manage workflows and schedules, complete tasks by reference, read
    /// everything; no metadata changes.
    Operator,
    /// Poll, update and log tasks; read tasks and queues.
    Worker,
    /// Read only.
    Viewer,
}

impl Role {
    pub const NAMES: &'static str = "admin, operator, worker, viewer";

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "worker" => Some(Role::Worker),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Worker => "worker",
            Role::Viewer => "viewer",
        }
    }
}

/// A key just made: the secret is shown once and then only its hash exists.
pub struct NewKey {
    pub key_id: String,
    pub secret: String,
    pub secret_hash: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Makes a key: a random UUID id and a 256-bit random secret (URL-safe base64), hashed
/// with argon2id (the crate's recommended parameters) and a random salt.
pub fn make_key() -> Result<NewKey, String> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let secret_hash = hash_secret(&secret)?;
    Ok(NewKey {
        key_id: uuid::Uuid::new_v4().to_string(),
        secret,
        secret_hash,
    })
}

pub fn hash_secret(secret: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the key secret: {e}"))
}

/// Whether `secret` matches the stored argon2 `hash` (compared in constant time by the crate).
pub fn secret_matches(secret: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}
