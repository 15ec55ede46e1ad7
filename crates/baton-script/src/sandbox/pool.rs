//! The server side of the sandbox: a bounded pool of worker processes.

use super::wire::{self, Op, Request, Response};
use super::{SandboxConfig, SandboxError, PARENT_PID_ENV};
use crate::{Limits, ScriptError};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long past its time limit a worker may take to answer before it is
/// killed. The worker's own guards normally stop a script at the limit;
/// this covers native built-ins they cannot interrupt, and moving large
/// inputs and results through the pipes.
pub(crate) const KILL_GRACE: Duration = Duration::from_millis(500);

/// Largest response accepted for a check (it has no payload).
const MAX_CHECK_RESPONSE: u64 = 1024 * 1024;

/// A pool of sandbox worker processes.
///
/// Workers are started on first use, reused across evaluations and bounded
/// in number ([`SandboxConfig::workers`]); callers beyond that wait for a
/// free worker. A worker that times out is killed; one that dies during an
/// evaluation (an allocation beyond its address-space cap aborts it) is
/// reported as [`ScriptError::OutOfMemory`]. Either way the next caller
/// gets a fresh worker. Dropping the pool (or [`Sandbox::shutdown`]) kills
/// its idle workers; workers also die with the thread that started them
/// (the parent-death signal), so none outlives the server.
pub struct Sandbox {
    config: SandboxConfig,
    state: Mutex<PoolState>,
    freed: Condvar,
    spawner: mpsc::Sender<mpsc::SyncSender<io::Result<Worker>>>,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Worker>,
    /// Workers alive: idle plus leased plus being started.
    live: usize,
    closed: bool,
    spawned: u64,
}

