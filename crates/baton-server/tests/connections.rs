//! Connection handling over real loopback sockets: header-read, idle and body deadlines, the
//! connection bound with its 503 refusal, and graceful shutdown with a deadline.
//!
//! Servers here run with deadlines of a few hundred milliseconds. Every wait is bounded, and
//! only outcomes are asserted (a connection closed or still open, a status), never that
//! something happened within some wall time.

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any single wait in these tests may take before the test fails.
const BOUND: Duration = Duration::from_secs(10);

struct Served {
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    client: reqwest::Client,
}

impl Served {
    async fn start(config: baton_server::ServerConfig) -> Served {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = baton_store::SqliteStore::open_path(dir.path().join("t.db")).expect("store");
        let runtime =
            baton_runtime::Runtime::new(Arc::new(store), baton_runtime::RuntimeConfig::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(baton_server::serve(listener, runtime, config, async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Served {
            _dir: dir,
            addr,
            shutdown: Some(tx),
            handle: Some(handle),
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.expect("connect")
    }

    async fn health_ok(&self) -> bool {
        match self.client.get(self.url("/health")).send().await {
            Ok(resp) => resp.status() == 200,
            Err(_) => false,
        }
    }

    /// Sends the shutdown signal and waits (bounded) for `serve` to return.
    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let res = tokio::time::timeout(Duration::from_secs(20), handle)
                .await
                .expect("serve returned after shutdown")
                .expect("serve task did not panic");
            res.expect("serve returned Ok");
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn config() -> baton_server::ServerConfig {
    baton_server::ServerConfig {
        header_read_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(400),
        body_read_timeout: Duration::from_millis(400),
        max_connections: 64,
        shutdown_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

/// What became of a connection while we waited for it to close.
#[derive(Debug, PartialEq)]
enum End {
    /// The server closed it (EOF or reset); carries everything read before that.
    Closed(Vec<u8>),
    /// Still open when the wait ran out; carries everything read.
    Open(Vec<u8>),
}

/// Reads until the peer closes or `wait` passes.
async fn read_to_close(stream: &mut TcpStream, wait: Duration) -> End {
    let deadline = tokio::time::Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return End::Open(got),
            Ok(Ok(0)) | Ok(Err(_)) => return End::Closed(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one whole response (headers plus `content-length` body) from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + len]).to_string();
                return (status, body);
            }
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("a response within the bound")
            .expect("read");
        assert!(n > 0, "connection closed mid-response: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

const GET_HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n";

#[tokio::test]
async fn partial_header_is_closed_after_header_timeout() {
    let s = Served::start(baton_server::ServerConfig {
        idle_timeout: Duration::from_secs(60),
        ..config()
    })
    .await;
    let mut slow = s.connect().await;
    let started = Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .expect("write partial header");
    // Other clients are served while the slow one holds its connection.
    assert!(s.health_ok().await, "server answers others meanwhile");
    let end = read_to_close(&mut slow, BOUND).await;
    assert_eq!(
        end,
        End::Closed(Vec::new()),
        "slow header closed, nothing sent"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(s.health_ok().await, "server answers after closing it");
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let s = Served::start(baton_server::ServerConfig {
        header_read_timeout: Duration::from_secs(60),
        ..config()
    })
    .await;
    let mut conn = s.connect().await;
    // Two requests on one connection: keep-alive works before the deadline. The idle clock
    // is started before the last response is read, so it cannot start after the server's
    // (which starts when the server writes that response).
    let mut idle_from = Instant::now();
    for _ in 0..2 {
        conn.write_all(GET_HEALTH).await.expect("write");
        idle_from = Instant::now();
        let (status, _) = read_response(&mut conn).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        read_to_close(&mut conn, BOUND).await,
        End::Closed(Vec::new())
    );
    assert!(idle_from.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn idle_connection_outlives_the_shorter_header_timeout() {
    // The header clock starts at a request's first byte, not when the connection goes idle.
    let s = Served::start(baton_server::ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(60),
        ..config()
    })
    .await;
    let mut conn = s.connect().await;
    conn.write_all(GET_HEALTH).await.expect("write");
    assert_eq!(read_response(&mut conn).await.0, 200);
    assert_eq!(
        read_to_close(&mut conn, Duration::from_millis(1200)).await,
        End::Open(Vec::new()),
        "an idle connection stays open past the header timeout"
    );
    conn.write_all(GET_HEALTH).await.expect("write again");
    assert_eq!(read_response(&mut conn).await.0, 200);
}

#[tokio::test]
async fn trickled_body_gets_408_and_changes_nothing() {
    let s = Served::start(config()).await;
    let body = json!([{"name": "slow_body_def", "description": "x".repeat(200)}]).to_string();
    let mut conn = s.connect().await;
    let head = format!(
        "POST /api/metadata/taskdefs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.expect("write head");
    // A byte every 50 ms: each read makes progress, but the whole body never arrives in time.
    let mut answer = None;
    for byte in body.as_bytes().iter().take(150) {
        if conn.write_all(&[*byte]).await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(50), conn.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(n)) => {
                answer = Some(buf[..n].to_vec());
                break;
            }
            Ok(Err(_)) => {
                answer = Some(Vec::new());
                break;
            }
        }
    }
    let Some(mut got) = answer else {
        panic!("the server never answered or closed a body trickled for 7 s");
    };
    let (End::Closed(rest) | End::Open(rest)) = read_to_close(&mut conn, BOUND).await;
    got.extend(rest);
    let text = String::from_utf8_lossy(&got);
    eprintln!("answer to the trickled body: {text}");
    assert!(
        got.is_empty() || (text.starts_with("HTTP/1.1 408") && text.contains("body-read-timeout")),
        "closed, or 408 naming the flag: {text}"
    );
    let resp = s
        .client
        .get(s.url("/api/metadata/taskdefs/slow_body_def"))
        .send()
        .await
        .expect("GET taskdef");
    assert_eq!(
        resp.status(),
        404,
        "the half-sent definition was not stored"
    );
}

#[tokio::test]
async fn connections_over_the_limit_get_503_then_are_served_again() {
    let s = Served::start(baton_server::ServerConfig {
        max_connections: 4,
        idle_timeout: Duration::from_secs(60),
        header_read_timeout: Duration::from_secs(60),
        ..config()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = s.connect().await;
        c.write_all(GET_HEALTH).await.expect("write");
        assert_eq!(read_response(&mut c).await.0, 200, "within the limit");
        held.push(c);
    }
    let mut extra = s.connect().await;
    let _ = extra.write_all(GET_HEALTH).await;
    let End::Closed(got) = read_to_close(&mut extra, BOUND).await else {
        panic!("the connection over the limit was left open");
    };
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("connection limit reached"), "{text}");
    assert!(text.contains("--max-connections"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: Value = serde_json::from_str(body).expect("JSON error body");
    assert_eq!(body["status"], 503);
    assert_eq!(body["retryable"], true);

    drop(held);
    let mut served = false;
    for _ in 0..50 {
        let mut c = s.connect().await;
        c.write_all(GET_HEALTH).await.expect("write");
        if read_response(&mut c).await.0 == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        served,
        "new connections are served once the held ones closed"
    );
}

#[tokio::test]
async fn long_poll_and_execute_outlast_body_timeout_and_finish_at_shutdown() {
    let mut s = Served::start(baton_server::ServerConfig {
        body_read_timeout: Duration::from_millis(300),
        header_read_timeout: Duration::from_millis(300),
        ..config()
    })
    .await;
    let wf = json!({"name": "conn_exec_wf", "version": 1, "schemaVersion": 2, "tasks": [
        {"name": "conn_exec_task", "taskReferenceName": "t1", "type": "SIMPLE"}]});
    let resp = s
        .client
        .post(s.url("/api/metadata/taskdefs"))
        .json(&json!([{"name": "conn_exec_task"}]))
        .send()
        .await
        .expect("register task");
    assert_eq!(resp.status(), 200);
    let resp = s
        .client
        .post(s.url("/api/metadata/workflow"))
        .json(&wf)
        .send()
        .await
        .expect("register workflow");
    assert_eq!(resp.status(), 200);

    // Synchronous execute waits 1 s, past the 300 ms body deadline, for a task nobody does.
    let resp = s
        .client
        .post(s.url("/api/workflow/execute/conn_exec_wf/1?waitForSeconds=1"))
        .json(&json!({"input": {}}))
        .send()
        .await
        .expect("execute");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("execute JSON");
    assert_eq!(v["responseType"], "TARGET_WORKFLOW", "{v}");

    // A long poll is in flight on an accepted connection when shutdown begins.
    let mut conn = s.connect().await;
    conn.write_all(GET_HEALTH).await.expect("write");
    assert_eq!(read_response(&mut conn).await.0, 200);
    conn.write_all(
        b"GET /api/tasks/poll/batch/conn_none?count=1&timeout=3000 HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .expect("write long poll");
    // Time for the server to read the request; a request not yet read when shutdown begins
    // would (rightly) see its idle keep-alive connection closed instead.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = tokio::spawn(async move {
        s.stop().await;
    });
    let (status, body) = read_response(&mut conn).await;
    assert_eq!(status, 200, "long poll answered during shutdown: {body}");
    assert_eq!(body.trim(), "[]");
    assert!(matches!(
        read_to_close(&mut conn, BOUND).await,
        End::Closed(_)
    ));
    tokio::time::timeout(BOUND, stopping)
        .await
        .expect("serve returned once the long poll finished")
        .expect("stop task");
}

#[tokio::test]
async fn shutdown_deadline_drops_stalled_connections() {
    let mut s = Served::start(baton_server::ServerConfig {
        header_read_timeout: Duration::from_secs(60),
        body_read_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_millis(500),
        ..config()
    })
    .await;
    let mut half_header = s.connect().await;
    half_header
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n")
        .await
        .expect("write");
    let mut half_body = s.connect().await;
    half_body
        .write_all(
            b"POST /api/metadata/taskdefs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n[{\"name\":",
        )
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.stop().await;
    assert!(matches!(
        read_to_close(&mut half_header, BOUND).await,
        End::Closed(_)
    ));
    assert!(matches!(
        read_to_close(&mut half_body, BOUND).await,
        End::Closed(_)
    ));
}
