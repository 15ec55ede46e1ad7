//! `baton server` flags for authentication: `--insecure`, token lifetime, `/metrics` access
//! and the back-off after failed attempts.

use baton_server::auth::{AuthConfig, BackoffConfig};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct AuthArgs {
    /// Serve without authentication on a non-loopback address when no API key exists
    /// (otherwise the server refuses to start there). Logged at start and shown in /health.
    #[arg(long, env = "BATON_INSECURE")]
    insecure: bool,
    /// Lifetime of a token from POST /api/token, in seconds (the SDKs renew before 45 min).
    #[arg(long, env = "BATON_TOKEN_TTL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(60..=604_800))]
    token_ttl_secs: u64,
    /// Serve /metrics without a credential even when authentication is on.
    #[arg(long, env = "BATON_PUBLIC_METRICS")]
    public_metrics: bool,
    /// Failed authentication attempts in a row one client address may make before it is
    /// refused (429) for a while that doubles with each further failure.
    #[arg(long, env = "BATON_AUTH_FREE_FAILURES", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    auth_free_failures: u32,
    /// Longest refusal of a client address after failed attempts, in seconds.
    #[arg(long, env = "BATON_AUTH_MAX_BLOCK_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    auth_max_block_secs: u64,
}

impl AuthArgs {
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// The auth settings, with the mode decided by the caller.
    pub fn config(&self) -> AuthConfig {
        AuthConfig {
            token_ttl: Duration::from_secs(self.token_ttl_secs),
            public_metrics: self.public_metrics,
            backoff: BackoffConfig {
                free_failures: self.auth_free_failures,
                max_block: Duration::from_secs(self.auth_max_block_secs),
                ..BackoffConfig::default()
            },
            ..AuthConfig::default()
        }
    }
}
