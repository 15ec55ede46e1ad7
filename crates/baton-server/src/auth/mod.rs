//! Authentication and authorisation: API keys with roles, the token exchange the official
//! SDKs use (`POST /api/token`, then `X-Authorization: <token>`), HTTP basic auth with a key
//! id and secret (for Prometheus and curl), and back-off per client address after failures.
//!
//! When auth is on every route but the public ones ([`policy::need`]) needs a credential
//! whose key is not revoked and whose role allows the route; a refusal changes nothing.
//! Secrets, tokens and `Authorization` headers are never logged nor echoed in errors.

mod backoff;
pub mod keys;
mod policy;
mod scope;
pub mod token;
mod whoami;

pub use backoff::BackoffConfig;
pub use keys::Role;
pub use policy::Need;
pub use scope::TaskScope;
pub(crate) use whoami::whoami;

use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use backoff::Backoff;
use base64::Engine;
use baton_store::Store;
use parking_lot::Mutex;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use token::TokenError;

/// Whether requests must authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every request is allowed (loopback without keys, or `--insecure`).
    Off,
    /// Keys exist: requests need a credential.
    On,
}

/// Decides the mode at start: keys make auth on; without keys a loopback address runs open,
/// and any other address is refused unless `insecure` is set.
///
/// # Errors
/// A message for the operator when a non-loopback address has no keys and no `--insecure`.
pub fn decide_mode(
    active_keys: usize,
    addr: &SocketAddr,
    insecure: bool,
) -> Result<AuthMode, String> {
    if active_keys > 0 {
        return Ok(AuthMode::On);
    }
    if addr.ip().is_loopback() || insecure {
        return Ok(AuthMode::Off);
    }
    Err(format!(
        "refusing to listen on {addr} without authentication: no API key exists in the database. \
         Create one with `baton keys create --role admin` (then restart), listen on a loopback \
         address (--host 127.0.0.1), or pass --insecure to serve everyone without keys"
    ))
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// Set when auth is off on a non-loopback address (`--insecure`): `/health` says so.
    pub insecure: bool,
    /// Lifetime of a token from `POST /api/token`.
    pub token_ttl: Duration,
    /// How long a key's role and revocation are cached; a revoked key's tokens stop working
    /// at most this long after `baton keys revoke`.
    pub key_cache_ttl: Duration,
    /// Serve `/metrics` without a credential even when auth is on.
    pub public_metrics: bool,
    pub backoff: BackoffConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::Off,
            insecure: false,
            token_ttl: Duration::from_secs(3600),
            key_cache_ttl: Duration::from_secs(1),
            public_metrics: false,
            backoff: BackoffConfig::default(),
        }
    }
}

/// The name of the server secret that signs tokens.
const SIGNING_KEY: &str = "token_signing_key";

pub struct Auth {
    config: AuthConfig,
    store: Arc<dyn Store>,
    signing_key: tokio::sync::OnceCell<Vec<u8>>,
    /// key id → (what it grants if usable: present, not revoked, known role; when read)
    keys: Mutex<HashMap<String, (Option<Grant>, Instant)>>,
    /// key id → (SHA-256 of the last secret that passed argon2, when): spares basic auth an
    /// argon2 run per request. Bounded by the number of keys.
    verified: Mutex<HashMap<String, ([u8; 32], Instant)>>,
    backoff: Backoff,
}

/// What a usable key grants: its role, and the task types it is limited to (None: all).
#[derive(Debug, Clone)]
struct Grant {
    role: Role,
    task_types: Option<Arc<[String]>>,
}

/// Who a request authenticated as.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    pub role: Role,
    /// The task types this key may poll, update and read (None: every type).
    pub task_types: Option<Arc<[String]>>,
    /// When the request's token expires (epoch seconds); None for basic auth. Long-lived
    /// answers (the change stream) end then.
    pub expires_at: Option<i64>,
}

impl Principal {
    fn new(key_id: String, grant: Grant, expires_at: Option<i64>) -> Self {
        Principal {
            key_id,
            role: grant.role,
            task_types: grant.task_types,
            expires_at,
        }
    }
}

/// A refusal: status, the SDK-visible error code, and a message without secrets.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    retry_after: Option<Duration>,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({
            "status": self.status.as_u16(),
            "message": self.message,
            "error": self.code,
            "instance": "baton",
            "retryable": self.retry_after.is_some(),
        });
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res.extensions_mut()
            .insert(crate::error::ErrorDetail(format!(
                "{}: {}",
                self.code, self.message
            )));
        res
    }
}

fn refuse(status: StatusCode, code: &'static str, message: &'static str) -> Refusal {
    Refusal {
        status,
        code,
        message,
        retry_after: None,
    }
}

