//! The command worker's TOML file: which program runs for which task type, and how.
//! Read once at start-up; every mistake is reported with the file and line.

use super::template::Template;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A mistake in the config file, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of the mistake, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    worker: RawWorker,
    #[serde(default)]
    tasks: BTreeMap<String, Spanned<RawTask>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    server: Option<String>,
    id: Option<String>,
    shutdown_timeout_secs: Option<Spanned<u64>>,
    poll_wait_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    program: Spanned<String>,
    #[serde(default)]
    args: Vec<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    #[serde(default = "yes")]
    inherit_env: bool,
    cwd: Option<Spanned<String>>,
    timeout_secs: Option<Spanned<u64>>,
    kill_grace_ms: Option<u64>,
    concurrency: Option<Spanned<u64>>,
    domain: Option<String>,
    #[serde(default)]
    terminal_exit_codes: Vec<i32>,
    tail_bytes: Option<Spanned<u64>>,
    max_json_output_bytes: Option<u64>,
}

fn yes() -> bool {
    true
}

/// The `[worker]` table: settings of the whole runner.
#[derive(Debug, Clone)]
pub struct WorkerSection {
    /// Server URL (`--server` overrides it).
    pub server: Option<String>,
    /// Worker id sent with polls and results; the host name when absent.
    pub id: Option<String>,
    /// Shutdown deadline.
    pub shutdown_timeout: Duration,
    /// Long-poll wait.
    pub poll_wait: Duration,
}

/// One `[tasks.NAME]` table: the command that executes tasks of type NAME.
#[derive(Debug, Clone)]
pub struct TaskCommand {
    /// The task type.
    pub task_type: String,
    /// The program, resolved at load time (absolute path).
    pub program: PathBuf,
    /// Argument templates, one argument each.
    pub args: Vec<Template>,
    /// Environment variables set for the process (values are templates).
    pub env: Vec<(String, Template)>,
    /// Keep the worker's own environment (default) or start from an empty one.
    pub inherit_env: bool,
    /// Working directory (the worker's own when absent).
    pub cwd: Option<PathBuf>,
    /// The process group is killed when the task runs longer.
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL of the process group on a timeout.
    pub kill_grace: Duration,
    /// Tasks of this type running at once.
    pub concurrency: usize,
    /// Task domain to poll.
    pub domain: Option<String>,
    /// Exit codes that fail the task for good (FAILED_WITH_TERMINAL_ERROR).
    pub terminal_exit_codes: Vec<i32>,
    /// Bytes of the end of stdout and of stderr kept in the task output.
    pub tail_bytes: usize,
    /// Largest stdout still parsed as the JSON output.
    pub max_json_output_bytes: usize,
}

/// A whole config file.
#[derive(Debug, Clone)]
pub struct CommandConfig {
    /// `[worker]`.
    pub worker: WorkerSection,
    /// `[tasks.*]`, by task type.
    pub tasks: Vec<TaskCommand>,
}

impl TaskCommand {
    /// Default of [`TaskCommand::timeout`]: one hour.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
    /// Default of [`TaskCommand::kill_grace`].
    pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(2);
    /// Default of [`TaskCommand::tail_bytes`].
    pub const DEFAULT_TAIL_BYTES: usize = 4096;
    /// Largest `concurrency` accepted.
    pub const MAX_CONCURRENCY: u64 = 10_000;
    /// Largest `timeout_secs` and `shutdown_timeout_secs` accepted: 30 days.
    pub const MAX_SECS: u64 = 30 * 86_400;
    /// Largest `tail_bytes` accepted: 1 MiB (the tails travel in the task output).
    pub const MAX_TAIL_BYTES: u64 = 1024 * 1024;
    /// Default of [`TaskCommand::max_json_output_bytes`]: 1 MiB.
    pub const DEFAULT_MAX_JSON_OUTPUT_BYTES: usize = 1024 * 1024;
}

