//! Runs one task's command: spawns the program in a process group of its own, streams its
//! stdout and stderr to the task log line by line, keeps bounded tails, enforces the timeout
//! by killing the whole group, and turns the exit into an [`Outcome`].

use super::config::TaskCommand;
use crate::context::TaskContext;
use crate::outcome::Outcome;
use baton_model::{JsonMap, Task};
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Longest piece of a line read at once; a longer line is logged in pieces.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// After the process (group) is gone, how long its pipes may still take to drain; a
/// descendant that left the group and keeps them open is not waited for longer.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Kills a process group when dropped, so a task whose execution is cancelled (shutdown
/// deadline, a panic elsewhere) leaves no process behind.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn signal(&self, sig: Sig) {
        if let Some(pgid) = self.0 {
            signal_group(pgid, sig);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Sig::Kill);
    }
}

#[derive(Clone, Copy)]
enum Sig {
    Term,
    Kill,
}

#[cfg(unix)]
fn signal_group(pgid: u32, sig: Sig) {
    use rustix::process::{kill_process_group, Pid, Signal};
    let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let sig = match sig {
        Sig::Term => Signal::TERM,
        Sig::Kill => Signal::KILL,
    };
    // ESRCH (the group is already gone) is the normal case after a clean exit.
    let _ = kill_process_group(pid, sig);
}

#[cfg(not(unix))]
fn signal_group(_pgid: u32, _sig: Sig) {}

/// The last `cap` bytes written to a stream.
#[derive(Default)]
struct Tail {
    cap: usize,
    bytes: Vec<u8>,
    total: u64,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > self.cap.saturating_mul(2).max(1024) {
            let cut = self.bytes.len() - self.cap;
            self.bytes.drain(..cut);
        }
    }

    fn text(&self) -> String {
        let start = self.bytes.len().saturating_sub(self.cap);
        String::from_utf8_lossy(&self.bytes[start..]).into_owned()
    }
}

/// What the stdout reader keeps: the whole stream while it is small enough to be the JSON
/// output, and the tail.
struct Captured {
    whole: Vec<u8>,
    whole_cap: usize,
    overflow: bool,
    tail: Tail,
}

/// What [`next_line`] read.
#[derive(PartialEq)]
enum Read {
    /// A line that ended with a newline (not kept in the buffer).
    Line,
    /// A piece without a newline: the last bytes of the stream, or a cut of a long line.
    Piece,
    End,
}

/// Reads the next line (without its newline), or a piece of at most `MAX_LINE_BYTES`.
async fn next_line<R: AsyncBufRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> std::io::Result<Read> {
    buf.clear();
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                Read::End
            } else {
                Read::Piece
            });
        }
        let room = MAX_LINE_BYTES - buf.len();
        let window = &available[..available.len().min(room)];
        if let Some(i) = window.iter().position(|b| *b == b'\n') {
            buf.extend_from_slice(&window[..i]);
            r.consume(i + 1);
            return Ok(Read::Line);
        }
        let n = window.len();
        buf.extend_from_slice(window);
        r.consume(n);
        if buf.len() >= MAX_LINE_BYTES {
            return Ok(Read::Piece);
        }
    }
}

async fn pump<R: tokio::io::AsyncRead + Unpin>(
    stream: R,
    prefix: &'static str,
    ctx: TaskContext,
    sink: Arc<Mutex<Captured>>,
    capture_whole: bool,
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        let read = match next_line(&mut reader, &mut buf).await {
            Ok(Read::End) | Err(_) => break,
            Ok(r) => r,
        };
        let newline: &[u8] = if read == Read::Line { b"\n" } else { b"" };
        {
            let mut c = sink.lock().unwrap_or_else(|e| e.into_inner());
            c.tail.push(&buf);
            c.tail.push(newline);
            if capture_whole && !c.overflow {
                if c.whole.len() + buf.len() + newline.len() > c.whole_cap {
                    c.overflow = true;
                    c.whole = Vec::new();
                } else {
                    c.whole.extend_from_slice(&buf);
                    c.whole.extend_from_slice(newline);
                }
            }
        }
        ctx.log(format!("{prefix}{}", String::from_utf8_lossy(&buf)))
            .await;
    }
}

fn captured(cap_whole: usize, tail: usize) -> Arc<Mutex<Captured>> {
    Arc::new(Mutex::new(Captured {
        whole: Vec::new(),
        whole_cap: cap_whole,
        overflow: false,
        tail: Tail {
            cap: tail,
            ..Tail::default()
        },
    }))
}