/// A credential as sent, not yet checked.
enum Credential {
    Token(String),
    Basic { key_id: String, secret: String },
}

fn credential(headers: &HeaderMap) -> Option<Credential> {
    if let Some(v) = headers.get("x-authorization") {
        return Some(Credential::Token(
            v.to_str().unwrap_or("").trim().to_string(),
        ));
    }
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    if let Some(t) = v.strip_prefix("Bearer ") {
        return Some(Credential::Token(t.trim().to_string()));
    }
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (key_id, secret) = raw.split_once(':')?;
    Some(Credential::Basic {
        key_id: key_id.to_string(),
        secret: secret.to_string(),
    })
}

fn now_secs() -> i64 {
    baton_runtime::Clock::System.now_ms() / 1000
}

/// Longest key id or secret looked at; longer ones are refused unread.
const MAX_CREDENTIAL_LEN: usize = 256;

impl Auth {
    pub fn new(store: Arc<dyn Store>, config: AuthConfig) -> Self {
        Auth {
            backoff: Backoff::new(config.backoff.clone()),
            config,
            store,
            signing_key: tokio::sync::OnceCell::new(),
            keys: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
        }
    }

    pub fn mode(&self) -> AuthMode {
        self.config.mode
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    async fn signing_key(&self) -> Result<&[u8], baton_store::StoreError> {
        let key = self
            .signing_key
            .get_or_try_init(|| async {
                let mut candidate = vec![0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut candidate);
                self.store.server_secret(SIGNING_KEY, candidate).await
            })
            .await?;
        Ok(key.as_slice())
    }

    /// Whether `key_id` is still usable (not revoked, still known), read through the key
    /// cache, for answers that outlive their request (the change stream). A store error
    /// answers true: a database blip must not end every open stream.
    pub(crate) async fn still_valid(&self, key_id: &str) -> bool {
        !matches!(self.grant_of(key_id).await, Ok(None))
    }

    /// How often a long-lived answer should ask [`Auth::still_valid`]: a revocation is seen
    /// within about the key cache's lifetime anyway.
    pub(crate) fn recheck_interval(&self) -> std::time::Duration {
        self.config.key_cache_ttl.clamp(
            std::time::Duration::from_millis(250),
            std::time::Duration::from_secs(15),
        )
    }

    /// What `key_id` grants (None: unknown, revoked, or a role this build does not know),
    /// read through a cache of `key_cache_ttl`.
    async fn grant_of(&self, key_id: &str) -> Result<Option<Grant>, baton_store::StoreError> {
        if let Some((grant, at)) = self.keys.lock().get(key_id) {
            if at.elapsed() < self.config.key_cache_ttl {
                return Ok(grant.clone());
            }
        }
        let key = self.store.get_api_key(key_id).await?;
        let grant = key.filter(|k| k.revoked_at.is_none()).and_then(|k| {
            Some(Grant {
                role: Role::parse(&k.role)?,
                task_types: k.task_types.map(Arc::from),
            })
        });
        let mut keys = self.keys.lock();
        // Entries only for ids that exist, so made-up ids cannot grow the map.
        if grant.is_some() || keys.contains_key(key_id) {
            keys.insert(key_id.to_string(), (grant.clone(), Instant::now()));
        }
        Ok(grant)
    }

    /// Checks a key id and secret (argon2, off the async threads). None if they do not match
    /// a usable key.
    async fn check_secret(
        &self,
        key_id: &str,
        secret: &str,
    ) -> Result<Option<Grant>, baton_store::StoreError> {
        if key_id.len() > MAX_CREDENTIAL_LEN || secret.len() > MAX_CREDENTIAL_LEN {
            return Ok(None);
        }
        let Some(grant) = self.grant_of(key_id).await? else {
            return Ok(None);
        };
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some((d, at)) = self.verified.lock().get(key_id) {
            if at.elapsed() < self.config.key_cache_ttl.max(Duration::from_secs(60))
                && subtle::ConstantTimeEq::ct_eq(&d[..], &digest[..]).into()
            {
                return Ok(Some(grant));
            }
        }
        let Some(key) = self.store.get_api_key(key_id).await? else {
            return Ok(None);
        };
        let secret = secret.to_string();
        let hash = key.secret_hash;
        let ok = tokio::task::spawn_blocking(move || keys::secret_matches(&secret, &hash))
            .await
            .unwrap_or(false);
        if !ok {
            return Ok(None);
        }
        self.verified
            .lock()
            .insert(key_id.to_string(), (digest, Instant::now()));
        Ok(Some(grant))
    }

    async fn authenticate(&self, cred: Credential) -> Result<Principal, Refusal> {
        let internal = |_| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "could not read API keys",
            )
        };
        match cred {
            Credential::Token(t) => {
                let signing = self.signing_key().await.map_err(internal)?;
                let claims = token::verify(signing, &t, now_secs()).map_err(|e| match e {
                    TokenError::Expired => refuse(
                        StatusCode::UNAUTHORIZED,
                        "EXPIRED_TOKEN",
                        "the token has expired; get a new one from POST /api/token",
                    ),
                    _ => refuse(
                        StatusCode::UNAUTHORIZED,
                        "INVALID_TOKEN",
                        "the token is not valid",
                    ),
                })?;
                match self.grant_of(&claims.key_id).await.map_err(internal)? {
                    Some(grant) => Ok(Principal::new(
                        claims.key_id,
                        grant,
                        Some(claims.expires_at),
                    )),
                    None => Err(refuse(
                        StatusCode::UNAUTHORIZED,
                        "INVALID_TOKEN",
                        "the token's key is revoked or unknown",
                    )),
                }
            }
            Credential::Basic { key_id, secret } => match self
                .check_secret(&key_id, &secret)
                .await
                .map_err(internal)?
            {
                Some(grant) => Ok(Principal::new(key_id, grant, None)),
                None => Err(refuse(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_CREDENTIALS",
                    "unknown key id, wrong secret, or a revoked key",
                )),
            },
        }
    }
}

fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn blocked(wait: Duration) -> Refusal {
    Refusal {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "TOO_MANY_FAILURES",
        message: "too many failed authentication attempts from this address; retry later",
        retry_after: Some(wait),
    }
}

/// Admits a request to `route` (its template): public routes pass, the rest need a
/// credential whose role allows the route; the principal is left in the request's
/// extensions. `Err` is the refusal to send instead.
pub(crate) async fn admit(auth: &Auth, route: &str, req: &mut Request) -> Result<(), Response> {
    if auth.mode() == AuthMode::Off {
        return Ok(());
    }
    let need = policy::need(req.method(), route);
    if need == Need::Public || (route == "/metrics" && auth.config.public_metrics) {
        return Ok(());
    }
    let ip = client_ip(req);
    let Some(cred) = credential(req.headers()) else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "authentication required: send X-Authorization with a token from POST /api/token, or basic auth with a key id and secret",
        )
        .into_response());
    };
    if let Some(wait) = auth.backoff.blocked(ip) {
        return Err(blocked(wait).into_response());
    }
    let principal = match auth.authenticate(cred).await {
        Ok(p) => p,
        Err(r) => {
            if r.status == StatusCode::UNAUTHORIZED {
                auth.backoff.failed(ip);
            }
            return Err(r.into_response());
        }
    };
    auth.backoff.succeeded(ip);
    tracing::Span::current().record("key_id", principal.key_id.as_str());
    if !principal.role.allows(need) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this key's role may not do this",
        )
        .into_response());
    }
    req.extensions_mut().insert(principal);
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    key_id: String,
    key_secret: String,
}

/// `POST /api/token`: a key id and secret for a signed token (`{"token": ...}`). 404 when
/// auth is off, which the SDKs take as "open server".
pub(crate) async fn issue_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> Response {
    let auth = &state.auth;
    if auth.mode() == AuthMode::Off {
        return refuse(
            StatusCode::NOT_FOUND,
            "AUTH_OFF",
            "authentication is off on this server; no token is needed",
        )
        .into_response();
    }
    let ip = peer.ip();
    if let Some(wait) = auth.backoff.blocked(ip) {
        return blocked(wait).into_response();
    }
    // Parsed without echoing the body: it holds a secret.
    let Ok(req) = serde_json::from_slice::<TokenRequest>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the body must be a JSON object with string fields keyId and keySecret",
        )
        .into_response();
    };
    match auth.check_secret(&req.key_id, &req.key_secret).await {
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "could not read API keys",
        )
        .into_response(),
        Ok(None) => {
            auth.backoff.failed(ip);
            refuse(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "unknown key id, wrong secret, or a revoked key",
            )
            .into_response()
        }
        Ok(Some(_)) => {
            auth.backoff.succeeded(ip);
            let signing = match auth.signing_key().await {
                Ok(k) => k,
                Err(_) => {
                    return refuse(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "INTERNAL",
                        "could not read the signing key",
                    )
                    .into_response()
                }
            };
            let ttl = i64::try_from(auth.config.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
            let token = token::sign(signing, &req.key_id, now_secs().saturating_add(ttl));
            tracing::Span::current().record("key_id", req.key_id.as_str());
            axum::Json(json!({"token": token})).into_response()
        }
    }
}
