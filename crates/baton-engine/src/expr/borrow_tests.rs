//! Resolution borrows from the scope: a reference copies its result, never the workflow.

use super::*;
use serde_json::json;

/// A scope over one borrowed input map that counts how often the whole root object is built
/// (`lookup`) versus a single key handed out by reference (`field`).
struct Tracking<'a> {
    input: &'a Map<String, Value>,
    whole_roots: std::cell::Cell<usize>,
    fields: std::cell::Cell<usize>,
}

impl Scope for Tracking<'_> {
    fn lookup(&self, root: &str) -> Option<Cow<'_, Value>> {
        self.whole_roots.set(self.whole_roots.get() + 1);
        (root == "workflow").then(|| Cow::Owned(json!({"input": self.input})))
    }

    fn field(&self, root: &str, key: &str) -> Option<Node<'_>> {
        self.fields.set(self.fields.get() + 1);
        (root == "workflow" && key == "input").then_some(Node::Map(self.input))
    }
}

#[test]
fn references_borrow_and_never_build_the_root() {
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"id": i, "pad": "p".repeat(200)}))
        .collect();
    let Value::Object(input) = json!({"blob": "x".repeat(64 * 1024), "items": items}) else {
        panic!("fixture is an object");
    };
    let scope = Tracking {
        input: &input,
        whole_roots: Default::default(),
        fields: Default::default(),
    };
    const N: usize = 4000;
    let params: Map<String, Value> = (0..N)
        .map(|i| {
            let v = match i % 4 {
                0 => format!("${{workflow.input.items[{}].id}}", i % 1000),
                1 => format!("id ${{workflow.input.items[{}].id}}", i % 1000),
                2 => "${workflow.input.items[?(@.id < 2)].id}".to_owned(),
                _ => "${workflow.input.length()}".to_owned(),
            };
            (format!("p{i}"), Value::String(v))
        })
        .collect();
    let out = resolve_map(&params, &scope, None);
    assert_eq!(out["p4"], json!(4));
    assert_eq!(out["p5"], json!("id 5"));
    assert_eq!(out["p6"], json!([0, 1]));
    assert_eq!(out["p7"], json!(2));
    assert_eq!(
        scope.whole_roots.get(),
        0,
        "no reference may build (copy) the whole workflow object"
    );
    assert_eq!(scope.fields.get(), N);
}

#[test]
fn whole_root_and_root_filters_still_build_the_root() {
    let Value::Object(input) = json!({"a": [1, 2]}) else {
        panic!("fixture is an object");
    };
    let scope = Tracking {
        input: &input,
        whole_roots: Default::default(),
        fields: Default::default(),
    };
    assert_eq!(
        resolve_str("${workflow}", &scope, None),
        json!({"input": {"a": [1, 2]}})
    );
    // `$` inside a filter is the root value, so the query runs against the whole root.
    assert_eq!(
        resolve_str("${workflow.input.a[?(@ > $.input.a[0])]}", &scope, None),
        json!([2])
    );
    assert_eq!(scope.whole_roots.get(), 2);
    assert_eq!(
        resolve_str("${workflow.input.a[*]}", &scope, None),
        json!([1, 2])
    );
    assert_eq!(
        resolve_str("${workflow.input.*}", &scope, None),
        json!([[1, 2]])
    );
    assert_eq!(
        resolve_str("${workflow.input.keys()}", &scope, None),
        json!(["a"])
    );
    assert_eq!(
        resolve_str("${workflow.input.sum()}", &scope, None),
        Value::Null
    );
    assert_eq!(resolve_str("${workflow.nope.x}", &scope, None), Value::Null);
    assert_eq!(resolve_str("${workflow.nope[*]}", &scope, None), json!([]));
    assert_eq!(scope.whole_roots.get(), 2);
}