/// Runs `spec` for `task`.
pub(crate) async fn run(spec: &TaskCommand, task: &Task, ctx: &TaskContext) -> Outcome {
    let mut args = Vec::with_capacity(spec.args.len());
    for a in &spec.args {
        match a.render(task) {
            Ok(v) => args.push(v),
            Err(e) => return Outcome::failed_terminal(format!("argument template: {e}")),
        }
    }
    let mut cmd = Command::new(&spec.program);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    if !spec.inherit_env {
        cmd.env_clear();
    }
    for (k, v) in &spec.env {
        match v.render(task) {
            Ok(v) => {
                cmd.env(k, v);
            }
            Err(e) => return Outcome::failed_terminal(format!("env.{k} template: {e}")),
        }
    }
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            // e.g. a NUL byte from the input in an argument: retrying cannot help.
            return Outcome::failed_terminal(format!(
                "cannot start {}: {e}",
                spec.program.display()
            ));
        }
        Err(e) => return Outcome::failed(format!("cannot start {}: {e}", spec.program.display())),
    };
    let guard = GroupGuard(child.id());
    ctx.log(format!(
        "$ {} {}",
        spec.program.display(),
        args.iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    ))
    .await;
    let out = captured(spec.max_json_output_bytes, spec.tail_bytes);
    let err = captured(0, spec.tail_bytes);
    let mut pumps = tokio::task::JoinSet::new();
    if let Some(s) = child.stdout.take() {
        pumps.spawn(pump(s, "", ctx.clone(), out.clone(), true));
    }
    if let Some(s) = child.stderr.take() {
        pumps.spawn(pump(s, "[stderr] ", ctx.clone(), err.clone(), false));
    }
    let status = tokio::select! {
        s = child.wait() => Some(s),
        _ = tokio::time::sleep(spec.timeout) => None,
    };
    let status = match status {
        Some(s) => {
            // The program is done; descendants it left in its group go with it.
            guard.signal(Sig::Kill);
            s
        }
        None => {
            guard.signal(Sig::Term);
            let s = match tokio::time::timeout(spec.kill_grace, child.wait()).await {
                Ok(s) => s,
                Err(_) => {
                    guard.signal(Sig::Kill);
                    child.wait().await
                }
            };
            guard.signal(Sig::Kill);
            let _ = tokio::time::timeout(DRAIN_GRACE, async {
                while pumps.join_next().await.is_some() {}
            })
            .await;
            let mut output = tails(&out, &err);
            output.insert("timedOut".into(), json!(true));
            let _ = s;
            return Outcome::Failed {
                reason: format!(
                    "timed out after {}s: the process group of {} was killed",
                    spec.timeout.as_secs_f64(),
                    spec.program.display()
                ),
                output,
            };
        }
    };
    let _ = tokio::time::timeout(DRAIN_GRACE, async {
        while pumps.join_next().await.is_some() {}
    })
    .await;
    drop(guard);
    let status = match status {
        Ok(s) => s,
        Err(e) => return Outcome::failed(format!("waiting for {}: {e}", spec.program.display())),
    };
    let json_output = {
        let o = out.lock().unwrap_or_else(|e| e.into_inner());
        if o.overflow {
            None
        } else {
            match serde_json::from_slice::<Value>(&o.whole) {
                Ok(Value::Object(m)) => Some(m),
                _ => None,
            }
        }
    };
    let code = status.code();
    let mut output: JsonMap = json_output.unwrap_or_else(|| {
        let mut m = tails(&out, &err);
        m.insert("exitCode".into(), json!(code));
        m
    });
    match code {
        Some(0) => Outcome::Completed { output },
        Some(c) => {
            let last_err = err
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .tail
                .text()
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            let reason = format!("{} exited with code {c}{last_err}", spec.program.display());
            if spec.terminal_exit_codes.contains(&c) {
                Outcome::FailedTerminal { reason, output }
            } else {
                Outcome::Failed { reason, output }
            }
        }
        None => {
            #[cfg(unix)]
            let how = {
                use std::os::unix::process::ExitStatusExt;
                status
                    .signal()
                    .map_or("a signal".to_string(), |s| format!("signal {s}"))
            };
            #[cfg(not(unix))]
            let how = "a signal".to_string();
            output.insert("signal".into(), json!(how));
            Outcome::Failed {
                reason: format!("{} was killed by {how}", spec.program.display()),
                output,
            }
        }
    }
}

fn tails(out: &Arc<Mutex<Captured>>, err: &Arc<Mutex<Captured>>) -> JsonMap {
    let mut m = JsonMap::new();
    let (o, e) = (
        out.lock().unwrap_or_else(|e| e.into_inner()),
        err.lock().unwrap_or_else(|e| e.into_inner()),
    );
    m.insert("stdout".into(), json!(o.tail.text()));
    m.insert("stderr".into(), json!(e.tail.text()));
    m.insert("stdoutBytes".into(), json!(o.tail.total));
    m.insert("stderrBytes".into(), json!(e.tail.total));
    m
}
