//! The search-query parser of `GET /api/workflow/search`: any query, free text and sort
//! parse to a query or a 400 message, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The input splits into the parameters at NUL bytes: query, freeText, sort, start, size.
    let mut parts = text.split('\0');
    let mut params = HashMap::new();
    for name in ["query", "freeText", "sort", "start", "size"] {
        if let Some(p) = parts.next() {
            params.insert(name.to_string(), p.to_string());
        }
    }
    let _ = baton_server::fuzzing::workflow_search(params);
});
