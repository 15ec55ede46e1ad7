//! The search document of a task attempt: the text a free-text task search matches (ADR 32),
//! built the same way for both backends.
//!
//! It holds the task's workflow type, correlation id, reference name, type, definition name,
//! input, output and reason, one per line. Input and output are bounded: the document keeps
//! the first `field_bytes` bytes of each as JSON, so a loop whose output grows with every
//! iteration does not re-index megabytes at each one. The task and workflow ids are left
//! out: searches match a whole id through the tasks' own indexes, and the two ids were half
//! the trigrams of a typical document (ADR 35).

use baton_model::{JsonMap, Task};
use sha2::{Digest, Sha256};
use std::io::{self, Write};

/// Default bytes of a task's input, and of its output, that its document holds.
pub const DEFAULT_TASK_TEXT_BYTES: usize = 16 * 1024;

/// The document of `task`, its input and output each cut after `field_bytes` bytes.
pub(crate) fn task_text(task: &Task, field_bytes: usize) -> String {
    let input = json_prefix(&task.input_data, field_bytes);
    let output = json_prefix(&task.output_data, field_bytes);
    let fields = [
        task.workflow_type.as_str(),
        task.correlation_id.as_deref().unwrap_or_default(),
        task.reference_task_name.as_str(),
        task.task_type.as_str(),
        task.task_def_name.as_str(),
        input.as_str(),
        output.as_str(),
        task.reason_for_incompletion.as_deref().unwrap_or_default(),
    ];
    let text = fields.join("\n");
    // PostgreSQL text cannot hold NUL; neither backend's index would match it anyway.
    if text.contains('\0') {
        return text.replace('\0', " ");
    }
    text
}

/// A digest of a document, stored with its task so a write can tell whether the document
/// changed without reading it back (SQLite's `tasks.text_hash`).
pub(crate) fn text_hash(text: &str) -> i64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(first)
}

/// The JSON of `map`, cut after `limit` bytes (at a character boundary); empty for an empty
/// map, as the stored form leaves an empty map out.
fn json_prefix(map: &JsonMap, limit: usize) -> String {
    if map.is_empty() || limit == 0 {
        return String::new();
    }
    let mut out = Capped {
        buf: Vec::with_capacity(limit.min(1024)),
        room: limit,
    };
    // Serialisation stops with an error where the room runs out: what was written is the
    // prefix wanted. Values of a JSON map always serialise otherwise.
    let _ = serde_json::to_writer(&mut out, map);
    match String::from_utf8(out.buf) {
        Ok(text) => text,
        Err(cut) => {
            // The cut fell inside a character: drop its first bytes.
            let valid = cut.utf8_error().valid_up_to();
            String::from_utf8_lossy(&cut.as_bytes()[..valid]).into_owned()
        }
    }
}

/// A writer that takes `room` bytes, then refuses.
struct Capped {
    buf: Vec<u8>,
    room: usize,
}

impl Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let n = bytes.len().min(self.room);
        self.buf.extend_from_slice(&bytes[..n]);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> JsonMap {
        match v {
            serde_json::Value::Object(m) => m,
            _ => JsonMap::default(),
        }
    }

    #[test]
    fn input_and_output_are_cut_at_the_bound_on_a_character_boundary() {
        let mut task = Task {
            task_id: "t1".into(),
            reference_task_name: "ref".into(),
            ..Task::default()
        };
        task.input_data = map(json!({ "word": "é".repeat(100) }));
        task.output_data = map(json!({ "n": 1 }));
        let text = task_text(&task, 12);
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines.len(), 8, "{text:?}");
        assert!(!text.contains("t1"), "{text:?}");
        // `{"word":"` is 9 bytes; 3 more hold one `é` (2 bytes) and half of the next.
        assert_eq!(lines[5], "{\"word\":\"é");
        assert_eq!(lines[6], "{\"n\":1}");
        assert_eq!(lines[2], "ref");
    }

    #[test]
    fn empty_maps_and_a_zero_bound_leave_the_lines_empty() {
        let mut task = Task::default();
        assert_eq!(task_text(&task, 100).split('\n').nth(5), Some(""));
        task.input_data = map(json!({ "a": "b" }));
        assert_eq!(task_text(&task, 0).split('\n').nth(5), Some(""));
        assert_eq!(
            task_text(&task, 100).split('\n').nth(5),
            Some("{\"a\":\"b\"}")
        );
    }

    #[test]
    fn the_hash_follows_the_text() {
        assert_eq!(text_hash("a\nb"), text_hash("a\nb"));
        assert_ne!(text_hash("a\nb"), text_hash("a\nc"));
    }
}
