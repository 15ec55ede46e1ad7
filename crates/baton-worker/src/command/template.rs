//! Templates in command arguments and environment values: text with `{{...}}` fields filled
//! from the task.
//!
//! - `{{input.branch}}`, `{{input.device.address}}`, `{{input.files.0}}`: a value of the
//!   task's input, by key and list index (keys of letters, digits, `_` and `-`). A string is
//!   inserted as is; a number or boolean as its JSON text; an object or list as compact JSON.
//!   A missing or null value fails the task for good (its input will not change on retry).
//! - `{{input}}`: the whole input as compact JSON.
//! - `{{task.taskId}}`, `{{task.workflowInstanceId}}`, `{{task.referenceTaskName}}`,
//!   `{{task.workflowType}}`, `{{task.taskType}}`, `{{task.retryCount}}`,
//!   `{{task.pollCount}}`: fields of the task itself.
//! - `{{"{{"}}`: a literal `{{`.
//!
//! Spaces inside the braces are allowed. A filled template is always exactly one argument or
//! one environment value: nothing is split, expanded or interpreted by a shell.

use baton_model::Task;
use serde_json::Value;
use std::fmt;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Input(Vec<Segment>),
    Task(TaskField),
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TaskField {
    TaskId,
    WorkflowId,
    Reference,
    WorkflowType,
    TaskType,
    RetryCount,
    PollCount,
}

const TASK_FIELDS: &[(&str, TaskField)] = &[
    ("taskId", TaskField::TaskId),
    ("workflowInstanceId", TaskField::WorkflowId),
    ("referenceTaskName", TaskField::Reference),
    ("workflowType", TaskField::WorkflowType),
    ("taskType", TaskField::TaskType),
    ("retryCount", TaskField::RetryCount),
    ("pollCount", TaskField::PollCount),
];

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError(String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

impl Template {
    /// Parses `text`.
    ///
    /// # Errors
    /// [`TemplateError`] naming the field: an unclosed `{{`, an empty field, an unknown root
    /// (only `input` and `task`), an unknown task field, a bad key.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(TemplateError(format!(
                    "unclosed '{{{{' in \"{text}\" (a literal '{{{{' is written {{{{\"{{{{\"}}}})"
                )));
            };
            let field = after[..close].trim();
            rest = &after[close + 2..];
            if field == "\"{{\"" {
                literal.push_str("{{");
                continue;
            }
            let part =
                parse_field(field).map_err(|e| TemplateError(format!("{{{{{field}}}}}: {e}")))?;
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(part);
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// Fills the template from `task`.
    ///
    /// # Errors
    /// A message naming the input path that is missing or null.
    pub fn render(&self, task: &Task) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Task(f) => out.push_str(&task_field(task, *f)),
                Part::Input(path) => {
                    let mut v: Option<&Value> = None;
                    let mut shown = String::from("input");
                    for (i, seg) in path.iter().enumerate() {
                        v = match (i, seg) {
                            (0, Segment::Key(k)) => task.input_data.get(k),
                            (0, Segment::Index(n)) => task.input_data.get(&n.to_string()),
                            (_, Segment::Key(k)) => v.and_then(|v| v.get(k.as_str())),
                            (_, Segment::Index(n)) => {
                                v.and_then(|v| v.get(*n).or_else(|| v.get(n.to_string())))
                            }
                        };
                        match seg {
                            Segment::Key(k) => shown.push_str(&format!(".{k}")),
                            Segment::Index(n) => shown.push_str(&format!(".{n}")),
                        }
                    }
                    if path.is_empty() {
                        out.push_str(&serde_json::to_string(&task.input_data).unwrap_or_default());
                        continue;
                    }
                    match v {
                        None | Some(Value::Null) => {
                            return Err(format!("{shown} is missing from the task input"))
                        }
                        Some(Value::String(s)) => out.push_str(s),
                        Some(other) => out.push_str(&other.to_string()),
                    }
                }
            }
        }
        Ok(out)
    }
}

