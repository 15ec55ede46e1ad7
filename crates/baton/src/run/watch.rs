//! Follows the running workflow: prints a line when a task starts, retries or ends (and on
//! a terminal, a status line with a bar for forks and loops), answers HUMAN and external
//! WAIT tasks from `--answer`, and notices when only an outside party could move it on.

use super::plan::base_ref;
use baton_worker::JsonMap;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;

/// Operators that stay open while their children run; they are not work themselves.
const CONTAINERS: &[&str] = &[
    "FORK",
    "FORK_JOIN",
    "FORK_JOIN_DYNAMIC",
    "JOIN",
    "DO_WHILE",
    "SWITCH",
    "DECISION",
];

/// A task that only an outside party can complete.
pub struct Waiting {
    pub reference: String,
    pub kind: String,
}

/// What one look at the workflow found.
pub enum Step {
    /// Still going.
    Running,
    /// Ended with this status.
    Ended(String),
    /// Stuck on tasks only an outside party could complete.
    Stuck(Vec<Waiting>),
}

pub struct Watcher {
    answers: BTreeMap<String, JsonMap>,
    answered: HashSet<String>,
    seen: HashMap<String, String>,
    tty: bool,
    /// The status line now on screen, if any.
    status_line: bool,
    last_status: String,
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn is_external_wait(t: &Value) -> bool {
    match s(&t["taskType"]) {
        "HUMAN" => true,
        "WAIT" => {
            let input = &t["inputData"];
            input.get("duration").is_none_or(Value::is_null)
                && input.get("until").is_none_or(Value::is_null)
        }
        _ => false,
    }
}

fn terminal(status: &str) -> bool {
    !matches!(status, "SCHEDULED" | "IN_PROGRESS" | "")
}

impl Watcher {
    pub fn new(answers: BTreeMap<String, JsonMap>, tty: bool) -> Self {
        Watcher {
            answers,
            answered: HashSet::new(),
            seen: HashMap::new(),
            tty,
            status_line: false,
            last_status: String::new(),
        }
    }

    fn say(&mut self, line: &str) {
        let mut err = std::io::stderr().lock();
        if self.status_line {
            let _ = write!(err, "\r\x1b[K");
            self.status_line = false;
        }
        let _ = writeln!(err, "{line}");
    }

    /// Clears the status line before the final words.
    pub fn finish(&mut self) {
        if self.status_line {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.status_line = false;
        }
    }

    /// Looks at the workflow (with tasks); returns the answers to send as
    /// (reference, output) and what it found.
    pub fn look(&mut self, wf: &Value) -> (Vec<(String, JsonMap)>, Step) {
        let tasks = wf["tasks"].as_array().cloned().unwrap_or_default();
        let mut to_answer = Vec::new();
        let mut waiting = Vec::new();
        let mut busy = false;
        for t in &tasks {
            let id = s(&t["taskId"]).to_string();
            let status = s(&t["status"]).to_string();
            let reference = s(&t["referenceTaskName"]).to_string();
            let kind = s(&t["taskType"]).to_string();
            let before = self.seen.insert(id.clone(), status.clone());
            if before.as_deref() != Some(status.as_str()) {
                self.describe(t, before.as_deref(), &status, &reference, &kind);
            }
            if terminal(&status) {
                continue;
            }
            if is_external_wait(t) {
                if self.answered.contains(&id) {
                    continue;
                }
                if let Some(answer) = self.answers.get(base_ref(&reference)) {
                    self.answered.insert(id);
                    to_answer.push((reference.clone(), answer.clone()));
                    self.say(&format!("  answer  {reference} ({kind}) from --answer"));
                } else {
                    waiting.push(Waiting { reference, kind });
                }
            } else if !CONTAINERS.contains(&kind.as_str()) {
                busy = true;
            }
        }
        let status = s(&wf["status"]).to_string();
        if terminal_workflow(&status) {
            return (to_answer, Step::Ended(status));
        }
        if self.tty {
            self.draw_status(&tasks);
        }
        if !busy && to_answer.is_empty() && !waiting.is_empty() {
            return (to_answer, Step::Stuck(waiting));
        }
        (to_answer, Step::Running)
    }

    fn describe(
        &mut self,
        t: &Value,
        before: Option<&str>,
        status: &str,
        reference: &str,
        kind: &str,
    ) {
        let retry = t["retryCount"].as_i64().unwrap_or(0);
        match status {
            "SCHEDULED" | "IN_PROGRESS" => {
                if before.is_none() && retry > 0 {
                    self.say(&format!(
                        "  retry   {reference} ({kind}), attempt {}",
                        retry + 1
                    ));
                } else if before.is_none()
                    || (before == Some("SCHEDULED") && status == "IN_PROGRESS")
                {
                    if before.is_none() && status == "SCHEDULED" && !CONTAINERS.contains(&kind) {
                        // Printed once it is picked up.
                        return;
                    }
                    self.say(&format!("  start   {reference} ({kind})"));
                }
            }
            _ => {
                let took = match (t["startTime"].as_i64(), t["endTime"].as_i64()) {
                    (Some(a), Some(b)) if a > 0 && b >= a => {
                        format!(" in {:.1}s", (b - a) as f64 / 1000.0)
                    }
                    _ => String::new(),
                };
                // A retry keeps its predecessor's reason; only a failure says why.
                let why = match t["reasonForIncompletion"].as_str() {
                    Some(r) if status != "COMPLETED" => format!(": {r}"),
                    _ => String::new(),
                };
                let attempt = if retry > 0 {
                    format!(" (attempt {})", retry + 1)
                } else {
                    String::new()
                };
                let mark = if status == "COMPLETED" {
                    "done"
                } else {
                    "ended"
                };
                self.say(&format!(
                    "  {mark:<7} {reference} ({kind}) {status}{attempt}{took}{why}"
                ));
            }
        }
    }

    /// One line under the log: a bar per open fork (branches joined) and the iteration of
    /// each open loop.
    fn draw_status(&mut self, tasks: &[Value]) {
        let status_of: HashMap<&str, &str> = tasks
            .iter()
            .map(|t| (s(&t["referenceTaskName"]), s(&t["status"])))
            .collect();
        let mut parts = Vec::new();
        for t in tasks.iter().filter(|t| !terminal(s(&t["status"]))) {
            match s(&t["taskType"]) {
                "JOIN" => {
                    let on: Vec<&str> = t["inputData"]["joinOn"]
                        .as_array()
                        .map(|a| a.iter().map(s).collect())
                        .unwrap_or_default();
                    if on.is_empty() {
                        continue;
                    }
                    let done = on
                        .iter()
                        .filter(|r| status_of.get(*r).is_some_and(|st| terminal(st)))
                        .count();
                    let width = 20;
                    let filled = done * width / on.len();
                    parts.push(format!(
                        "{} [{}{}] {done}/{}",
                        s(&t["referenceTaskName"]),
                        "#".repeat(filled),
                        ".".repeat(width - filled),
                        on.len()
                    ));
                }
                "DO_WHILE" => parts.push(format!(
                    "{} iteration {}",
                    s(&t["referenceTaskName"]),
                    t["iteration"].as_i64().unwrap_or(0)
                )),
                _ => {}
            }
        }
        let text = parts.join("  ");
        if parts.is_empty() || (self.status_line && text == self.last_status) {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K  {text}");
        self.last_status = text;
        let _ = err.flush();
        self.status_line = true;
    }
}

fn terminal_workflow(status: &str) -> bool {
    matches!(status, "COMPLETED" | "FAILED" | "TERMINATED" | "TIMED_OUT")
}
