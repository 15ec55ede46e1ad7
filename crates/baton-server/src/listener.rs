//! The accept loop: bounds concurrent connections (refusing the excess with a clear 503),
//! survives accept errors such as running out of descriptors, and shuts down gracefully with a
//! deadline after which the connections still open are dropped.

use crate::conn::{self, Stop, Timeouts};
use crate::nofile;
use crate::ServerConfig;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Refusals being written at once; past this an excess connection is closed without a word,
/// so a flood cannot spend descriptors on explanations.
const REFUSAL_SLOTS: usize = 32;
/// How long a refusal may take (write the 503, then drain what the client sent).
const REFUSAL_TIME: Duration = Duration::from_secs(2);
/// Pause after an accept error such as EMFILE, so the loop does not spin while it lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning per this long for each kind of repeated event.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Logs the first of a run of events at once and then a count at most every [`WARN_EVERY`].
struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    fn new() -> Self {
        Throttle {
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(events since the last warning)` when a warning is due now.
    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(at) if now.duration_since(at) < WARN_EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                let n = self.suppressed + 1;
                self.suppressed = 0;
                Some(n)
            }
        }
    }
}

/// Errors of one half-open connection, not of the listener: just try the next one.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// The raw HTTP/1.1 response sent to a connection over the limit, in Conductor's error shape.
fn refusal_response(limit: usize) -> Vec<u8> {
    let message = format!(
        "connection limit reached: this server serves at most {limit} connections at once \
         (raise with --max-connections / BATON_MAX_CONNECTIONS, within the open-file limit); \
         retry later"
    );
    let body = serde_json::json!({
        "status": 503,
        "message": message,
        "instance": "baton",
        "retryable": true,
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Writes the refusal, then reads until the client closes: closing with its request unread
/// would send a reset, which can destroy the 503 before the client reads it.
async fn write_refusal(mut stream: TcpStream, response: Arc<[u8]>) -> std::io::Result<()> {
    stream.write_all(&response).await?;
    stream.shutdown().await?;
    let mut buf = [0u8; 4096];
    for _ in 0..256 {
        if stream.read(&mut buf).await? == 0 {
            break;
        }
    }
    Ok(())
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains as described in the
/// module docs.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    config: &ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let soft = nofile::soft_open_file_limit();
    let capacity = nofile::connection_capacity(config.max_connections, soft);
    let soft_text = soft.map_or_else(|| "unlimited".to_string(), |s| s.to_string());
    if capacity < config.max_connections {
        tracing::warn!(
            "serving at most {capacity} connections at once: --max-connections {} does not fit \
             the open-file limit {soft_text} less {} reserved descriptors",
            config.max_connections,
            nofile::RESERVED_DESCRIPTORS
        );
    } else {
        tracing::info!(
            "serving at most {capacity} connections at once (open-file limit {soft_text})"
        );
    }
    let permits = Arc::new(Semaphore::new(capacity));
    let refusal_slots = Arc::new(Semaphore::new(REFUSAL_SLOTS));
    let refusal: Arc<[u8]> = refusal_response(capacity).into();
    let timeouts = Timeouts {
        header: config.header_read_timeout,
        idle: config.idle_timeout,
        body: config.body_read_timeout,
    };
    let stop = Stop {
        graceful: CancellationToken::new(),
        force: CancellationToken::new(),
    };
    let connections = TaskTracker::new();
    let mut refused = Throttle::new();
    let mut accept_failed = Throttle::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            res = listener.accept() => res,
        };
        let (stream, peer) = match accepted {
            Ok((stream, peer)) => (stream, peer),
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // EMFILE and kin: the listener is fine; wait for descriptors to come back.
                if let Some(n) = accept_failed.due() {
                    tracing::error!(error = %e, failures = n, "accepting a connection failed");
                }
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let (router, stop) = (router.clone(), stop.clone());
                let tls = config.tls.as_ref().map(|t| t.acceptor());
                connections.spawn(async move {
                    match tls {
                        None => conn::serve(stream, Some(peer), router, timeouts, stop).await,
                        Some(acceptor) => {
                            // The handshake runs in the connection's task, bounded like the
                            // request headers, so a slow client cannot stall accepting.
                            let handshake =
                                tokio::time::timeout(timeouts.header, acceptor.accept(stream));
                            let tls_stream = tokio::select! {
                                _ = stop.force.cancelled() => None,
                                res = handshake => match res {
                                    Ok(Ok(s)) => Some(s),
                                    Ok(Err(e)) => {
                                        tracing::debug!(error = %e, "TLS handshake failed");
                                        None
                                    }
                                    Err(_) => {
                                        tracing::debug!("TLS handshake timed out");
                                        None
                                    }
                                },
                            };
                            if let Some(s) = tls_stream {
                                conn::serve(s, Some(peer), router, timeouts, stop).await;
                            }
                        }
                    }
                    drop(permit);
                });
            }
            Err(_) => {
                if let Some(n) = refused.due() {
                    tracing::warn!(
                        refused = n,
                        "connection limit of {capacity} reached; refusing new connections \
                         with 503 (--max-connections)"
                    );
                }
                // Past REFUSAL_SLOTS the stream is dropped here, closing it at once.
                if let Ok(slot) = refusal_slots.clone().try_acquire_owned() {
                    let response = refusal.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(REFUSAL_TIME, write_refusal(stream, response))
                            .await;
                        drop(slot);
                    });
                }
            }
        }
    }
    // Stop accepting: connections still in the backlog are reset by the kernel.
    drop(listener);
    stop.graceful.cancel();
    connections.close();
    tracing::info!(
        "shutting down: stopped accepting; waiting up to {} ms for {} open connections",
        config.shutdown_timeout.as_millis(),
        connections.len()
    );
    if tokio::time::timeout(config.shutdown_timeout, connections.wait())
        .await
        .is_err()
    {
        let dropped = connections.len();
        stop.force.cancel();
        tracing::warn!(
            dropped,
            "shutdown deadline of {} ms reached: dropped {dropped} connections",
            config.shutdown_timeout.as_millis()
        );
        connections.wait().await;
    }
}
