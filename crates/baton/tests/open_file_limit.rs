//! `baton server` raises its open-file soft limit to the hard limit at start.
//!
//! This test lowers its own soft limit before spawning the server, which inherits it; it is
//! the only test in this binary, so nothing else runs under the lowered limit.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

mod common;

use common::KillOnDrop as Proc;

/// The soft and hard "Max open files" of a process, from /proc.
fn proc_nofile(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next().expect("soft").to_string();
    let hard = fields.next().expect("hard").to_string();
    (soft, hard)
}

#[test]
fn server_raises_the_open_file_soft_limit_to_the_hard_limit() {
    let original = getrlimit(Resource::Nofile);
    let hard = original.maximum.expect("a finite hard open-file limit");
    let low = 256.min(hard / 2);
    assert!(
        low >= 64,
        "hard open-file limit {hard} too low to test with"
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(low),
            maximum: original.maximum,
        },
    )
    .expect("lower own soft limit");

    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let port = common::free_port();
    let spawned = Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("server")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--db",
            &format!("sqlite://{}", dir.path().join("t.db").display()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn();
    setrlimit(Resource::Nofile, original).expect("restore own soft limit");
    let mut server = Proc(spawned.expect("spawn baton server"));
    let pid = server.0.id();

    // Once it answers /health it is past start-up, where the limit is raised.
    let mut up = false;
    for _ in 0..200 {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!(
                "server exited: {status}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            let mut got = String::new();
            let _ = s.read_to_string(&mut got);
            if got.starts_with("HTTP/1.1 200") {
                up = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "server not healthy within 10 s");
    let (soft, hard_seen) = proc_nofile(pid);
    assert_eq!(
        soft,
        hard.to_string(),
        "soft limit raised to the hard limit"
    );
    assert_eq!(hard_seen, hard.to_string());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains(&format!(
            "raised the open-file soft limit from {low} to {hard} (the hard limit)"
        )),
        "{text}"
    );
    let capacity = 10_000.min(hard.saturating_sub(128));
    assert!(
        text.contains(&format!("serving at most {capacity} connections at once")),
        "{text}"
    );
}