fn line_of(text: &str, span: Range<usize>) -> usize {
    text.get(..span.start.min(text.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

impl CommandConfig {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the line: a TOML syntax error, an unknown key, a missing
    /// `program`, a program that is not found or not executable, a bad template, a zero
    /// concurrency or timeout, no task at all.
    pub fn load(path: &Path) -> Result<CommandConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, path, &base)
    }

    /// Parses config `text`; `path` is used in messages, relative paths in it are taken from
    /// `base` (the file's directory).
    ///
    /// # Errors
    /// As [`CommandConfig::load`].
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<CommandConfig, ConfigError> {
        let err = |span: Option<Range<usize>>, message: String| ConfigError {
            path: path.to_path_buf(),
            line: span.map(|s| line_of(text, s)),
            message,
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|e| err(e.span(), e.message().to_string()))?;
        if raw.tasks.is_empty() {
            return Err(err(None, "no [tasks.NAME] table: nothing to run".into()));
        }
        let positive = |v: &Option<Spanned<u64>>, key: &str| -> Result<(), ConfigError> {
            match v {
                Some(s) if *s.get_ref() == 0 => {
                    Err(err(Some(s.span()), format!("{key} must be at least 1")))
                }
                _ => Ok(()),
            }
        };
        let at_most = |v: &Option<Spanned<u64>>, key: &str, max: u64| -> Result<(), ConfigError> {
            match v {
                Some(s) if *s.get_ref() > max => {
                    Err(err(Some(s.span()), format!("{key} must be at most {max}")))
                }
                _ => Ok(()),
            }
        };
        positive(&raw.worker.poll_wait_ms, "poll_wait_ms")?;
        at_most(
            &raw.worker.shutdown_timeout_secs,
            "shutdown_timeout_secs",
            TaskCommand::MAX_SECS,
        )?;
        if let Some(p) = &raw.worker.poll_wait_ms {
            if *p.get_ref() > 5000 {
                return Err(err(
                    Some(p.span()),
                    "poll_wait_ms must be at most 5000 (the protocol's bound)".into(),
                ));
            }
        }
        let worker = WorkerSection {
            server: raw.worker.server,
            id: raw.worker.id.filter(|s| !s.trim().is_empty()),
            shutdown_timeout: Duration::from_secs(
                raw.worker
                    .shutdown_timeout_secs
                    .map_or(30, |s| s.into_inner()),
            ),
            poll_wait: Duration::from_millis(
                raw.worker.poll_wait_ms.map_or(1000, |s| s.into_inner()),
            ),
        };
        let mut tasks = Vec::new();
        for (task_type, spanned) in raw.tasks {
            let table_span = spanned.span();
            let t = spanned.into_inner();
            let at = |s: Range<usize>, what: &str, e: &dyn fmt::Display| {
                err(Some(s), format!("[tasks.{task_type}] {what}: {e}"))
            };
            if task_type.trim().is_empty() {
                return Err(err(
                    Some(table_span),
                    "a task type name cannot be empty".into(),
                ));
            }
            positive(&t.timeout_secs, "timeout_secs")?;
            positive(&t.concurrency, "concurrency")?;
            positive(&t.tail_bytes, "tail_bytes")?;
            at_most(&t.concurrency, "concurrency", TaskCommand::MAX_CONCURRENCY)?;
            at_most(&t.timeout_secs, "timeout_secs", TaskCommand::MAX_SECS)?;
            at_most(&t.tail_bytes, "tail_bytes", TaskCommand::MAX_TAIL_BYTES)?;
            let program = resolve_program(t.program.get_ref(), base)
                .map_err(|e| at(t.program.span(), "program", &e))?;
            let mut args = Vec::new();
            for a in &t.args {
                args.push(Template::parse(a.get_ref()).map_err(|e| at(a.span(), "args", &e))?);
            }
            let mut env = Vec::new();
            for (k, v) in &t.env {
                if k.is_empty() || k.contains('=') || k.contains('\0') {
                    return Err(at(
                        v.span(),
                        "env",
                        &format!("'{k}' is not a valid variable name"),
                    ));
                }
                env.push((
                    k.clone(),
                    Template::parse(v.get_ref())
                        .map_err(|e| at(v.span(), &format!("env.{k}"), &e))?,
                ));
            }
            let cwd = match &t.cwd {
                Some(c) => {
                    let dir = base.join(c.get_ref());
                    if !dir.is_dir() {
                        return Err(at(
                            c.span(),
                            "cwd",
                            &format!("{} is not a directory", dir.display()),
                        ));
                    }
                    Some(dir)
                }
                None => None,
            };
            tasks.push(TaskCommand {
                task_type,
                program,
                args,
                env,
                inherit_env: t.inherit_env,
                cwd,
                timeout: t.timeout_secs.map_or(TaskCommand::DEFAULT_TIMEOUT, |s| {
                    Duration::from_secs(s.into_inner())
                }),
                kill_grace: t
                    .kill_grace_ms
                    .map_or(TaskCommand::DEFAULT_KILL_GRACE, Duration::from_millis),
                concurrency: t
                    .concurrency
                    .map_or(1, |s| usize::try_from(s.into_inner()).unwrap_or(usize::MAX)),
                domain: t.domain.filter(|d| !d.is_empty()),
                terminal_exit_codes: t.terminal_exit_codes,
                tail_bytes: t.tail_bytes.map_or(TaskCommand::DEFAULT_TAIL_BYTES, |s| {
                    usize::try_from(s.into_inner()).unwrap_or(usize::MAX)
                }),
                max_json_output_bytes: t
                    .max_json_output_bytes
                    .map_or(TaskCommand::DEFAULT_MAX_JSON_OUTPUT_BYTES, |n| {
                        usize::try_from(n).unwrap_or(usize::MAX)
                    }),
            });
        }
        Ok(CommandConfig { worker, tasks })
    }
}

/// A name without `/` is looked up in `PATH`; a path is taken relative to `base`. Either way
/// it must be an executable file now.
fn resolve_program(program: &str, base: &Path) -> Result<PathBuf, String> {
    if program.trim().is_empty() {
        return Err("cannot be empty".into());
    }
    if program.contains('/') {
        let p = base.join(program);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(format!("{} is not an executable file", p.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
        .ok_or_else(|| format!("'{program}' is not found in PATH"))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CommandConfig, ConfigError> {
        CommandConfig::parse(text, Path::new("w.toml"), Path::new("/"))
    }

    #[test]
    fn a_full_config_parses() {
        let c = parse(
            r#"
[worker]
server = "http://127.0.0.1:8080"
id = "lab-1"
shutdown_timeout_secs = 5

[tasks.build]
program = "sh"
args = ["-c", "echo \"$0\"", "{{input.branch}}"]
env = { BRANCH = "{{input.branch}}" }
timeout_secs = 60
concurrency = 2
terminal_exit_codes = [2, 3]
"#,
        )
        .expect("config");
        assert_eq!(c.worker.id.as_deref(), Some("lab-1"));
        assert_eq!(c.worker.shutdown_timeout, Duration::from_secs(5));
        let t = &c.tasks[0];
        assert_eq!(t.task_type, "build");
        assert!(t.program.is_absolute(), "{:?}", t.program);
        assert_eq!((t.args.len(), t.env.len(), t.concurrency), (3, 1, 2));
        assert_eq!(t.terminal_exit_codes, [2, 3]);
        assert_eq!(t.timeout, Duration::from_secs(60));
    }

    #[test]
    fn mistakes_name_their_line() {
        let cases = [
            (
                "[tasks.a]\nprogram = \"sh\"\nshell = true\n",
                3,
                "unknown field `shell`",
            ),
            ("[tasks.a]\nargs = [\"x\"]\n", 1, "missing field `program`"),
            (
                "[tasks.a]\nprogram = \"sh\"\nargs = [\n  \"ok\",\n  \"{{input.a\",\n]\n",
                5,
                "unclosed",
            ),
            (
                "[tasks.a]\nprogram = \"no-such-program-here\"\n",
                2,
                "not found in PATH",
            ),
            (
                "[tasks.a]\nprogram = \"sh\"\nconcurrency = 0\n",
                3,
                "concurrency must be at least 1",
            ),
            (
                "[tasks.a]\nprogram = \"sh\"\nenv = { X = \"{{task.nope}}\" }\n",
                3,
                "unknown task field",
            ),
            (
                "[tasks.a]\nprogram = \"sh\"\ncwd = \"no/such/dir\"\n",
                3,
                "not a directory",
            ),
            ("[tasks.a]\nprogram = \"sh\"\n[tasks.a]\n", 3, "duplicate"),
        ];
        for (text, line, says) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.line, Some(line), "{text}: {e}");
            assert!(e.to_string().contains(says), "{text}: {e}");
            assert!(
                e.to_string().starts_with(&format!("w.toml:{line}: ")),
                "{e}"
            );
        }
        let e = parse("[worker]\nid = \"x\"\n").expect_err("no tasks");
        assert!(e.message.contains("no [tasks.NAME]"), "{e}");
    }
}
