//! HTTPS with `--tls-cert`/`--tls-key` over real TLS on loopback, with self-signed
//! certificates made here: a client trusting the certificate is served, plain HTTP is not;
//! SIGHUP swaps in new files (new connections get the new certificate) and a reload of bad
//! files keeps the old one; a bad file stops the start; a non-loopback address still needs
//! keys or --insecure.

mod common;

use common::{free_port, log_tail, KillOnDrop};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("make a certificate");
    (made.cert.pem(), made.key_pair.serialize_pem())
}

/// A client that trusts only `cert_pem`, with no pooled connection (each check handshakes).
fn client_trusting(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("PEM"))
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn healthy(client: &reqwest::Client, root: &str) -> bool {
    matches!(client.get(format!("{root}/health")).send().await, Ok(r) if r.status().is_success())
}

fn write_pair(dir: &Path, (cert, key): &(String, String)) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

fn server_command(dir: &Path, host: &str, port: u16, cert: &Path, key: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
    cmd.args(["server", "--host", host, "--port", &port.to_string()])
        .args([
            "--db",
            &format!("sqlite://{}", dir.join("tls.db").display()),
        ])
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .stdin(Stdio::null());
    cmd
}

/// Waits (bounded) until `check` holds.
async fn until<F, Fut>(what: &str, log: &Path, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            log_tail(log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hang_up(child: &KillOnDrop) {
    let pid = rustix::process::Pid::from_child(&child.0);
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("SIGHUP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_and_sighup_swaps_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let first = self_signed();
    let (cert, key) = write_pair(dir.path(), &first);
    let port = free_port();
    let log = dir.path().join("server.log");
    let child = KillOnDrop(
        server_command(dir.path(), "127.0.0.1", port, &cert, &key)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start baton server"),
    );
    let root = format!("https://127.0.0.1:{port}");
    let trusts_first = client_trusting(&first.0);
    until("HTTPS with the first certificate", &log, || {
        healthy(&trusts_first, &root)
    })
    .await;
    // Plain HTTP gets no answer from a TLS port.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was served: {plain:?}");

    // New files, then SIGHUP: new connections get the new certificate.
    let second = self_signed();
    write_pair(dir.path(), &second);
    hang_up(&child);
    let trusts_second = client_trusting(&second.0);
    until("HTTPS with the second certificate", &log, || {
        healthy(&trusts_second, &root)
    })
    .await;
    assert!(
        !healthy(&client_trusting(&first.0), &root).await,
        "the first certificate is no longer served"
    );

    // A reload of unusable files keeps the certificate in use, and says why in the log.
    std::fs::write(&cert, "not a certificate").unwrap();
    hang_up(&child);
    until("the failed reload in the log", &log, || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        async move { text.contains("could not reload the TLS files") }
    })
    .await;
    assert!(healthy(&client_trusting(&second.0), &root).await);
}

#[test]
fn unusable_files_or_a_public_address_without_keys_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &self_signed());
    let missing = dir.path().join("missing.pem");
    let out = server_command(dir.path(), "127.0.0.1", free_port(), &missing, &key)
        .output()
        .expect("run baton");
    assert!(!out.status.success(), "it started without a certificate");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-cert") && err.contains("missing.pem"),
        "{err}"
    );

    let other = self_signed();
    std::fs::write(&key, &other.1).unwrap();
    let out = server_command(dir.path(), "127.0.0.1", free_port(), &cert, &key)
        .output()
        .expect("run baton");
    assert!(
        !out.status.success(),
        "it started with a key of another certificate"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not fit"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // TLS does not replace keys: without keys a non-loopback address is still refused.
    let (cert, key) = write_pair(dir.path(), &self_signed());
    let out = server_command(dir.path(), "0.0.0.0", free_port(), &cert, &key)
        .output()
        .expect("run baton");
    assert!(!out.status.success(), "it started on 0.0.0.0 without keys");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"));
}
