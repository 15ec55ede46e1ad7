//! One client connection: hyper serves HTTP/1.1 on it while a watchdog beside it enforces the
//! header-read and keep-alive idle deadlines, and each request body gets a total read deadline.
//!
//! hyper's own `header_read_timeout` starts as soon as a connection goes idle, so it would also
//! close idle keep-alive connections at the (short) header deadline; the watchdog keeps the two
//! apart: the header clock starts at the first byte of a request, the idle clock at the last byte
//! exchanged with no request in flight.

use crate::error::ApiError;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The per-connection deadlines (see [`crate::ServerConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
    pub body: Duration,
}

/// How the connection task learns it should stop.
#[derive(Clone)]
pub(crate) struct Stop {
    /// Finish the request in flight, then close (server shutdown began).
    pub graceful: CancellationToken,
    /// Close now (the shutdown deadline passed).
    pub force: CancellationToken,
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Header,
    Idle,
}

const NO_HEAD: u64 = u64::MAX;

/// What the I/O wrapper and the service record for the watchdog. Everything runs on the
/// connection's one task, so relaxed atomics suffice (they only make the types `Send`).
struct Activity {
    base: Instant,
    /// Milliseconds since `base` of the last byte read or written.
    last_io_ms: AtomicU64,
    /// Milliseconds since `base` of the first byte of a request head not yet parsed, or NO_HEAD.
    head_started_ms: AtomicU64,
    /// Requests handed to the router whose handler has not finished.
    in_flight: AtomicUsize,
    /// Wakes the watchdog when the kind of deadline changes.
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            base: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            head_started_ms: AtomicU64::new(NO_HEAD),
            in_flight: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn on_read(&self) {
        let now = self.now_ms();
        self.last_io_ms.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started_ms.load(Ordering::Relaxed) == NO_HEAD
        {
            self.head_started_ms.store(now, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    fn on_write(&self) {
        self.last_io_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_started_ms.store(NO_HEAD, Ordering::Relaxed);
        self.changed.notify_one();
    }

    fn request_finished(&self) {
        self.last_io_ms.store(self.now_ms(), Ordering::Relaxed);
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.changed.notify_one();
        }
    }

    /// The deadline now in force: none while a handler runs (its body has its own deadline).
    fn deadline(&self, t: &Timeouts) -> Option<(Instant, Expiry)> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let head = self.head_started_ms.load(Ordering::Relaxed);
        let (from_ms, after, kind) = if head != NO_HEAD {
            (head, t.header, Expiry::Header)
        } else {
            (
                self.last_io_ms.load(Ordering::Relaxed),
                t.idle,
                Expiry::Idle,
            )
        };
        Some((self.base + Duration::from_millis(from_ms) + after, kind))
    }
}

/// Decrements `in_flight` however the request ends (answered, or dropped with the connection).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.request_started();
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// The connection's stream (TCP, or TLS over TCP), telling [`Activity`] about every byte
/// that moves.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The request body failed to arrive in time.
#[derive(Debug)]
struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body read timed out")
    }
}

impl std::error::Error for BodyTimeout {}

/// A request body that must be fully received by a deadline fixed when its head was parsed.
/// A total deadline, not a per-read one, so a body trickled a byte at a time cannot hold a
/// connection open. Only reading the body is timed: a handler that then waits (a long poll, a
/// synchronous execute) is not affected.
struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        // The timer is made on first use: bodiless requests never allocate one.
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Pin::new(&mut this.inner)
            .poll_frame(cx)
            .map_err(|e| Box::new(e) as Self::Error)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn body_timeout_response(after: Duration) -> Response<Body> {
    let mut resp = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "the request body did not arrive within {} ms of its headers; closing the connection \
             (the server's --body-read-timeout-ms)",
            after.as_millis()
        ),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Serves one accepted connection until the client closes it, a deadline passes, or `stop`
/// says so. Errors are the client's doing and only logged at debug level.
/// `peer` is the client's address, for per-address limits (failed-authentication back-off).
pub(crate) async fn serve<S>(
    stream: S,
    peer: Option<std::net::SocketAddr>,
    router: Router,
    t: Timeouts,
    stop: Stop,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let svc_activity = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let guard = InFlight::start(&svc_activity);
        let timed_out = Arc::new(AtomicBool::new(false));
        let mut req = req.map(|inner| {
            Body::new(TimedBody {
                inner,
                deadline: Instant::now() + t.body,
                sleep: None,
                timed_out: timed_out.clone(),
            })
        });
        if let Some(peer) = peer {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let router = router.clone();
        async move {
            let _guard = guard;
            let resp = match router.oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            if timed_out.load(Ordering::Relaxed) {
                tracing::debug!("request body read timed out; answering 408 and closing");
                return Ok::<_, Infallible>(body_timeout_response(t.body));
            }
            Ok(resp)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog below does header timing; hyper's would double as a short idle timeout.
    builder.header_read_timeout(None).keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let deadline = activity.deadline(&t);
        let expiry = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.force.cancelled() => return,
            _ = stop.graceful.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = activity.changed.notified() => {}
            _ = expiry => {
                if let Some((at, kind)) = activity.deadline(&t) {
                    if Instant::now() >= at {
                        match kind {
                            Expiry::Header => tracing::debug!(
                                "request headers not complete within {:?}; closing", t.header
                            ),
                            Expiry::Idle => tracing::debug!(
                                "connection idle for {:?}; closing", t.idle
                            ),
                        }
                        return;
                    }
                }
            }
        }
    }
}
