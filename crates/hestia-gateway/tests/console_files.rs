//! The web console's files as the HTTP port serves them: each with its content type and the
//! strict Content-Security-Policy, and the page naming only modules that are served.

#![allow(clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

async fn get(path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let app: axum::Router = hestia_gateway::console::router();
    let req = Request::get(path).body(Body::empty()).expect("request");
    let response = app.oneshot(req).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
    (
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec()).expect("utf-8"),
    )
}

#[tokio::test]
async fn every_console_file_is_served_under_the_policy() {
    let (status, headers, html) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let mut modules = vec!["/app.js".to_owned(), "/style.css".to_owned()];
    // Every module the others import is served too.
    let mut seen = Vec::new();
    while let Some(path) = modules.pop() {
        if seen.contains(&path) {
            continue;
        }
        let (status, headers, body) = get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            hestia_gateway::console::CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let want = if path.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with(want)
        );
        for import in body.split("from \"./").skip(1) {
            let name = import.split('"').next().expect("a quoted path");
            modules.push(format!("/{name}"));
        }
        seen.push(path);
    }
    assert!(
        seen.len() >= 6,
        "app, api, view, events, chart, style: {seen:?}"
    );
    assert!(html.contains("<main"), "semantic landmarks");
    assert!(html.contains(r#"aria-live="polite""#), "a live region");
    let (status, _, _) = get("/nothing.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
