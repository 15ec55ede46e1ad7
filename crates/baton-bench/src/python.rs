//! W1 with the official Python SDK worker, as separate processes.

use crate::*;

// Optional: the official Python SDK as the W1 worker

pub(crate) struct PythonWorkers {
    pub(crate) child: Child,
}

pub(crate) const PY_WORKER: &str = r#"
import os
from conductor.client.automator.task_handler import TaskHandler
from conductor.client.configuration.configuration import Configuration
from conductor.client.worker.worker import Worker


def noop(task):
    return {}


def main():
    cfg = Configuration(server_api_url=os.environ["BATON_API"], debug=False)
    n = int(os.environ.get("BATON_WORKERS", "4"))
    workers = [
        Worker(task_definition_name="bench_noop", execute_function=noop, poll_interval=0.001)
        for _ in range(n)
    ]
    with TaskHandler(workers=workers, configuration=cfg, scan_for_annotated_workers=False) as h:
        h.start_processes()
        h.join_processes()


if __name__ == "__main__":
    main()
"#;

impl PythonWorkers {
    pub(crate) fn spawn(args: &Args, api: &Api, dir: &Path) -> anyhow::Result<Self> {
        let venv = args.python_venv.clone().unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/baton/compat-venv")
        });
        let python = venv.join("bin/python");
        if !python.exists() {
            bail!("--python-workers: {} not found", python.display());
        }
        // multiprocessing's spawn start method re-imports the script: it must be a file.
        let script = dir.join("bench_worker.py");
        std::fs::write(&script, PY_WORKER)?;
        let child = Command::new(python)
            .process_group(0)
            .arg(&script)
            .env("BATON_API", format!("{}/api", api.base))
            .env("BATON_WORKERS", args.workers.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(
                dir.join("python-worker.log"),
            )?))
            .stderr(Stdio::from(std::fs::File::create(
                dir.join("python-worker.err"),
            )?))
            .spawn()
            .context("spawning the Python worker")?;
        Ok(Self { child })
    }

    /// Python workers ack asynchronously, so completion is detected by polling statuses
    /// (every 20 ms); returns when the last workflow was seen COMPLETED.
    pub(crate) async fn wait_all_completed(
        self,
        api: &Api,
        ids: &[String],
        deadline: Instant,
    ) -> anyhow::Result<Instant> {
        let mut pending: Vec<String> = ids.to_vec();
        while !pending.is_empty() {
            if Instant::now() > deadline {
                bail!(
                    "W1 (python): {} workflows not COMPLETED by the deadline",
                    pending.len()
                );
            }
            let mut still = Vec::new();
            for id in pending {
                if api.status(&id).await? != "COMPLETED" {
                    still.push(id);
                }
            }
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(Instant::now())
    }
}

impl Drop for PythonWorkers {
    fn drop(&mut self) {
        // The SDK forks a process per worker: kill the whole process group.
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