impl Sandbox {
    /// Creates an empty pool; no process is started until the first
    /// evaluation.
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        if config.workers == 0 {
            return Err(SandboxError::NoWorkers);
        }
        let (spawner, jobs) = mpsc::channel::<mpsc::SyncSender<io::Result<Worker>>>();
        let (program, args) = (config.program.clone(), config.args.clone());
        // Workers are started from this one long-lived thread: the kernel
        // sends the parent-death signal when the *thread* that forked a
        // worker exits, and pool callers may be short-lived threads.
        std::thread::Builder::new()
            .name("baton-script-spawner".to_owned())
            .spawn(move || {
                for reply in jobs {
                    let mut command = Command::new(&program);
                    command
                        .args(&args)
                        .env(PARENT_PID_ENV, std::process::id().to_string())
                        // One malloc arena: per-thread arenas reserve 64 MiB of
                        // address space each, which the worker's cap would count.
                        .env("MALLOC_ARENA_MAX", "1")
                        // The allocation-failure report would print a
                        // backtrace, allocating while out of memory.
                        .env("RUST_BACKTRACE", "0")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::inherit());
                    let _ = reply.send(Worker::spawn(&mut command));
                }
            })
            .map_err(SandboxError::Spawner)?;
        Ok(Sandbox {
            config,
            state: Mutex::new(PoolState::default()),
            freed: Condvar::new(),
            spawner,
        })
    }

    /// Evaluates JavaScript in a worker (see [`crate::eval_js`]).
    pub fn eval_js(
        &self,
        script: &str,
        input: &serde_json::Value,
        limits: &Limits,
    ) -> Result<serde_json::Value, ScriptError> {
        let payload = self.call(Op::EvalJs, script, Some(input), limits)?;
        if payload.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        let text = std::str::from_utf8(&payload)
            .map_err(|_| ScriptError::Runtime("the script's result is not UTF-8".to_owned()))?;
        crate::js::parse_result(text)
    }

    /// Runs a jq program in a worker (see [`crate::eval_jq_with_limits`]).
    pub fn eval_jq(
        &self,
        query: &str,
        input: &serde_json::Value,
        limits: &Limits,
    ) -> Result<Vec<serde_json::Value>, ScriptError> {
        let payload = self.call(Op::EvalJq, query, Some(input), limits)?;
        let text = std::str::from_utf8(&payload)
            .map_err(|_| ScriptError::Jq("the program's results are not UTF-8".to_owned()))?;
        // One level more than a result may have: the array of outputs.
        match crate::js::parse_nested(text, crate::js::MAX_RESULT_DEPTH + 1) {
            Ok(serde_json::Value::Array(values)) => Ok(values),
            Ok(_) => Err(ScriptError::Jq(
                "malformed results from the jq worker".to_owned(),
            )),
            Err(ScriptError::Runtime(message)) => Err(ScriptError::Jq(message)),
            Err(other) => Err(other),
        }
    }

    /// Compiles JavaScript in a worker (see [`crate::check_js`]).
    pub fn check_js(&self, script: &str) -> Result<(), ScriptError> {
        self.call(Op::CheckJs, script, None, &Limits::default())
            .map(|_| ())
    }

    /// Compiles a jq program in a worker (see [`crate::check_jq`]).
    pub fn check_jq(&self, query: &str) -> Result<(), ScriptError> {
        self.call(Op::CheckJq, query, None, &Limits::default())
            .map(|_| ())
    }

    /// How many worker processes this pool has started so far.
    pub fn spawned(&self) -> u64 {
        self.lock().spawned
    }

    /// Kills the idle workers and refuses further evaluations; workers busy
    /// with an evaluation are killed when it ends.
    pub fn shutdown(&self) {
        let idle = {
            let mut state = self.lock();
            state.closed = true;
            state.live -= state.idle.len();
            std::mem::take(&mut state.idle)
        };
        self.freed.notify_all();
        drop(idle);
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One request/response exchange with a worker.
    fn call(
        &self,
        op: Op,
        script: &str,
        input: Option<&serde_json::Value>,
        limits: &Limits,
    ) -> Result<Vec<u8>, ScriptError> {
        let mut message = Vec::new();
        let header = serde_json::to_vec(&Request::new(op, script, limits))
            .map_err(|e| ScriptError::Runtime(format!("cannot encode the request: {e}")))?;
        wire::push_frame(&mut message, &header);
        wire::push_frame_with(&mut message, |buf| match input {
            Some(input) => serde_json::to_writer(buf, input),
            None => Ok(()),
        })
        .map_err(|e| ScriptError::Runtime(format!("cannot serialize the input: {e}")))?;
        let max_response = match op {
            Op::CheckJs | Op::CheckJq => MAX_CHECK_RESPONSE,
            Op::EvalJs | Op::EvalJq => u64::try_from(limits.memory_bytes)
                .unwrap_or(u64::MAX)
                .saturating_mul(4)
                .saturating_add(MAX_CHECK_RESPONSE),
        };

        let mut lease = self.acquire()?;
        let deadline = Instant::now() + limits.time.saturating_add(KILL_GRACE);
        match lease
            .worker_mut()
            .exchange(&message, deadline, max_response)
        {
            Exchange::Answered(response, payload) => {
                lease.reusable = !response.retire;
                match response.error {
                    None => Ok(payload),
                    Some(error) => Err(error.into_error(limits)),
                }
            }
            Exchange::TimedOut => Err(ScriptError::Timeout(limits.time)),
            Exchange::Oversized => Err(ScriptError::OutOfMemory(limits.memory_bytes)),
            Exchange::Failed(reason) => Err(lease.worker_mut().death(limits, &reason)),
        }
    }

    /// Takes an idle worker, starts one if the pool has room, or waits.
    fn acquire(&self) -> Result<Lease<'_>, ScriptError> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(ScriptError::Runtime(
                    "the script sandbox has been shut down".to_owned(),
                ));
            }
            if let Some(mut worker) = state.idle.pop() {
                // A worker that died while idle (e.g. the kernel's OOM killer)
                // must not make an innocent script fail: replace it.
                if worker.has_exited() {
                    state.live -= 1;
                    continue;
                }
                return Ok(Lease::new(self, worker));
            }
            if state.live < self.config.workers {
                state.live += 1;
                state.spawned += 1;
                drop(state);
                return match self.spawn() {
                    Ok(worker) => Ok(Lease::new(self, worker)),
                    Err(e) => {
                        self.lock().live -= 1;
                        self.freed.notify_one();
                        Err(ScriptError::Runtime(format!(
                            "cannot start a script sandbox process ({}): {e}",
                            self.config.program.display()
                        )))
                    }
                };
            }
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn spawn(&self) -> io::Result<Worker> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.spawner
            .send(reply)
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
        answer
            .recv()
            .map_err(|_| io::Error::other("the spawner thread is gone"))?
    }

    fn release(&self, worker: Worker, reusable: bool) {
        let mut state = self.lock();
        if reusable && !state.closed {
            state.idle.push(worker);
            drop(state);
        } else {
            state.live -= 1;
            drop(state);
            drop(worker);
        }
        self.freed.notify_one();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A worker taken from the pool; goes back (or is killed) on drop.
struct Lease<'a> {
    pool: &'a Sandbox,
    worker: Option<Worker>,
    /// Set only after a clean exchange: anything else (a panic included)
    /// leaves the protocol in an unknown state, so the worker is killed.
    reusable: bool,
}

