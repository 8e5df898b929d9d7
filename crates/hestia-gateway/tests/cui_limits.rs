//! The HTTP API's limits with small configured values: requests per token and per source
//! address (429 `rate_limited` with `Retry-After`), and event streams per user.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use common::{Home, assert_error};
use hestia_gateway::limits::CuiConfig;
use tower::ServiceExt;

/// A GET of alice's devices from `peer` (as the server's `ConnectInfo` gives it) with `token`:
/// the status, the `Retry-After` seconds, the body.
async fn devices_from(
    home: &Home,
    peer: &str,
    token: &str,
) -> (StatusCode, Option<u64>, serde_json::Value) {
    let mut req = Request::builder()
        .uri("/users/alice/devices")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let peer: SocketAddr = peer.parse().expect("address");
    req.extensions_mut().insert(ConnectInfo(peer));
    let response = home.app.clone().oneshot(req).await.expect("infallible");
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or_default();
    (status, retry_after, json)
}

/// One request a second per address with `burst` at once, loopback not exempt.
fn by_address(burst: u32) -> CuiConfig {
    CuiConfig {
        address_requests_per_second: 1,
        address_burst: burst,
        loopback_exempt: false,
        ..CuiConfig::default()
    }
}

fn limited(answer: (StatusCode, Option<u64>, serde_json::Value)) {
    let (status, retry_after, body) = answer;
    let seconds = retry_after.expect("Retry-After");
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    assert_eq!(
        body["message"],
        "too many requests; retry after the Retry-After seconds"
    );
    assert_error(
        (status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
}

#[tokio::test]
async fn a_token_past_its_burst_is_refused_and_other_tokens_are_not() {
    let home = Home::start_with(CuiConfig {
        token_requests_per_second: 1,
        token_burst: 2,
        ..CuiConfig::default()
    })
    .await;
    let alice = home.sign_in("alice").await;
    let other = home.sign_in("alice").await;
    for _ in 0..2 {
        let (status, _, body) = devices_from(&home, "127.0.0.1:5000", &alice).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    limited(devices_from(&home, "127.0.0.1:5000", &alice).await);
    limited(devices_from(&home, "198.51.100.9:5000", &alice).await);
    let (status, _, body) = devices_from(&home, "127.0.0.1:5000", &other).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another token is unaffected: {body}"
    );
    home.stop().await;
}

#[tokio::test]
async fn an_address_past_its_burst_is_refused_and_other_addresses_are_not() {
    let home = Home::start_with(by_address(2)).await;
    let alice = home.sign_in("alice").await;
    for _ in 0..2 {
        let (status, _, body) = devices_from(&home, "203.0.113.7:4000", &alice).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    limited(devices_from(&home, "203.0.113.7:4001", &alice).await);
    let (status, _, body) = devices_from(&home, "198.51.100.9:4000", &alice).await;
    assert_eq!(status, StatusCode::OK, "another address: {body}");
    home.stop().await;
}

#[tokio::test]
async fn loopback_is_exempt_from_the_address_limit_by_default() {
    let home = Home::start_with(CuiConfig {
        address_requests_per_second: 1,
        address_burst: 1,
        ..CuiConfig::default()
    })
    .await;
    let alice = home.sign_in("alice").await;
    for _ in 0..5 {
        let (status, _, body) = devices_from(&home, "127.0.0.1:4000", &alice).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    home.stop().await;
}

#[tokio::test]
async fn event_streams_past_the_users_limit_are_refused_until_one_closes() {
    let home = Home::start_with(CuiConfig {
        max_streams_per_user: 1,
        ..CuiConfig::default()
    })
    .await;
    let alice = home.sign_in("alice").await;
    let open = |token: String| {
        let app = home.app.clone();
        async move {
            let req = Request::builder()
                .method(Method::GET)
                .uri("/users/alice/events")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .expect("request");
            app.oneshot(req).await.expect("infallible")
        }
    };
    let first = open(alice.clone()).await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = open(alice.clone()).await;
    let status = second.status();
    let bytes = axum::body::to_bytes(second.into_body(), 1 << 16)
        .await
        .expect("body");
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(
        body["message"],
        "at most 1 event streams may be open at once"
    );
    assert_error(
        (status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    drop(first);
    let third = open(alice).await;
    assert_eq!(
        third.status(),
        StatusCode::OK,
        "a closed stream frees its slot"
    );
    home.stop().await;
}

#[tokio::test]
async fn a_webhook_to_a_private_or_metadata_address_is_refused_at_subscribe() {
    let home = Home::start().await;
    let alice = home.sign_in("alice").await;
    for (url, message) in [
        (
            "https://169.254.169.254/latest/meta-data/",
            "callback.url may not reach a private or link-local address",
        ),
        (
            "https://192.168.1.20/hook",
            "callback.url may not reach a private or link-local address",
        ),
        (
            "http://peer.example/hook",
            "callback.url must be https (http only to a loopback address)",
        ),
    ] {
        let body = serde_json::json!({
            "deviceId": "igrs:lamp",
            "event": "property",
            "callback": { "url": url, "secret": "0123456789abcdef" },
        })
        .to_string();
        let answer = home
            .call(
                Method::POST,
                "/users/alice/subscriptions",
                Some(&alice),
                Some(&body),
            )
            .await;
        assert_eq!(answer.1["message"], message, "{url}");
        assert_error(answer, StatusCode::BAD_REQUEST, "bad_request");
    }
    home.stop().await;
}

#[tokio::test]
async fn the_oauth_endpoints_share_the_address_limit_in_oauths_own_shape() {
    let home = Home::start_with(by_address(1)).await;
    let oauth: axum::Router = hestia_gateway::oauth::router(home.gateway.clone());
    let token_request = || {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("grant_type=refresh_token&refresh_token=x"))
            .expect("request");
        let peer: SocketAddr = "203.0.113.7:4000".parse().expect("address");
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    };
    let first = oauth
        .clone()
        .oneshot(token_request())
        .await
        .expect("infallible");
    assert_ne!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let second = oauth.oneshot(token_request()).await.expect("infallible");
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = second
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&seconds), "{seconds}");
    let bytes = axum::body::to_bytes(second.into_body(), 1 << 16)
        .await
        .expect("body");
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(body["error"], "invalid_request", "{body}");
    home.stop().await;
}
