//! The embedded files, their content types, ETags and the build id.

use axum::body::Bytes;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// Every file under `assets/`, embedded at compile time. A test checks this list against
/// the folder, so a new file cannot be forgotten.
macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $name)))),*]
    };
}

static FILES: &[(&str, &[u8])] = embed!(
    "index.html",
    "style.css",
    "favicon.svg",
    "app.js",
    "route.js",
    "api.js",
    "session.js",
    "live.js",
    "dom.js",
    "dialogs.js",
    "diagram.js",
    "json.js",
    "timeline.js",
    "pages/home.js",
    "pages/executions.js",
    "pages/execution.js",
    "pages/definitions.js",
    "pages/definition.js",
    "pages/queues.js",
    "pages/schedules.js",
    "pages/handlers.js",
    "pages/signin.js",
);

/// What `index.html` says where the asset prefix goes.
const BASE_PLACEHOLDER: &str = "%ASSET_BASE%";

pub(crate) struct Asset {
    pub(crate) body: Bytes,
    pub(crate) content_type: &'static str,
    pub(crate) etag: String,
}

struct Catalogue {
    build: String,
    files: Vec<(&'static str, Asset)>,
    index: Asset,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    let mut all = Sha256::new();
    let mut files = Vec::with_capacity(FILES.len());
    for (name, bytes) in FILES {
        all.update(name.as_bytes());
        all.update((bytes.len() as u64).to_le_bytes());
        all.update(bytes);
        files.push((
            *name,
            Asset {
                body: Bytes::from_static(bytes),
                content_type: content_type(name),
                etag: etag(bytes),
            },
        ));
    }
    let build = hex(&all.finalize()[..8]);
    let page = FILES
        .iter()
        .find(|(n, _)| *n == "index.html")
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
        .replace(BASE_PLACEHOLDER, &format!("/ui/{build}"));
    let index = Asset {
        etag: etag(page.as_bytes()),
        body: Bytes::from(page),
        content_type: content_type("index.html"),
    };
    Catalogue {
        build,
        files,
        index,
    }
});

/// The hash of every embedded file: the asset URL prefix `/ui/<build>/`.
pub fn build_id() -> &'static str {
    &CATALOGUE.build
}

/// Names of the embedded files, relative to `assets/`.
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(n, _)| *n)
}

/// The Content-Type an asset is served with, by its extension.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

pub(crate) fn get(name: &str) -> Option<&'static Asset> {
    CATALOGUE
        .files
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| a)
}

pub(crate) fn index_page() -> &'static Asset {
    &CATALOGUE.index
}

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex(&Sha256::digest(bytes)[..12]))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("assets folder") {
            let entry = entry.expect("entry");
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                files_under(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_file_in_the_assets_folder_is_embedded() {
        let mut on_disk = Vec::new();
        files_under(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets"),
            "",
            &mut on_disk,
        );
        on_disk.sort();
        let mut embedded: Vec<String> = asset_names().map(str::to_string).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn the_page_points_at_the_current_build() {
        let page = String::from_utf8_lossy(&index_page().body).into_owned();
        assert!(!page.contains(BASE_PLACEHOLDER));
        assert!(page.contains(&format!("/ui/{}/app.js", build_id())));
    }
}