fn parse_field(field: &str) -> Result<Part, String> {
    if field.is_empty() {
        return Err("empty field; use input.KEY or task.FIELD".into());
    }
    let mut segs = field.split('.');
    match segs.next() {
        Some("input") => {
            let mut path = Vec::new();
            for s in segs {
                if s.is_empty() {
                    return Err("empty key (two dots, or a dot at the end)".into());
                }
                if !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(format!(
                        "key '{s}' may only hold letters, digits, '_' and '-'"
                    ));
                }
                path.push(match s.parse::<usize>() {
                    Ok(n) => Segment::Index(n),
                    Err(_) => Segment::Key(s.to_string()),
                });
            }
            Ok(Part::Input(path))
        }
        Some("task") => {
            let name = segs.next().unwrap_or("");
            if segs.next().is_some() {
                return Err("task fields have no sub-fields".into());
            }
            TASK_FIELDS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| Part::Task(*f))
                .ok_or_else(|| {
                    let known: Vec<&str> = TASK_FIELDS.iter().map(|(n, _)| *n).collect();
                    format!("unknown task field '{name}'; known: {}", known.join(", "))
                })
        }
        Some(other) => Err(format!(
            "unknown root '{other}'; fields start with input or task"
        )),
        None => Err("empty field".into()),
    }
}

fn task_field(task: &Task, f: TaskField) -> String {
    match f {
        TaskField::TaskId => task.task_id.clone(),
        TaskField::WorkflowId => task.workflow_instance_id.clone(),
        TaskField::Reference => task.reference_task_name.clone(),
        TaskField::WorkflowType => task.workflow_type.clone(),
        TaskField::TaskType => task.task_type.clone(),
        TaskField::RetryCount => task.retry_count.to_string(),
        TaskField::PollCount => task.poll_count.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(input: Value) -> Task {
        Task {
            task_id: "t-1".into(),
            retry_count: 2,
            input_data: input.as_object().cloned().unwrap_or_default(),
            ..Task::default()
        }
    }

    #[test]
    fn fills_input_paths_and_task_fields() {
        let t = task(
            json!({"branch": "main", "dev": {"ip": "10.0.0.7", "port": 3232}, "files": ["a.bin", "b.bin"], "on": true}),
        );
        let cases = [
            ("--branch={{input.branch}}", "--branch=main"),
            ("{{ input.dev.ip }}:{{input.dev.port}}", "10.0.0.7:3232"),
            ("{{input.files.1}}", "b.bin"),
            ("{{input.files}}", "[\"a.bin\",\"b.bin\"]"),
            ("{{input.on}}", "true"),
            ("{{task.taskId}}#{{task.retryCount}}", "t-1#2"),
            ("a {{\"{{\"}} b }}", "a {{ b }}"),
            ("plain", "plain"),
        ];
        for (tpl, want) in cases {
            let got = Template::parse(tpl).expect(tpl).render(&t).expect(tpl);
            assert_eq!(got, want, "{tpl}");
        }
    }

    #[test]
    fn shell_metacharacters_in_values_stay_text() {
        let t = task(json!({"x": "$(rm -rf /); `id` | cat && echo ${HOME} > /tmp/x"}));
        let got = Template::parse("{{input.x}}").unwrap().render(&t).unwrap();
        assert_eq!(got, "$(rm -rf /); `id` | cat && echo ${HOME} > /tmp/x");
    }

    #[test]
    fn missing_values_name_their_path() {
        let t = task(json!({"a": {"b": null}}));
        let e = Template::parse("{{input.a.b}}")
            .unwrap()
            .render(&t)
            .unwrap_err();
        assert!(e.contains("input.a.b is missing"), "{e}");
        let e = Template::parse("{{input.nope}}")
            .unwrap()
            .render(&t)
            .unwrap_err();
        assert!(e.contains("input.nope"), "{e}");
    }

    #[test]
    fn bad_templates_are_refused_naming_the_problem() {
        for (tpl, says) in [
            ("{{input.a", "unclosed"),
            ("{{}}", "empty field"),
            ("{{workflow.input.a}}", "unknown root 'workflow'"),
            ("{{task.nope}}", "unknown task field 'nope'"),
            ("{{input.a..b}}", "empty key"),
            ("{{input.a b}}", "may only hold"),
        ] {
            let e = Template::parse(tpl).expect_err(tpl).to_string();
            assert!(e.contains(says), "{tpl}: {e}");
        }
    }
}
