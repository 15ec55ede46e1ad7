//! A real `baton server` child process for the worker tests: started on a free loopback
//! port and a SQLite file in a temp dir, SIGKILLed and restarted on the same file and port,
//! killed when dropped.

use super::{free_port, log_tail};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ServerProcess {
    pub port: u16,
    /// The `--db` URL.
    db: String,
    log: PathBuf,
    child: Option<Child>,
}

impl ServerProcess {
    /// Starts a server in `dir` and waits until `/health` answers.
    pub async fn start(dir: &Path) -> ServerProcess {
        let db = format!("sqlite://{}", dir.join("baton.db").display());
        Self::start_on(&db, &dir.join("server.log")).await
    }

    /// Starts a server on the database at `db` (a `--db` URL), logging to `log`.
    pub async fn start_on(db: &str, log: &Path) -> ServerProcess {
        let mut last = String::new();
        for _ in 0..5 {
            let mut s = ServerProcess {
                port: free_port(),
                db: db.to_string(),
                log: log.to_path_buf(),
                child: None,
            };
            match s.spawn_and_wait().await {
                Ok(()) => return s,
                Err(e) => last = e,
            }
        }
        panic!("server never became healthy: {last}");
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let log = File::options().create(true).append(true).open(&self.log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("server")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--db", &self.db])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        self.spawn().map_err(|e| format!("spawn: {e}"))?;
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!(
                    "exited before healthy: {status}\n{}",
                    log_tail(&self.log)
                ));
            }
            if let Ok(r) = client.get(format!("{}/health", self.base())).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill9();
        Err(format!("not healthy within 15 s\n{}", log_tail(&self.log)))
    }

    /// SIGKILL (std's `Child::kill` on Unix) and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same file and port (retrying while the port lingers).
    pub async fn restart(&mut self) {
        let mut last = String::new();
        for _ in 0..10 {
            self.kill9();
            match self.spawn_and_wait().await {
                Ok(()) => return,
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("restart failed: {last}");
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `baton server` on the database `db` (any URL), logging to `dir/NAME.log`; waits for
/// `/health` and answers the base URL and the process (killed when dropped).
pub async fn serve_db(db: &str, dir: &Path, name: &str) -> (String, super::KillOnDrop) {
    let client = reqwest::Client::new();
    let log = dir.join(format!("{name}.log"));
    for _ in 0..5 {
        let port = super::free_port();
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--db", db])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("spawn baton server");
        let mut child = super::KillOnDrop(child);
        let base = format!("http://127.0.0.1:{port}");
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = child.0.try_wait() {
                break;
            }
            if let Ok(r) = client.get(format!("{base}/health")).send().await {
                if r.status().is_success() {
                    return (base, child);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("server on {db} never healthy:\n{}", super::log_tail(&log));
}
