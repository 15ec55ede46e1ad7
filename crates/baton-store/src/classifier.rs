//! The classifier column of executions (Conductor's `classifier` search field), shared by
//! both backends' searches.
//!
//! Most executions run plain workflows, classifier `workflow`; the index on the column
//! leaves those out (SQLite migration 15, PostgreSQL migration 10), so starting a plain
//! workflow writes no entry in it, and a search for another classifier (an agent page)
//! reads only its own rows.

use crate::WorkflowQuery;

/// The classifier of a plain workflow, the column's default; the index holds every other.
pub(crate) const PLAIN: &str = "workflow";

/// The condition the classifier index is built with, repeated in a search so that SQLite
/// (which matches a partial index's WHERE by its terms) may use the index.
pub(crate) const INDEXED: &str = "classifier <> 'workflow'";

/// Whether one classifier condition (any of `values`, `*` a wildcard) may match [`PLAIN`].
/// Patterns are compared without case, as SQLite's LIKE compares: when in doubt the answer
/// is yes, which only keeps the search off the index.
pub(crate) fn may_match_plain(values: &[String]) -> bool {
    values.iter().any(|v| {
        if v.contains('*') {
            glob_matches(&v.to_ascii_lowercase(), PLAIN)
        } else {
            v == PLAIN
        }
    })
}

/// Whether a classifier condition of `q` picks rows the index holds only: it cannot match
/// [`PLAIN`], so [`INDEXED`] may be added to the search.
pub(crate) fn rare(q: &WorkflowQuery) -> bool {
    q.classifiers.iter().any(|c| !may_match_plain(c))
}

/// For a search of plain workflows (`classifier=workflow`, perhaps with other exact values):
/// the query without its classifier condition and the other values it names. Its total is
/// then that query's total (often from the kept counts) less the count of its rows of the
/// classifiers it does not name, which the index holds: rows of plain workflows are never
/// counted one by one. None for other searches.
pub(crate) fn total_by_difference(q: &WorkflowQuery) -> Option<(WorkflowQuery, Vec<String>)> {
    let [condition] = q.classifiers.as_slice() else {
        return None;
    };
    if condition.iter().any(|v| v.contains('*')) || !condition.iter().any(|v| v == PLAIN) {
        return None;
    }
    let others = condition.iter().filter(|v| *v != PLAIN).cloned().collect();
    let without = WorkflowQuery {
        classifiers: Vec::new(),
        ..q.clone()
    };
    Some((without, others))
}

/// Most steps a page of plain workflows takes to find where it starts (ADR 34); each reads
/// one count over the rows the classifier index holds. With few such rows two or three
/// steps settle; a search that has not settled falls back to checking every row.
pub(crate) const SEEK_STEPS: usize = 16;

/// For a page of plain workflows found by position (ADR 34): the query without its
/// classifier condition and the classifiers it names besides [`PLAIN`]. Only for a search
/// by at most type and status besides (its total is then known, see
/// [`total_by_difference`]) that wants a bounded page and its total.
pub(crate) fn plain_seek(q: &WorkflowQuery) -> Option<(WorkflowQuery, Vec<String>)> {
    if q.limit == 0 || q.skip_total {
        return None;
    }
    let (without, others) = total_by_difference(q)?;
    without.counted().then_some((without, others))
}

/// Whether the rows a classifier condition leaves out of `all` (its search without it) to
/// get `total` are few enough, at most one in eight, for a page to be found by position:
/// each step counts them, and the more there are the more steps it takes.
pub(crate) fn few_left_out(all: i64, total: i64) -> bool {
    all.saturating_sub(total).saturating_mul(8) <= all
}

/// Whether `pattern` (where `*` is any run of characters) matches all of `text`.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it was tried at, to backtrack to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn may(values: &[&str]) -> bool {
        may_match_plain(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn totals_of_plain_workflows_are_differences() {
        let q = |conditions: &[&[&str]]| WorkflowQuery {
            classifiers: conditions
                .iter()
                .map(|c| c.iter().map(|v| v.to_string()).collect())
                .collect(),
            ..WorkflowQuery::default()
        };
        let others = |c: &[&[&str]]| {
            total_by_difference(&q(c)).map(|(without, others)| {
                assert!(without.classifiers.is_empty());
                others
            })
        };
        assert_eq!(others(&[&["workflow"]]), Some(vec![]));
        assert_eq!(
            others(&[&["agent", "workflow"]]),
            Some(vec!["agent".into()])
        );
        assert_eq!(others(&[&["agent"]]), None);
        assert_eq!(others(&[&["work*"]]), None);
        assert_eq!(others(&[&["workflow"], &["workflow"]]), None);
        assert_eq!(others(&[]), None);
    }

    #[test]
    fn tells_which_conditions_may_match_plain_workflows() {
        assert!(may(&["workflow"]));
        assert!(may(&["agent", "workflow"]));
        assert!(may(&["work*"]));
        assert!(may(&["*flow"]));
        assert!(may(&["*"]));
        assert!(may(&["w*r*w"]));
        assert!(may(&["WORK*"]), "LIKE folds case in SQLite");
        assert!(!may(&["agent"]));
        assert!(!may(&["Workflow"]), "an exact value is compared with case");
        assert!(!may(&["workflows"]));
        assert!(!may(&["work*s"]));
        assert!(!may(&["ag*"]));
        assert!(!may(&[]));
    }
}
