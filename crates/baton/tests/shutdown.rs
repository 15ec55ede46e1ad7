//! A real `baton server` stops on SIGTERM even with half-sent requests open: it stops
//! accepting, waits the shutdown deadline, drops what is still open, logs it, exits 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, KillOnDrop as Proc};

/// One `GET /health` with `Connection: close`; true on a 200.
fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    got.starts_with("HTTP/1.1 200")
}

fn wait_healthy(child: &mut Child, port: u16, log: &Path) {
    for _ in 0..200 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "server exited early ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if healthy(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server not healthy within 10 s");
}

/// A `baton server` on a fresh SQLite file in `dir` with a one-second shutdown deadline,
/// healthy, logging to `log`; and its port.
fn start_server(dir: &Path, log: &Path) -> (Proc, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("server")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--db", &format!("sqlite://{}", dir.join("t.db").display())])
        .args(["--shutdown-timeout-ms", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn baton server");
    let mut server = Proc(child);
    wait_healthy(&mut server.0, port, log);
    (server, port)
}

#[test]
fn sigterm_with_half_sent_requests_exits_zero_after_the_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let (mut server, port) = start_server(dir.path(), &log);

    let mut half_header = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    half_header
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n")
        .expect("write");
    let mut half_body = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    half_body
        .write_all(
            b"POST /api/metadata/taskdefs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n[{\"name\":",
        )
        .expect("write");
    // Let the server read both before the signal.
    std::thread::sleep(Duration::from_millis(300));

    let pid = rustix::process::Pid::from_child(&server.0);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(20),
            "server still running 20 s after SIGTERM: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "exit status {status}: {text}");
    assert!(
        text.contains("shutdown deadline of 1000 ms reached: dropped 2 connections"),
        "{text}"
    );
    assert!(text.contains("baton server stopped"), "{text}");
    // Both half-sent requests were closed, not left hanging.
    for mut s in [half_header, half_body] {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("unexpected bytes: {:?}", &buf[..n]),
        }
    }
}

/// SIGTERM while a long poll, a synchronous execution and an HTTP system task (whose server
/// never answers, with a ten-minute read timeout) are in flight: the server still exits 0
/// soon after its one-second deadline, reporting the system task it aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_work_in_flight_exits_within_the_deadline() {
    // An HTTP endpoint that accepts and then never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let (accepted_tx, accepted_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().take(4).flatten() {
            held.push(stream);
            let _ = accepted_tx.send(());
        }
        std::thread::sleep(Duration::from_secs(120));
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let (mut server, port) = start_server(dir.path(), &log);

    let base = format!("http://127.0.0.1:{port}/api");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let def = serde_json::json!({
        "name": "hangs", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "call", "taskReferenceName": "call", "type": "HTTP",
                   "inputParameters": {"http_request": {
                       "uri": format!("http://127.0.0.1:{silent_port}/"), "method": "GET",
                       "connectionTimeOut": 600_000, "readTimeOut": 600_000}}}]
    });
    let resp = client
        .post(format!("{base}/metadata/workflow"))
        .json(&def)
        .send()
        .await
        .expect("register");
    assert!(resp.status().is_success(), "{:?}", resp.text().await);

    // A synchronous execution of it (waits for the end), and a long poll on an empty queue.
    let execute = tokio::spawn(
        client
            .post(format!("{base}/workflow/execute/hangs/1?waitForSeconds=30"))
            .json(&serde_json::json!({}))
            .send(),
    );
    let long_poll = tokio::spawn(
        client
            .get(format!(
                "{base}/tasks/poll/batch/nobody?count=1&timeout=5000"
            ))
            .send(),
    );
    // The HTTP task has reached the silent endpoint.
    tokio::task::spawn_blocking(move || accepted_rx.recv_timeout(Duration::from_secs(30)))
        .await
        .expect("join")
        .expect("the HTTP task never called the silent endpoint");

    let pid = rustix::process::Pid::from_child(&server.0);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("try_wait") {
            break status;
        }
        // Nothing in flight ends by itself for ten minutes: only the deadline can stop it.
        assert!(
            signalled.elapsed() < Duration::from_secs(30),
            "server still running 30 s after SIGTERM: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "exit status {status}: {text}");
    assert!(
        text.contains("aborting system tasks still running"),
        "{text}"
    );
    assert!(text.contains("baton server stopped"), "{text}");
    // The clients got an answer or a closed connection, not a hang.
    let _ = execute.await.expect("execute task");
    let _ = long_poll.await.expect("poll task");
}
