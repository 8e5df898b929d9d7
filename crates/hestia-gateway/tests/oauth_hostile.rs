//! Hostile and malformed input to the authorization server and to `/cui/v1` with its tokens,
//! each with the exact answer expected: RFC 6749 §4.1.2.1 redirects or error pages, §5.2 token
//! errors, and the CUI's `unauthorized` / `forbidden`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod oauth_common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hestia_testkit::PASSWORD;
use oauth_common::*;
use serde_json::json;

fn with(params: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = params.iter().filter(|(k, _)| k != key).cloned().collect();
    if !value.is_empty() {
        p.push((key.to_owned(), value.to_owned()));
    }
    p
}

fn uri_of(params: &[(String, String)]) -> String {
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    format!("/oauth/authorize?{}", query(&pairs))
}

#[tokio::test]
async fn authorization_requests_that_cannot_redirect_get_an_error_page() {
    let home = Home::start().await;
    let good = home.authorize_params("devices:read");
    for (key, value, why) in [
        ("client_id", "nobody", "unknown client"),
        ("client_id", "", "no client"),
        (
            "redirect_uri",
            "https://evil.example/cb",
            "redirect_uri mismatch",
        ),
        (
            "redirect_uri",
            "https://home-a.example/oauth/callback/",
            "not an exact match",
        ),
    ] {
        let answer = home.get(&uri_of(&with(&good, key, value)), None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{why}");
        assert!(
            answer.headers.get(header::LOCATION).is_none(),
            "{why}: never redirected"
        );
        assert!(
            answer.text.contains("role=\"alert\""),
            "{why}: {}",
            answer.text
        );
        // The consent POST is checked the same way.
        let posted = home
            .consent(&with(&good, key, value), "alice", PASSWORD, "allow")
            .await;
        assert_eq!(posted.status, StatusCode::BAD_REQUEST, "{why} (POST)");
        assert!(posted.headers.get(header::LOCATION).is_none());
    }
    home.stop().await;
}

#[tokio::test]
async fn authorization_errors_are_redirected_with_the_state() {
    let home = Home::start().await;
    let good = home.authorize_params("devices:read");
    for (key, value, error) in [
        ("code_challenge_method", "plain", "invalid_request"),
        ("code_challenge_method", "", "invalid_request"),
        ("code_challenge", "", "invalid_request"),
        ("code_challenge", "short", "invalid_request"),
        ("response_type", "token", "unsupported_response_type"),
        ("scope", "admin", "invalid_scope"),
    ] {
        let answer = home.get(&uri_of(&with(&good, key, value)), None).await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{key}={value}: {}",
            answer.text
        );
        assert!(answer.location().starts_with(REDIRECT), "{key}={value}");
        assert_eq!(
            answer.redirect_param("error").as_deref(),
            Some(error),
            "{key}={value}"
        );
        assert_eq!(answer.redirect_param("state").as_deref(), Some("xyz-123"));
        assert_eq!(answer.redirect_param("iss").as_deref(), Some(ISSUER));
        assert_eq!(answer.redirect_param("code"), None);
    }
    home.stop().await;
}

