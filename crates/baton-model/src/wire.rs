//! Two JSON forms of the same structs. Over the API Baton answers as Conductor does, with a
//! node's empty `decisionCases`, `forkTasks`, … and `permissive: false` spelled out; in the
//! store those defaults are left out, since every task row carries its node and a definition
//! snapshot carries every node: spelled out, they made each task row about an eighth larger.
//! Reading either form gives the same struct (absent is the default).

use std::cell::Cell;

thread_local! {
    static COMPACT: Cell<bool> = const { Cell::new(false) };
}

/// Restores the previous form when dropped, also when serialisation panics.
struct Restore(bool);

impl Drop for Restore {
    fn drop(&mut self) {
        COMPACT.with(|c| c.set(self.0));
    }
}

/// Runs `f` (a serialisation on this thread) in the compact, stored form.
pub fn compact<R>(f: impl FnOnce() -> R) -> R {
    let _restore = Restore(COMPACT.with(|c| c.replace(true)));
    f()
}

fn is_compact() -> bool {
    COMPACT.with(Cell::get)
}

pub(crate) fn skip_empty_vec<T>(v: &[T]) -> bool {
    v.is_empty() && is_compact()
}

pub(crate) fn skip_empty_map(m: &crate::JsonMap) -> bool {
    m.is_empty() && is_compact()
}

pub(crate) fn skip_empty_index_map<K, V>(m: &indexmap::IndexMap<K, V>) -> bool {
    m.is_empty() && is_compact()
}

pub(crate) fn skip_false(b: &bool) -> bool {
    !*b && is_compact()
}

#[cfg(test)]
mod tests {
    use crate::WorkflowTask;

    #[test]
    fn the_stored_form_leaves_defaults_out_and_reads_back_the_same() {
        let node = WorkflowTask::new("a", "a", "SIMPLE");
        let wire = serde_json::to_value(&node).unwrap();
        assert_eq!(wire["forkTasks"], serde_json::json!([]));
        assert_eq!(wire["permissive"], false);
        let stored = super::compact(|| serde_json::to_value(&node)).unwrap();
        for key in [
            "forkTasks",
            "decisionCases",
            "onStateChange",
            "permissive",
            "metadata",
        ] {
            assert!(stored.get(key).is_none(), "{key}: {stored}");
        }
        let back: WorkflowTask = serde_json::from_value(stored).unwrap();
        assert_eq!(back, node);
        // The form is restored afterwards.
        assert_eq!(serde_json::to_value(&node).unwrap(), wire);
    }
}
