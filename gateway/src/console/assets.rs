//! The console's static files, embedded in the binary and served under
//! `/_eyrie/static/<content hash>/<file>`: a new build with a changed file gets a new URL, so
//! browsers may keep each one for a year.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    response::{IntoResponse, Response},
};
use sha2::{Digest as _, Sha256};

/// The console's stylesheet.
pub const CSS: &str = "console.css";
/// htmx (see `static/vendor/README.md`).
pub const HTMX: &str = "htmx.min.js";
/// htmx's Server-Sent Events extension.
pub const HTMX_SSE: &str = "htmx-ext-sse.min.js";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    url: String,
    version: String,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        (
            CSS,
            "text/css; charset=utf-8",
            include_bytes!("static/console.css").as_slice(),
        ),
        (
            HTMX,
            "text/javascript; charset=utf-8",
            include_bytes!("static/vendor/htmx.min.js").as_slice(),
        ),
        (
            HTMX_SSE,
            "text/javascript; charset=utf-8",
            include_bytes!("static/vendor/htmx-ext-sse.min.js").as_slice(),
        ),
    ]
    .into_iter()
    .map(|(name, content_type, bytes)| {
        let version = hex::encode(&Sha256::digest(bytes)[..8]);
        Asset {
            name,
            content_type,
            bytes,
            url: format!("{}/static/{version}/{name}", super::PREFIX),
            version,
        }
    })
    .collect()
});

/// The URL of asset `name` (one of the constants above).
pub fn url(name: &str) -> &'static str {
    ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .map_or("", |asset| asset.url.as_str())
}

/// `GET /_eyrie/static/{version}/{file}`: the file, cacheable for good when `version` is its
/// current one.
pub async fn serve(Path((version, name)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return super::error::PageError::NotFound(format!("no file {name}")).into_response();
    };
    // An old version (a page cached across an upgrade) still gets the file, just not for good.
    let cache = if asset.version == version {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (http::header::CONTENT_TYPE, asset.content_type),
            (http::header::CACHE_CONTROL, cache),
        ],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_versioned_url() {
        for name in [CSS, HTMX, HTMX_SSE] {
            let url = url(name);
            assert!(url.starts_with("/_eyrie/static/"), "{url}");
            assert!(url.ends_with(name), "{url}");
        }
    }
}