#[tokio::test]
async fn code_redemption_checks_pkce_client_and_redirect_uri() {
    let home = Home::start().await;
    let redeem = |code: String, verifier: &'static str, redirect: &'static str| {
        let home = &home;
        async move { home.redeem(&code, verifier, redirect).await }
    };
    let wrong_verifier = redeem(
        home.code_for("alice", "devices:read").await,
        "another-verifier-of-at-least-43-characters-000",
        REDIRECT,
    )
    .await;
    assert_oauth_error(&wrong_verifier, StatusCode::BAD_REQUEST, "invalid_grant");
    // The plain method's "verifier = challenge" is refused too.
    let challenge: &'static str = Box::leak(challenge(VERIFIER).into_boxed_str());
    let as_plain = redeem(
        home.code_for("alice", "devices:read").await,
        challenge,
        REDIRECT,
    )
    .await;
    assert_oauth_error(&as_plain, StatusCode::BAD_REQUEST, "invalid_grant");
    let other_redirect = redeem(
        home.code_for("alice", "devices:read").await,
        VERIFIER,
        "https://home-a.example/other",
    )
    .await;
    assert_oauth_error(&other_redirect, StatusCode::BAD_REQUEST, "invalid_grant");
    let code = home.code_for("alice", "devices:read").await;
    home.clock.advance(61);
    assert_oauth_error(
        &redeem(code, VERIFIER, REDIRECT).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_oauth_error(
        &redeem("made-up".into(), VERIFIER, REDIRECT).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    // A code spent by a failed attempt is not redeemable afterwards either.
    let code = home.code_for("alice", "devices:read").await;
    let _ = redeem(
        code.clone(),
        "another-verifier-of-at-least-43-characters-000",
        REDIRECT,
    )
    .await;
    assert_oauth_error(
        &redeem(code, VERIFIER, REDIRECT).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    home.stop().await;
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let home = Home::start().await;
    let grant = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    let cases = [
        ("bad secret (basic)", ClientAuth::Basic("home-a", "wrong")),
        ("bad secret (post)", ClientAuth::Post("home-a", "wrong")),
        ("unknown client", ClientAuth::Basic("nobody", "wrong")),
        ("no authentication", ClientAuth::None),
    ];
    for (why, auth) in cases {
        let answer = home.post_form("/oauth/token", &grant, auth).await;
        assert_oauth_error(&answer, StatusCode::UNAUTHORIZED, "invalid_client");
        assert_eq!(
            answer.headers.get(header::WWW_AUTHENTICATE).unwrap(),
            "Basic realm=\"hestia\"",
            "{why}"
        );
    }
    // Two methods at once is a malformed request.
    let mut both = grant.to_vec();
    both.push(("client_secret", &home.secret));
    let answer = home.post_form("/oauth/token", &both, home.basic()).await;
    assert_oauth_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    home.stop().await;
}

#[tokio::test]
async fn malformed_token_requests_are_refused_exactly() {
    let home = Home::start().await;
    assert_oauth_error(
        &home.token(&[]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_oauth_error(
        &home.token(&[("grant_type", "password")]).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
    assert_oauth_error(
        &home.token(&[("grant_type", "authorization_code")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let raw = |body: &'static str, content_type: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri("/oauth/token")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let repeated = home
        .send(raw(
            "grant_type=refresh_token&grant_type=password",
            "application/x-www-form-urlencoded",
        ))
        .await;
    assert_oauth_error(&repeated, StatusCode::BAD_REQUEST, "invalid_request");
    let json_body = home
        .send(raw(
            "{\"grant_type\":\"refresh_token\"}",
            "application/json",
        ))
        .await;
    assert_oauth_error(&json_body, StatusCode::BAD_REQUEST, "invalid_request");
    let not_utf8 = home
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(vec![0xff, 0xfe, b'=', 0x80]))
                .unwrap(),
        )
        .await;
    assert!(not_utf8.status.is_client_error(), "{}", not_utf8.text);
    let huge = "a=".to_owned() + &"x".repeat(hestia_gateway::oauth::MAX_FORM_BYTES + 1);
    let oversize = home
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(huge))
                .unwrap(),
        )
        .await;
    assert_oauth_error(&oversize, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    home.stop().await;
}

/// `token` with its claims replaced by `edit(claims)`, the signature kept.
fn tampered(token: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut c = claims(token);
    edit(&mut c);
    parts[1] = B64.encode(c.to_string());
    parts.join(".")
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_unauthorized_on_the_cui() {
    let home = Home::start().await;
    let (access, _) = home.tokens_for("alice", "devices:read devices:write").await;
    let kid = header_of(&access)["kid"].as_str().unwrap().to_owned();
    let mut cases = vec![
        (
            "tampered claims",
            tampered(&access, |c| {
                c["scope"] = json!("devices:read devices:write events")
            }),
        ),
        ("tampered signature", {
            let (input, sig) = access.rsplit_once('.').unwrap();
            let mut bytes = B64.decode(sig).unwrap();
            bytes[0] ^= 1;
            format!("{input}.{}", B64.encode(bytes))
        }),
        (
            "other issuer, signature kept",
            tampered(&access, |c| c["iss"] = json!("https://evil.example")),
        ),
        ("unknown kid", {
            let header =
                B64.encode(json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": "nope" }).to_string());
            let rest = access.split_once('.').unwrap().1;
            format!("{header}.{rest}")
        }),
    ];
    let payload = access.split('.').nth(1).unwrap();
    for alg in ["none", "HS256"] {
        let header = B64.encode(json!({ "alg": alg, "typ": "at+jwt", "kid": kid }).to_string());
        cases.push(("alg none / HS256", format!("{header}.{payload}.")));
    }
    let plain_jwt = B64.encode(json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid }).to_string());
    cases.push((
        "typ JWT",
        format!("{plain_jwt}.{}", access.split_once('.').unwrap().1),
    ));
    for (why, token) in &cases {
        let answer = home.get("/cui/v1/users/alice/devices", Some(token)).await;
        assert_cui_error(&answer, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(
            answer.headers.get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer",
            "{why}"
        );
    }
    assert_eq!(
        home.get("/cui/v1/users/alice/devices", Some(&access))
            .await
            .status,
        StatusCode::OK
    );
    home.clock.advance(600);
    let expired = home.get("/cui/v1/users/alice/devices", Some(&access)).await;
    assert_cui_error(&expired, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        expired.json["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    home.stop().await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_unauthorized() {
    let home = Home::start_with(|s| s.audience = "https://elsewhere.example/cui/v1".into()).await;
    let (access, _) = home.tokens_for("alice", "devices:read").await;
    assert_eq!(claims(&access)["aud"], "https://elsewhere.example/cui/v1");
    // This router's gateway accepts only its own audience; prove it with a second gateway over
    // the same store, issuer and keys, whose audience is AUDIENCE.
    let mut settings = home.gateway.oauth().settings().clone();
    settings.audience = AUDIENCE.into();
    let second = hestia_gateway::HesGateway::with_settings(
        home.t.server.irsp.clone(),
        hestia_gateway::auth::Tokens::default(),
        settings,
    )
    .unwrap();
    let refused = second.principal(&access).await.expect_err("other audience");
    assert_eq!(refused.code, hestia_gateway::model::ErrorCode::Unauthorized);
    assert!(refused.message.contains("audience"), "{}", refused.message);
    home.stop().await;
}

#[tokio::test]
async fn a_read_scope_cannot_write_and_console_tokens_keep_full_access() {
    let home = Home::start().await;
    let (read_only, _) = home.tokens_for("alice", "devices:read").await;
    let get = home
        .get("/cui/v1/users/alice/devices", Some(&read_only))
        .await;
    assert_eq!(get.status, StatusCode::OK, "{}", get.text);
    let put = home.put_property(&read_only, json!(true)).await;
    assert_cui_error(&put, StatusCode::FORBIDDEN, "forbidden");
    assert!(
        put.json["message"]
            .as_str()
            .unwrap()
            .contains("devices:write")
    );
    let (write_only, _) = home.tokens_for("alice", "devices:write").await;
    let list = home
        .get("/cui/v1/users/alice/devices", Some(&write_only))
        .await;
    assert_cui_error(&list, StatusCode::FORBIDDEN, "forbidden");
    // Event streams and subscriptions need `events`; sharing is for the person alone.
    for uri in [
        "/cui/v1/users/alice/events",
        "/cui/v1/users/alice/subscriptions",
        "/cui/v1/users/alice/devices/igrs:lamp/shares",
    ] {
        let refused = home.get(uri, Some(&read_only)).await;
        assert_cui_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    }
    let (everything, _) = home
        .tokens_for("alice", "devices:read devices:write events")
        .await;
    let subscriptions = home
        .get("/cui/v1/users/alice/subscriptions", Some(&everything))
        .await;
    assert_eq!(
        subscriptions.status,
        StatusCode::OK,
        "{}",
        subscriptions.text
    );
    let shares = home
        .get(
            "/cui/v1/users/alice/devices/igrs:lamp/shares",
            Some(&everything),
        )
        .await;
    assert_cui_error(&shares, StatusCode::FORBIDDEN, "forbidden");
    // A console sign-in token is not scoped: its PUT reaches the cluster (the lamp is offline).
    let signed_in = home
        .gateway
        .sign_in("alice", PASSWORD)
        .await
        .expect("sign in")
        .token;
    let console = home.put_property(&signed_in, json!(true)).await;
    assert_ne!(console.status, StatusCode::FORBIDDEN, "{}", console.text);
    assert_ne!(console.status, StatusCode::UNAUTHORIZED, "{}", console.text);
    home.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_is_rate_limited_per_client() {
    let home = Home::start_with(|s| s.token_requests_per_minute = 3).await;
    for _ in 0..3 {
        let a = home
            .token(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .await;
        assert_oauth_error(&a, StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let limited = home
        .token(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert!(limited.headers.get(header::RETRY_AFTER).is_some());
    home.stop().await;
}
