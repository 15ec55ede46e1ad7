//! The web UI's files over real HTTP: the page and every embedded asset with its content
//! type, caching headers and Content-Security-Policy; unknown names are a 404.

mod common;

use common::*;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn expected_type(name: &str) -> &'static str {
    if name.ends_with(".js") {
        "text/javascript; charset=utf-8"
    } else if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else if name.ends_with(".html") {
        "text/html; charset=utf-8"
    } else if name.ends_with(".svg") {
        "image/svg+xml"
    } else {
        panic!("an asset of a kind this test does not know: {name}")
    }
}

#[tokio::test]
async fn the_page_loads_its_assets_from_the_current_build_under_a_strict_csp() {
    let s = TestServer::spawn().await;
    let resp = s.client.get(format!("{}/", s.root)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(content_type(&resp), "text/html; charset=utf-8");
    assert_eq!(header(&resp, CACHE_CONTROL), "no-cache");
    let csp = header(&resp, CONTENT_SECURITY_POLICY);
    assert_eq!(csp, baton_ui::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(
        !csp.contains("unsafe"),
        "CSP allows something unsafe: {csp}"
    );
    assert_eq!(
        header(&resp, "x-content-type-options".parse().unwrap()),
        "nosniff"
    );
    let page = resp.text().await.unwrap();
    let build = baton_ui::build_id();
    assert!(
        page.contains(&format!("src=\"/ui/{build}/app.js\"")),
        "{page}"
    );
    assert!(page.contains(&format!("href=\"/ui/{build}/style.css\"")));
    // Nothing from another origin.
    assert!(!page.contains("http://") && !page.contains("https://"));
}

#[tokio::test]
async fn every_asset_is_served_with_its_content_type_and_cached_for_good() {
    let s = TestServer::spawn().await;
    let build = baton_ui::build_id();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../baton-ui/assets");
    let mut seen = 0;
    for name in baton_ui::asset_names() {
        let resp = s
            .client
            .get(format!("{}/ui/{build}/{name}", s.root))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{name}");
        assert_eq!(content_type(&resp), expected_type(name), "{name}");
        assert_eq!(
            header(&resp, CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "{name}"
        );
        assert_eq!(
            header(&resp, CONTENT_SECURITY_POLICY),
            baton_ui::CONTENT_SECURITY_POLICY
        );
        let etag = header(&resp, ETAG);
        assert!(
            etag.starts_with('"') && etag.len() > 2,
            "{name}: etag {etag}"
        );
        let body = resp.bytes().await.unwrap();
        // index.html is served at / with its asset prefix filled in; the rest byte for byte.
        if name != "index.html" {
            assert_eq!(
                body.as_ref(),
                std::fs::read(dir.join(name)).unwrap(),
                "{name}"
            );
        }
        // Revalidation with the ETag answers 304 without a body.
        let again = s
            .client
            .get(format!("{}/ui/{build}/{name}", s.root))
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{name}");
        assert!(again.bytes().await.unwrap().is_empty());
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} assets embedded");
}

#[tokio::test]
async fn an_old_build_prefix_is_revalidated_and_unknown_names_are_404() {
    let s = TestServer::spawn().await;
    let old = s
        .client
        .get(format!("{}/ui/0123456789abcdef/app.js", s.root))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::OK);
    assert_eq!(header(&old, CACHE_CONTROL), "no-cache");
    assert_eq!(content_type(&old), "text/javascript; charset=utf-8");

    let build = baton_ui::build_id();
    for path in [
        format!("/ui/{build}/nope.js"),
        format!("/ui/{build}/../Cargo.toml"),
        format!("/ui/{build}/%2e%2e/src/lib.rs"),
        format!("/ui/{build}/pages"),
    ] {
        let resp = s
            .client
            .get(format!("{}{path}", s.root))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        if path.contains("..") {
            // The client resolves `..` itself: the request leaves /ui/<build>/ altogether.
            continue;
        }
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("no UI asset"),
            "{path}: {body}"
        );
    }
    // The API is untouched by the UI's routes.
    let health = s.get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
}
