//! `baton server` flags for connection handling: timeouts, the connection bound, shutdown.

use baton_server::ServerConfig;
use std::time::Duration;

/// Connection limits (flattened into `baton server`'s flags).
#[derive(clap::Args, Debug)]
pub struct ConnArgs {
    /// Close a connection whose request headers are not complete this many ms after their
    /// first byte (slow clients, slow-loris).
    #[arg(long, env = "BATON_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_ms: u64,
    /// Close a keep-alive connection idle this many ms between requests (nginx's default).
    /// Client pools that keep idle connections longer find them closed and reconnect.
    #[arg(long, env = "BATON_IDLE_TIMEOUT_MS", default_value_t = 75_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_ms: u64,
    /// Answer 408 and close when a request body has not fully arrived this many ms after its
    /// headers. Long polls and synchronous execute wait after the body and are not affected.
    #[arg(long, env = "BATON_BODY_READ_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    body_read_timeout_ms: u64,
    /// Most client connections served at once; more are answered 503 and closed. Lowered to
    /// fit the open-file limit (logged at start).
    #[arg(long, env = "BATON_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// On SIGTERM or Ctrl-C, how many ms in-flight requests may take to finish before the
    /// connections still open are dropped.
    #[arg(long, env = "BATON_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000)]
    shutdown_timeout_ms: u64,
}

impl ConnArgs {
    /// Copies these flags into `config`.
    pub fn apply(&self, config: &mut ServerConfig) {
        config.header_read_timeout = Duration::from_millis(self.header_read_timeout_ms);
        config.idle_timeout = Duration::from_millis(self.idle_timeout_ms);
        config.body_read_timeout = Duration::from_millis(self.body_read_timeout_ms);
        config.max_connections = usize::try_from(self.max_connections).unwrap_or(usize::MAX);
        config.shutdown_timeout = Duration::from_millis(self.shutdown_timeout_ms);
    }
}

/// Raises the open-file soft limit to the hard limit, logging both; a failure only warns.
pub fn raise_open_file_limit() {
    let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    match baton_server::raise_open_file_limit() {
        Ok(l) if l.before != l.after => tracing::info!(
            "raised the open-file soft limit from {} to {} (the hard limit)",
            show(l.before),
            show(l.after)
        ),
        Ok(l) => tracing::info!(
            "open-file soft limit {} already at the hard limit {}",
            show(l.after),
            show(l.hard)
        ),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file soft limit"),
    }
}
