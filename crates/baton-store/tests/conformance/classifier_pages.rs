//! Conformance checks of the pages of plain-workflow searches (`classifier=workflow`, ADR
//! 34), run by `conformance.rs` on every backend: every page, near either end and in the
//! middle, with type and status filters and in each sort order, is the slice of the whole
//! order that the same rows sorted here give, and its total their number.

use super::suite::*;
use baton_model::{WorkflowDef, WorkflowStatus};
use baton_store::{Store, WorkflowQuery};
use std::cmp::Ordering;
use std::sync::Arc;

/// One execution of the fixture: its id, type, classifier, status and times.
struct Run {
    id: String,
    name: &'static str,
    classifier: &'static str,
    status: WorkflowStatus,
    start: i64,
    update: i64,
}

/// Eighty executions: three to a millisecond (ties broken by id), two types, one in
/// thirteen an agent, three of a classifier of their own, one in four failed; updates in
/// another order than starts.
fn runs() -> Vec<Run> {
    (0..80)
        .map(|i: i64| Run {
            id: format!("x-{i:03}"),
            name: if i % 2 == 0 { "flow" } else { "other" },
            classifier: if i % 13 == 5 {
                "agent"
            } else if i % 29 == 7 {
                "report"
            } else {
                "workflow"
            },
            status: if i % 4 == 0 {
                WorkflowStatus::Failed
            } else {
                WorkflowStatus::Running
            },
            start: NOW + i / 3,
            update: NOW + (i * 37) % 80,
        })
        .collect()
}

fn definition(name: &str, classifier: &str) -> Arc<WorkflowDef> {
    let mut d = def(name, 1);
    d.metadata = serde_json::from_value(serde_json::json!({ "classifier": classifier })).unwrap();
    Arc::new(d)
}

/// A search of the fixture and the rows it must find, in its order.
struct Case {
    what: &'static str,
    classifiers: &'static [&'static str],
    types: &'static [&'static str],
    statuses: &'static [WorkflowStatus],
    /// API sort key and whether descending; None: the default, newest first.
    sort: Option<(&'static str, bool)>,
}

impl Case {
    fn query(&self, offset: usize, limit: usize) -> WorkflowQuery {
        WorkflowQuery {
            classifiers: vec![self.classifiers.iter().map(|c| c.to_string()).collect()],
            workflow_types: self.types.iter().map(|t| t.to_string()).collect(),
            statuses: self.statuses.to_vec(),
            sort: self.sort.map(|(k, d)| (k.to_string(), d)),
            offset,
            limit,
            ..Default::default()
        }
    }

    fn expected(&self, runs: &[Run]) -> Vec<String> {
        let mut found: Vec<&Run> = runs
            .iter()
            .filter(|r| self.classifiers.contains(&r.classifier))
            .filter(|r| self.types.is_empty() || self.types.contains(&r.name))
            .filter(|r| self.statuses.is_empty() || self.statuses.contains(&r.status))
            .collect();
        let (key, desc) = self.sort.unwrap_or(("startTime", true));
        found.sort_by(|a, b| {
            let by_key = match key {
                "startTime" => a.start.cmp(&b.start),
                "updateTime" => a.update.cmp(&b.update),
                "workflowType" => a.name.cmp(b.name),
                other => panic!("no sort {other} in this test"),
            };
            let order: Ordering = by_key.then_with(|| a.id.cmp(&b.id));
            if desc {
                order.reverse()
            } else {
                order
            }
        });
        found.into_iter().map(|r| r.id.clone()).collect()
    }
}

pub async fn plain_workflow_pages_in_order(store: Arc<dyn Store>) {
    let runs = runs();
    for r in &runs {
        let d = definition(r.name, r.classifier);
        let mut wf = workflow(&r.id, r.name);
        wf.start_time = r.start;
        wf.create_time = r.start;
        wf.update_time = r.update;
        wf.status = r.status;
        store.commit(one(insert(wf, &d, vec![]))).await.unwrap();
    }
    use WorkflowStatus::{Failed, Running};
    let cases = [
        Case {
            what: "plain workflows, newest first",
            classifiers: &["workflow"],
            types: &[],
            statuses: &[],
            sort: None,
        },
        Case {
            what: "plain workflows, oldest first",
            classifiers: &["workflow"],
            types: &[],
            statuses: &[],
            sort: Some(("startTime", false)),
        },
        Case {
            what: "plain workflows and one other classifier",
            classifiers: &["workflow", "report"],
            types: &[],
            statuses: &[],
            sort: Some(("startTime", true)),
        },
        Case {
            what: "running plain workflows",
            classifiers: &["workflow"],
            types: &[],
            statuses: &[Running],
            sort: None,
        },
        Case {
            what: "failed plain workflows of one type, oldest first",
            classifiers: &["workflow"],
            types: &["flow"],
            statuses: &[Failed],
            sort: Some(("startTime", false)),
        },
        Case {
            what: "plain workflows of both types and statuses",
            classifiers: &["workflow"],
            types: &["flow", "other"],
            statuses: &[Running, Failed],
            sort: None,
        },
        Case {
            what: "plain workflows by update time",
            classifiers: &["workflow"],
            types: &[],
            statuses: &[],
            sort: Some(("updateTime", true)),
        },
        Case {
            what: "plain workflows of one type by type, ascending",
            classifiers: &["workflow"],
            types: &["other"],
            statuses: &[],
            sort: Some(("workflowType", false)),
        },
    ];
    for case in &cases {
        let want = case.expected(&runs);
        let total = want.len();
        assert!(total > 15, "{}: {total} rows", case.what);
        for limit in [7, 1] {
            for offset in 0..total + 3 {
                let (n, page) = store
                    .search_workflows(&case.query(offset, limit))
                    .await
                    .unwrap();
                let page: Vec<String> = page.into_iter().map(|w| w.workflow_id).collect();
                let want = &want[offset.min(total)..(offset + limit).min(total)];
                assert_eq!(
                    (n, page.as_slice()),
                    (i64::try_from(total).unwrap(), want),
                    "{}: offset {offset}, limit {limit}",
                    case.what
                );
            }
        }
    }
}
