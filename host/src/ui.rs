//! The operator console at `/ui`: a single-page app (React and
//! react-jsonschema-form, sources in `host/ui/`) built into `host/ui/dist/`
//! and embedded in the binary, so `cargo build` needs no Node. Every page is
//! sent with a strict Content-Security-Policy: scripts, styles and API
//! calls from this origin only, no inline code, no `eval`, no framing.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get};

/// The console's Content-Security-Policy.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const INDEX: &str = include_str!("../ui/dist/index.html");
const APP_JS: &str = include_str!("../ui/dist/assets/app.js");
const STYLE_CSS: &str = include_str!("../ui/dist/assets/style.css");

/// One embedded file with the console's security headers.
fn file(content_type: &'static str, body: &'static str, cache: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// The console's routes: `/ui` (redirects to `/ui/`), `/ui/` and its two
/// assets. They need no token: the page asks for one and sends it with each
/// API call.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Vec<(&'static str, MethodRouter<S>)> {
    vec![
        ("/ui", get(|| async { Redirect::permanent("/ui/") })),
        (
            "/ui/",
            get(|| async { file("text/html; charset=utf-8", INDEX, "no-cache") }),
        ),
        (
            "/ui/assets/app.js",
            get(|| async { file("text/javascript; charset=utf-8", APP_JS, "no-cache") }),
        ),
        (
            "/ui/assets/style.css",
            get(|| async { file("text/css; charset=utf-8", STYLE_CSS, "no-cache") }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page loads only what these routes serve: every script and
    /// stylesheet the built index names is embedded, and nothing is inline.
    #[test]
    fn the_index_names_only_embedded_assets() {
        assert!(INDEX.contains(r#"src="/ui/assets/app.js""#), "{INDEX}");
        assert!(INDEX.contains(r#"href="/ui/assets/style.css""#), "{INDEX}");
        assert_eq!(INDEX.matches("<script").count(), 1, "{INDEX}");
        assert!(!INDEX.contains("<style"), "{INDEX}");
        assert!(!INDEX.contains(" style="), "{INDEX}");
    }

    /// Under the CSP no code may be made from text at run time.
    #[test]
    fn the_bundle_makes_no_code_from_strings() {
        assert!(!APP_JS.contains("new Function"));
        assert!(!CSP.contains("unsafe"));
    }
}
