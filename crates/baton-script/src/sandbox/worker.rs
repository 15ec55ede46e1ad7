//! The worker side of the sandbox: the loop a `baton __script-worker`
//! process runs, reading requests from stdin and answering on stdout.

use super::wire::{self, Op, Request, Response, WireError};
use super::PARENT_PID_ENV;
use crate::{jq, js, Limits, ScriptError};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use serde_json::Value;
use std::io::{self, BufReader, BufWriter};
use std::time::Instant;

/// Address space a worker may add on top of `2 × memory limit` during one
/// evaluation: allocator rounding and the engines' own bookkeeping.
const ADDRESS_SPACE_SLACK: u64 = 16 * 1024 * 1024;

/// Exit status when the worker cannot run (bad stream, no parent).
const EXIT_FAILURE: i32 = 2;

/// Address space one evaluation may add to the worker: the script's own data
/// (accounted by the engines up to the memory limit) plus one more limit's
/// worth for converting and sending the result, plus slack.
pub(crate) fn address_space_allowance(memory_bytes: u64) -> u64 {
    memory_bytes
        .saturating_mul(2)
        .saturating_add(ADDRESS_SPACE_SLACK)
}

/// Runs a sandbox worker until its stdin closes; returns the process exit
/// status. Call it from `main` of the program named in
/// [`SandboxConfig::program`](super::SandboxConfig::program), before
/// starting any threads or runtimes.
///
/// The worker dies with the server (parent-death signal), serves one
/// request at a time on a thread with a large stack, and caps its own
/// address space during every evaluation (`RLIMIT_AS`) at its size when the
/// evaluation starts plus twice the request's memory limit plus 16 MiB. An
/// allocation beyond that aborts the worker; the server reports
/// [`ScriptError::OutOfMemory`] and starts a new one.
pub fn run_worker() -> i32 {
    if let Err(message) = tie_to_parent() {
        eprintln!("baton script worker: {message}");
        return EXIT_FAILURE;
    }
    let thread = std::thread::Builder::new()
        .name("baton-script-worker".to_owned())
        .stack_size(jq::EVAL_STACK_BYTES)
        .spawn(serve);
    match thread {
        Ok(handle) => handle.join().unwrap_or(EXIT_FAILURE),
        Err(e) => {
            eprintln!("baton script worker: cannot start the evaluation thread: {e}");
            EXIT_FAILURE
        }
    }
}

/// Asks the kernel to SIGKILL this process when the thread that spawned it
/// exits, and checks that the parent did not already exit before that.
fn tie_to_parent() -> Result<(), String> {
    #[cfg(target_os = "linux")]
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| format!("cannot set the parent-death signal: {e}"))?;
    if let Some(expected) = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|pid| pid.parse::<i32>().ok())
    {
        let parent = rustix::process::getppid().map(|pid| pid.as_raw_pid());
        if parent != Some(expected) {
            return Err("the server that started this worker has exited".to_owned());
        }
    }
    Ok(())
}

fn serve() -> i32 {
    // Measured after the evaluation thread exists, so its (reserved) stack
    // is part of the resting size.
    let resting = match address_space_bytes() {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("baton script worker: {e}");
            return EXIT_FAILURE;
        }
    };
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    loop {
        // Reading and parsing a request is the worker's own, trusted work:
        // it runs under the hard limit only.
        if let Err(e) = relax_address_space() {
            eprintln!("baton script worker: {e}");
            return EXIT_FAILURE;
        }
        let header = match wire::read_frame(&mut input, wire::MAX_REQUEST_FRAME) {
            Ok(Some(header)) => header,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("baton script worker: cannot read a request: {e}");
                return EXIT_FAILURE;
            }
        };
        let payload = match wire::read_frame(&mut input, wire::MAX_REQUEST_FRAME) {
            Ok(Some(payload)) => payload,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("baton script worker: cannot read a request: {e}");
                return EXIT_FAILURE;
            }
        };
        let request: Request = match serde_json::from_slice(&header) {
            Ok(request) => request,
            Err(e) => {
                eprintln!("baton script worker: malformed request: {e}");
                return EXIT_FAILURE;
            }
        };
        let limits = request.limits();
        let outcome = evaluate(&request, payload, &limits);
        let retire = address_space_bytes().map_or(true, |now| {
            now > resting.saturating_add(address_space_allowance(request.memory_bytes))
        });
        let (response, payload) = match outcome {
            Ok(payload) => (
                Response {
                    error: None,
                    retire,
                },
                payload,
            ),
            Err(error) => (
                Response {
                    error: Some(WireError::from_error(error)),
                    retire,
                },
                Vec::new(),
            ),
        };
        if let Err(e) = wire::write_response(&mut output, &response, &payload) {
            eprintln!("baton script worker: cannot answer: {e}");
            return EXIT_FAILURE;
        }
    }
}