impl<'a> Lease<'a> {
    fn new(pool: &'a Sandbox, worker: Worker) -> Self {
        Lease {
            pool,
            worker: Some(worker),
            reusable: false,
        }
    }

    fn worker_mut(&mut self) -> &mut Worker {
        // Only `drop` takes the worker out.
        self.worker
            .as_mut()
            .expect("a lease holds its worker until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.pool.release(worker, self.reusable);
        }
    }
}

/// Outcome of one exchange with a worker.
enum Exchange {
    Answered(Response, Vec<u8>),
    /// No answer by the deadline; the worker has been killed.
    TimedOut,
    /// The answer exceeded the size allowed for the request's memory limit.
    Oversized,
    /// The pipes broke or the answer was malformed (usually: the worker died).
    Failed(String),
}

/// One worker process and its pipes.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Worker {
    fn spawn(command: &mut Command) -> io::Result<Worker> {
        let mut child = command.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the worker's pipes are missing"));
        };
        // Non-blocking, so that every read and write waits in `poll` with
        // the deadline instead of blocking on a stuck worker.
        for fd in [stdin.as_fd(), stdout.as_fd()] {
            if let Err(e) = rustix::io::ioctl_fionbio(fd, true) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e.into());
            }
        }
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }

    fn exchange(&mut self, message: &[u8], deadline: Instant, max_response: u64) -> Exchange {
        let result = self.write_all(message, deadline).and_then(|()| {
            let header = self.read_frame(deadline, MAX_CHECK_RESPONSE)?;
            let payload = self.read_frame(deadline, max_response)?;
            Ok((header, payload))
        });
        match result {
            Ok((header, payload)) => match serde_json::from_slice::<Response>(&header) {
                Ok(response) => Exchange::Answered(response, payload),
                Err(e) => Exchange::Failed(format!("malformed response: {e}")),
            },
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                self.kill();
                Exchange::TimedOut
            }
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                self.kill();
                Exchange::Oversized
            }
            Err(e) => Exchange::Failed(e.to_string()),
        }
    }

    fn write_all(&mut self, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.stdin.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_ready(&self.stdin, PollFlags::OUT, deadline)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn read_exact(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.stdout.read(&mut buf[filled..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_ready(&self.stdout, PollFlags::IN, deadline)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn read_frame(&mut self, deadline: Instant, max: u64) -> io::Result<Vec<u8>> {
        let mut len = [0u8; 8];
        self.read_exact(&mut len, deadline)?;
        let len = u64::from_le_bytes(len);
        if len > max {
            return Err(io::ErrorKind::FileTooLarge.into());
        }
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::FileTooLarge))?;
        let mut body = vec![0u8; len];
        self.read_exact(&mut body, deadline)?;
        Ok(body)
    }

    /// Whether the process has already exited (it is reaped if so).
    fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILLs the worker and reaps it.
    fn kill(&mut self) -> Option<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().ok()
    }

    /// The error for a worker whose pipes broke mid-evaluation: it died.
    /// An abort (a failed allocation under the address-space cap) or a
    /// SIGKILL nobody here sent (the kernel's OOM killer) is the memory
    /// limit; anything else is reported as a crash.
    fn death(&mut self, limits: &Limits, reason: &str) -> ScriptError {
        match self.kill() {
            Some(status) if matches!(status.signal(), Some(6 | 9)) => {
                ScriptError::OutOfMemory(limits.memory_bytes)
            }
            Some(status) => ScriptError::Runtime(format!(
                "the script sandbox process failed ({status}; {reason})"
            )),
            None => ScriptError::Runtime(format!("the script sandbox process failed ({reason})")),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `fd` is ready for `flags` (or hung up), or fails with
/// `TimedOut` at the deadline.
fn wait_ready(fd: &impl AsFd, flags: PollFlags, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let timeout = Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(fd, flags)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => {}
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
