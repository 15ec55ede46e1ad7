//! Process isolation for script evaluation.
//!
//! Rust cannot recover from a failed allocation (the process aborts) and a
//! thread cannot be killed, so the only absolute bound on what a script may
//! use is a separate process. A [`Sandbox`] keeps a small pool of long-lived
//! worker processes: the server's own binary re-executed with a hidden
//! subcommand whose `main` calls [`run_worker`]. Each worker caps its
//! address space (`RLIMIT_AS`) while it evaluates, and the server kills any
//! worker that has not answered shortly after the time limit, so neither an
//! allocation bomb nor a native built-in that ignores QuickJS's interrupt
//! handler can abort or starve the server.
//!
//! Install one process-wide sandbox with [`install`] at startup; from then
//! on [`eval_js`](crate::eval_js), [`eval_jq`](crate::eval_jq),
//! [`eval_jq_with_limits`](crate::eval_jq_with_limits),
//! [`check_js`](crate::check_js) and [`check_jq`](crate::check_jq) run in
//! its workers. Without one they run in the calling process.
//!
//! Linux only (parent-death signal, `/proc/self/statm`).

mod pool;
mod wire;
mod worker;

pub use pool::Sandbox;
pub use worker::run_worker;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Environment variable through which a worker learns its server's pid (to
/// notice that the server exited before the worker could tie itself to it).
const PARENT_PID_ENV: &str = "BATON_SCRIPT_WORKER_PARENT";

/// How to start sandbox workers and how many may run at once.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The program to start; its `main` must call [`run_worker`] when given
    /// [`args`](Self::args). `/proc/self/exe` re-executes the running binary
    /// (even if its file was replaced since it started).
    pub program: PathBuf,
    /// Arguments selecting the worker mode, e.g. `["__script-worker"]`.
    pub args: Vec<OsString>,
    /// Most workers alive at once (at least 1); callers beyond that wait
    /// for a free worker.
    pub workers: usize,
}

impl SandboxConfig {
    /// Default number of workers: one per CPU, at least 2 and at most 8.
    pub fn default_workers() -> usize {
        std::thread::available_parallelism()
            .map_or(2, std::num::NonZeroUsize::get)
            .clamp(2, 8)
    }
}

/// Why a sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// [`SandboxConfig::workers`] was 0.
    #[error("the script sandbox needs at least one worker")]
    NoWorkers,
    /// [`install`] was called twice.
    #[error("a script sandbox is already installed")]
    AlreadyInstalled,
    /// The thread that starts workers could not be created.
    #[error("cannot start the script sandbox's spawner thread: {0}")]
    Spawner(std::io::Error),
}

static GLOBAL: OnceLock<Sandbox> = OnceLock::new();

/// Installs the process-wide sandbox: from now on every evaluation and
/// check of this crate runs in its workers. Call once, at startup.
pub fn install(config: SandboxConfig) -> Result<(), SandboxError> {
    if GLOBAL.get().is_some() {
        return Err(SandboxError::AlreadyInstalled);
    }
    let sandbox = Sandbox::new(config)?;
    GLOBAL
        .set(sandbox)
        .map_err(|_| SandboxError::AlreadyInstalled)
}

/// The process-wide sandbox, if [`install`]ed.
pub fn installed() -> Option<&'static Sandbox> {
    GLOBAL.get()
}

/// Kills the process-wide sandbox's workers (see [`Sandbox::shutdown`]);
/// later evaluations fail. Call when the server stops.
pub fn shutdown() {
    if let Some(sandbox) = GLOBAL.get() {
        sandbox.shutdown();
    }
}
