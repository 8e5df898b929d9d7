//! The web console: the CUI for people (ISO/IEC 10192-4-3 §6.2 HES-CLIP, in a browser). A
//! dependency-free single page of ES modules, embedded in the binary so `cargo run` needs
//! nothing else, served at `/` on the HTTP port. It speaks only the JSON API under `/cui/v1`
//! with the bearer token it keeps in `sessionStorage`; no cookies. Every answer carries a
//! strict Content-Security-Policy: scripts, styles and connections from this origin only, no
//! inline script or style, no framing.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The policy on every console response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The console's files: (path, content type, body).
const FILES: [(&str, &str, &str); 8] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../console/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/app.js"),
    ),
    (
        "/api.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/api.js"),
    ),
    (
        "/events.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/events.js"),
    ),
    (
        "/chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/chart.js"),
    ),
    (
        "/federation.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/federation.js"),
    ),
    (
        "/view.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/view.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../console/style.css"),
    ),
];

/// The console's routes, to be merged at the root of the HTTP port.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    FILES
        .into_iter()
        .fold(Router::new(), |router, (path, content_type, body)| {
            router.route(path, get(move || async move { file(content_type, body) }))
        })
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_modules_and_no_inline_script() {
        let html = FILES[0].2;
        assert!(html.contains(r#"<script type="module" src="/app.js"></script>"#));
        // Every <script> has a src: nothing inline for the policy to refuse.
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script type=\"module\" src=").count()
        );
        assert!(!html.contains("style="), "no inline style either");
        for (path, _, body) in FILES.iter().skip(1) {
            assert!(!body.is_empty(), "{path}");
        }
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self'"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }
}