/// Runs one request under its memory cap; returns the response payload.
fn evaluate(request: &Request, payload: Vec<u8>, limits: &Limits) -> Result<Vec<u8>, ScriptError> {
    let started = Instant::now();
    match request.op {
        Op::EvalJs => {
            let input = String::from_utf8(payload)
                .map_err(|_| ScriptError::Runtime("the input is not UTF-8".to_owned()))?;
            cap_address_space(limits)?;
            js::eval_to_json(&request.script, input, limits)
                .map(|json| json.map(String::into_bytes).unwrap_or_default())
        }
        Op::EvalJq => {
            let input = parse_input(&payload)?;
            drop(payload);
            let outputs = jq::eval_here_with(&request.script, &input, limits, started, || {
                cap_address_space(limits)
            })?;
            serde_json::to_vec(&outputs)
                .map_err(|e| ScriptError::Jq(format!("cannot encode the results: {e}")))
        }
        Op::CheckJs => {
            cap_address_space(limits)?;
            js::check_in_thread(&request.script).map(|()| Vec::new())
        }
        Op::CheckJq => {
            cap_address_space(limits)?;
            jq::check_here(&request.script).map(|()| Vec::new())
        }
    }
}

/// Parses the input document; this thread's large stack makes the
/// unlimited nesting safe (the jq conversion refuses deep inputs later).
fn parse_input(json: &[u8]) -> Result<Value, ScriptError> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    deserializer.disable_recursion_limit();
    let value = serde::Deserialize::deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|e| ScriptError::Runtime(format!("cannot read the input: {e}")))?;
    Ok(value)
}

/// Size of this process's address space (`VmSize`), in bytes. `statm` is
/// much cheaper for the kernel to produce than `status`, and this runs twice
/// per evaluation.
fn address_space_bytes() -> Result<u64, String> {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .map_err(|e| format!("cannot read /proc/self/statm: {e}"))?;
    let pages = statm
        .split_whitespace()
        .next()
        .and_then(|pages| pages.parse::<u64>().ok())
        .ok_or_else(|| "malformed /proc/self/statm".to_owned())?;
    Ok(pages.saturating_mul(rustix::param::page_size() as u64))
}

/// Caps the address space at its current size plus one evaluation's
/// allowance (never above the hard limit inherited from the server).
fn cap_address_space(limits: &Limits) -> Result<(), ScriptError> {
    let cannot = |e: String| ScriptError::Runtime(format!("cannot bound the script's memory: {e}"));
    let now = address_space_bytes().map_err(cannot)?;
    let memory = u64::try_from(limits.memory_bytes).unwrap_or(u64::MAX);
    let cap = now.saturating_add(address_space_allowance(memory));
    let hard = getrlimit(Resource::As).maximum;
    let soft = hard.map_or(cap, |hard| cap.min(hard));
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(soft),
            maximum: hard,
        },
    )
    .map_err(|e| cannot(e.to_string()))
}

/// Lifts the soft address-space limit back to the hard limit.
fn relax_address_space() -> Result<(), String> {
    let hard = getrlimit(Resource::As).maximum;
    setrlimit(
        Resource::As,
        Rlimit {
            current: hard,
            maximum: hard,
        },
    )
    .map_err(|e| format!("cannot reset the address-space limit: {e}"))
}
