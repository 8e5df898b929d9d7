//! The gateway's authorization server in process (ISO/IEC 10192-4-3 §8 C2C authorization): each
//! grant end to end — consent page, code, tokens, the JWT used on `/cui/v1` — and refresh
//! rotation, device polling, token exchange, introspection, revocation and key rotation.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod oauth_common;

use axum::http::{StatusCode, header};
use hestia_testkit::PASSWORD;
use oauth_common::*;
use serde_json::json;

#[tokio::test]
async fn metadata_and_jwks_describe_the_server() {
    let home = Home::start().await;
    let meta = home
        .get("/.well-known/oauth-authorization-server", None)
        .await;
    assert_eq!(meta.status, StatusCode::OK);
    assert_eq!(meta.json["issuer"], ISSUER);
    assert_eq!(meta.json["token_endpoint"], format!("{ISSUER}/oauth/token"));
    assert_eq!(
        meta.json["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(meta.json["jwks_uri"], format!("{ISSUER}/oauth/jwks.json"));
    let jwks = home.get("/oauth/jwks.json", None).await;
    let keys = jwks.json["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{}", jwks.text);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert!(keys[0].get("d").is_none(), "no private part is published");
    home.stop().await;
}

#[tokio::test]
async fn authorization_code_with_pkce_links_and_the_jwt_lists_devices() {
    let home = Home::start().await;
    // The consent screen names the client and the scopes in words, with labelled fields.
    let params = home.authorize_params("devices:read devices:write");
    let page = home
        .get(
            &format!(
                "/oauth/authorize?{}",
                query(
                    &params
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect::<Vec<_>>()
                )
            ),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.text
            .contains("<h1>Link Home A to your Hestia account</h1>"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("see your devices and read their properties")
    );
    assert!(
        page.text
            .contains("<label for=\"password\">Password</label>")
    );
    assert!(
        !page.text.contains("be told about your devices' events"),
        "only the scopes asked"
    );
    assert_eq!(page.headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    // A wrong password re-renders the page with an alert and issues nothing.
    let wrong = home
        .consent(&params, "alice", "not-the-password", "allow")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("role=\"alert\""), "{}", wrong.text);
    let code = home.code_for("alice", "devices:read devices:write").await;
    let token = home.redeem(&code, VERIFIER, REDIRECT).await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    assert_eq!(
        token.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
    assert_eq!(token.json["token_type"], "Bearer");
    assert_eq!(token.json["expires_in"], 600);
    assert_eq!(token.json["scope"], "devices:read devices:write");
    let access = token.json["access_token"].as_str().unwrap();
    let head = header_of(access);
    assert_eq!(
        (head["typ"].as_str(), head["alg"].as_str()),
        (Some("at+jwt"), Some("EdDSA"))
    );
    let c = claims(access);
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], AUDIENCE);
    assert_eq!(c["client_id"], "home-a");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 43));
    let devices = home.get("/cui/v1/users/alice/devices", Some(access)).await;
    assert_eq!(devices.status, StatusCode::OK, "{}", devices.text);
    assert_eq!(devices.json["devices"][0]["id"], "igrs:lamp");
    // The token acts only for alice.
    let other = home.get("/cui/v1/users/bob/devices", Some(access)).await;
    assert_cui_error(&other, StatusCode::FORBIDDEN, "forbidden");
    home.stop().await;
}

#[tokio::test]
async fn a_denied_consent_redirects_access_denied_with_the_state() {
    let home = Home::start().await;
    let params = home.authorize_params("devices:read");
    let answer = home.consent(&params, "", "", "deny").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(answer.location().starts_with(REDIRECT));
    assert_eq!(
        answer.redirect_param("error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(answer.redirect_param("state").as_deref(), Some("xyz-123"));
    assert_eq!(answer.redirect_param("code"), None);
    home.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_a_replayed_refresh_token_revokes_the_family() {
    let home = Home::start().await;
    let (access, refresh) = home.tokens_for("alice", "devices:read devices:write").await;
    let first = home
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let (access2, refresh2) = (
        first.json["access_token"].as_str().unwrap().to_owned(),
        first.json["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_ne!(refresh2, refresh, "rotated");
    // A refresh may narrow the scope, never widen it.
    let narrowed = home
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh2),
            ("scope", "devices:read"),
        ])
        .await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.text);
    assert_eq!(narrowed.json["scope"], "devices:read");
    let refresh3 = narrowed.json["refresh_token"].as_str().unwrap().to_owned();
    let wider = home
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh3),
            ("scope", "devices:read events"),
        ])
        .await;
    assert_oauth_error(&wider, StatusCode::BAD_REQUEST, "invalid_scope");
    assert_eq!(
        home.get("/cui/v1/users/alice/devices", Some(&access2))
            .await
            .status,
        StatusCode::OK
    );
    // The first refresh token again: a replay. The whole family goes.
    let replay = home
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_oauth_error(&replay, StatusCode::BAD_REQUEST, "invalid_grant");
    for token in [&access, &access2] {
        let refused = home.get("/cui/v1/users/alice/devices", Some(token)).await;
        assert_cui_error(&refused, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let latest = home
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh3),
        ])
        .await;
    assert_oauth_error(&latest, StatusCode::BAD_REQUEST, "invalid_grant");
    home.stop().await;
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_its_tokens() {
    let home = Home::start().await;
    let code = home.code_for("alice", "devices:read").await;
    let first = home.redeem(&code, VERIFIER, REDIRECT).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let access = first.json["access_token"].as_str().unwrap().to_owned();
    let refresh = first.json["refresh_token"].as_str().unwrap().to_owned();
    let again = home.redeem(&code, VERIFIER, REDIRECT).await;
    assert_oauth_error(&again, StatusCode::BAD_REQUEST, "invalid_grant");
    let refused = home.get("/cui/v1/users/alice/devices", Some(&access)).await;
    assert_cui_error(&refused, StatusCode::UNAUTHORIZED, "unauthorized");
    let refreshed = home
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_oauth_error(&refreshed, StatusCode::BAD_REQUEST, "invalid_grant");
    home.stop().await;
}

#[tokio::test]
async fn device_grant_polling_answers_each_state() {
    let home = Home::start().await;
    let start = home
        .post_form(
            "/oauth/device_authorization",
            &[("scope", "devices:read")],
            home.basic(),
        )
        .await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.text);
    let device_code = start.json["device_code"].as_str().unwrap().to_owned();
    let user_code = start.json["user_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");
    assert!(
        user_code
            .chars()
            .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c))
    );
    assert_eq!(
        start.json["verification_uri"],
        format!("{ISSUER}/oauth/device")
    );
    assert_eq!(
        start.json["verification_uri_complete"],
        format!("{ISSUER}/oauth/device?user_code={user_code}")
    );
    assert_eq!(
        (
            start.json["interval"].as_i64(),
            start.json["expires_in"].as_i64()
        ),
        (Some(5), Some(600))
    );
    let poll = || home.poll_device(&device_code);
    assert_oauth_error(
        &poll().await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
    );
    // Again at once: too fast.
    assert_oauth_error(&poll().await, StatusCode::BAD_REQUEST, "slow_down");
    // The interval grew to 10 s: 5 s later is still too soon.
    home.clock.advance(5);
    assert_oauth_error(&poll().await, StatusCode::BAD_REQUEST, "slow_down");
    home.clock.advance(15);
    assert_oauth_error(
        &poll().await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
    );
    // The user's page: the code form, then the consent screen for the code (typed loosely).
    let form = home.get("/oauth/device", None).await;
    assert!(
        form.text.contains("<label for=\"user_code\">"),
        "{}",
        form.text
    );
    let typed = user_code.to_lowercase().replace('-', " ");
    let page = home
        .get(
            &format!("/oauth/device?{}", query(&[("user_code", &typed)])),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Link Home A"));
    let approve = home
        .post_form(
            "/oauth/device",
            &[
                ("user_code", &user_code),
                ("username", "alice"),
                ("password", PASSWORD),
                ("decision", "allow"),
            ],
            ClientAuth::None,
        )
        .await;
    assert_eq!(approve.status, StatusCode::OK, "{}", approve.text);
    home.clock.advance(20);
    let tokens = poll().await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    assert_eq!(tokens.json["scope"], "devices:read");
    let access = tokens.json["access_token"].as_str().unwrap();
    assert_eq!(
        home.get("/cui/v1/users/alice/devices", Some(access))
            .await
            .status,
        StatusCode::OK
    );
    home.clock.advance(20);
    assert_oauth_error(&poll().await, StatusCode::BAD_REQUEST, "invalid_grant");
    home.stop().await;
}

#[tokio::test]
async fn device_grant_denied_and_expired() {
    let home = Home::start().await;
    let start = || home.post_form("/oauth/device_authorization", &[], home.basic());
    let denied = start().await;
    let expired = start().await;
    let code_of = |a: &Answer, k: &str| a.json[k].as_str().unwrap().to_owned();
    let deny = home
        .post_form(
            "/oauth/device",
            &[
                ("user_code", &code_of(&denied, "user_code")),
                ("decision", "deny"),
            ],
            ClientAuth::None,
        )
        .await;
    assert_eq!(deny.status, StatusCode::OK, "{}", deny.text);
    let denied_poll = home.poll_device(&code_of(&denied, "device_code")).await;
    assert_oauth_error(&denied_poll, StatusCode::BAD_REQUEST, "access_denied");
    home.clock.advance(601);
    let expired_poll = home.poll_device(&code_of(&expired, "device_code")).await;
    assert_oauth_error(&expired_poll, StatusCode::BAD_REQUEST, "expired_token");
    let late = home
        .get(
            &format!("/oauth/device?user_code={}", code_of(&expired, "user_code")),
            None,
        )
        .await;
    assert_eq!(
        late.status,
        StatusCode::NOT_FOUND,
        "an expired code cannot be approved"
    );
    home.stop().await;
}

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

#[tokio::test]
async fn token_exchange_narrows_or_retargets_and_refuses_escalation() {
    let home = Home::start().await;
    let (access, _) = home.tokens_for("alice", "devices:read devices:write").await;
    let narrower = home
        .token(&[
            ("grant_type", EXCHANGE),
            ("subject_token", &access),
            ("subject_token_type", ACCESS_TYPE),
            ("scope", "devices:read"),
        ])
        .await;
    assert_eq!(narrower.status, StatusCode::OK, "{}", narrower.text);
    assert_eq!(narrower.json["issued_token_type"], ACCESS_TYPE);
    assert_eq!(narrower.json["scope"], "devices:read");
    assert!(narrower.json.get("refresh_token").is_none());
    let narrow = narrower.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&narrow)["sub"], "alice");
    assert_eq!(
        home.get("/cui/v1/users/alice/devices", Some(&narrow))
            .await
            .status,
        StatusCode::OK
    );
    let write = home.put_property(&narrow, json!(true)).await;
    assert_cui_error(&write, StatusCode::FORBIDDEN, "forbidden");
    // Escalation: the narrow token cannot be exchanged back up.
    let up = home
        .token(&[
            ("grant_type", EXCHANGE),
            ("subject_token", &narrow),
            ("subject_token_type", ACCESS_TYPE),
            ("scope", "devices:read devices:write"),
        ])
        .await;
    assert_oauth_error(&up, StatusCode::BAD_REQUEST, "invalid_scope");
    // Another audience the client is registered for; it is not accepted here.
    let other = home
        .token(&[
            ("grant_type", EXCHANGE),
            ("subject_token", &access),
            ("subject_token_type", ACCESS_TYPE),
            ("audience", "https://home-c.example/cui/v1"),
        ])
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    let for_c = other.json["access_token"].as_str().unwrap();
    assert_eq!(claims(for_c)["aud"], "https://home-c.example/cui/v1");
    let wrong_audience = home.get("/cui/v1/users/alice/devices", Some(for_c)).await;
    assert_cui_error(&wrong_audience, StatusCode::UNAUTHORIZED, "unauthorized");
    let not_allowed = home
        .token(&[
            ("grant_type", EXCHANGE),
            ("subject_token", &access),
            ("subject_token_type", ACCESS_TYPE),
            ("audience", "https://evil.example"),
        ])
        .await;
    assert_oauth_error(&not_allowed, StatusCode::BAD_REQUEST, "invalid_target");
    let bad_type = home
        .token(&[
            ("grant_type", EXCHANGE),
            ("subject_token", &access),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
        ])
        .await;
    assert_oauth_error(&bad_type, StatusCode::BAD_REQUEST, "invalid_request");
    let garbage = home
        .token(&[
            ("grant_type", EXCHANGE),
            ("subject_token", "a.b.c"),
            ("subject_token_type", ACCESS_TYPE),
        ])
        .await;
    assert_oauth_error(&garbage, StatusCode::BAD_REQUEST, "invalid_grant");
    home.stop().await;
}

#[tokio::test]
async fn introspection_tells_active_from_inactive() {
    let home = Home::start().await;
    let (access, refresh) = home.tokens_for("alice", "devices:read").await;
    let active = home
        .post_form("/oauth/introspect", &[("token", &access)], home.basic())
        .await;
    assert_eq!(active.status, StatusCode::OK, "{}", active.text);
    assert_eq!(active.json["active"], true);
    assert_eq!(active.json["sub"], "alice");
    assert_eq!(active.json["client_id"], "home-a");
    assert_eq!(active.json["scope"], "devices:read");
    assert_eq!(active.json["aud"], AUDIENCE);
    let by_post = home
        .post_form(
            "/oauth/introspect",
            &[("token", &refresh), ("token_type_hint", "refresh_token")],
            ClientAuth::Post(&home.client_id, &home.secret),
        )
        .await;
    assert_eq!(by_post.json["active"], true, "{}", by_post.text);
    assert_eq!(by_post.json["token_type"], "refresh_token");
    for token in ["nonsense", "a.b.c"] {
        let inactive = home
            .post_form("/oauth/introspect", &[("token", token)], home.basic())
            .await;
        assert_eq!(inactive.json, json!({ "active": false }), "{token}");
    }
    home.clock.advance(601);
    let expired = home
        .post_form("/oauth/introspect", &[("token", &access)], home.basic())
        .await;
    assert_eq!(expired.json, json!({ "active": false }));
    let unauthenticated = home
        .post_form("/oauth/introspect", &[("token", &access)], ClientAuth::None)
        .await;
    assert_oauth_error(&unauthenticated, StatusCode::UNAUTHORIZED, "invalid_client");
    home.stop().await;
}

#[tokio::test]
async fn revocation_refuses_tokens_on_the_cui_at_once() {
    let home = Home::start().await;
    let (access, refresh) = home.tokens_for("alice", "devices:read").await;
    assert_eq!(
        home.get("/cui/v1/users/alice/devices", Some(&access))
            .await
            .status,
        StatusCode::OK,
        "seen and cached"
    );
    let revoked = home
        .post_form(
            "/oauth/revoke",
            &[("token", &access), ("token_type_hint", "access_token")],
            home.basic(),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    let refused = home.get("/cui/v1/users/alice/devices", Some(&access)).await;
    assert_cui_error(&refused, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    // The refresh token still works (only that access token was revoked) ...
    let next = home
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    let (access2, refresh2) = (
        next.json["access_token"].as_str().unwrap().to_owned(),
        next.json["refresh_token"].as_str().unwrap().to_owned(),
    );
    // ... until it is revoked: unlinking takes the whole grant.
    let unlink = home
        .post_form("/oauth/revoke", &[("token", &refresh2)], home.basic())
        .await;
    assert_eq!(unlink.status, StatusCode::OK);
    assert_cui_error(
        &home
            .get("/cui/v1/users/alice/devices", Some(&access2))
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let after = home
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh2),
        ])
        .await;
    assert_oauth_error(&after, StatusCode::BAD_REQUEST, "invalid_grant");
    // An unknown token is fine to revoke (RFC 7009 §2.2).
    assert_eq!(
        home.post_form("/oauth/revoke", &[("token", "whatever")], home.basic())
            .await
            .status,
        StatusCode::OK
    );
    home.stop().await;
}

#[tokio::test]
async fn deleting_the_client_unlinks_every_federation() {
    let home = Home::start().await;
    let (access, _) = home.tokens_for("alice", "devices:read").await;
    assert_eq!(
        home.get("/cui/v1/users/alice/devices", Some(&access))
            .await
            .status,
        StatusCode::OK
    );
    home.gateway
        .oauth()
        .delete_client("home-a")
        .await
        .expect("delete");
    assert_cui_error(
        &home.get("/cui/v1/users/alice/devices", Some(&access)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    home.stop().await;
}

#[tokio::test]
async fn rotated_keys_stay_published_until_their_tokens_expire() {
    let home = Home::start().await;
    let (old_token, _) = home.tokens_for("alice", "devices:read").await;
    let old_kid = header_of(&old_token)["kid"].as_str().unwrap().to_owned();
    let new_kid = home.gateway.oauth().rotate_keys().await.expect("rotate");
    assert_ne!(new_kid, old_kid);
    let (new_token, _) = home.tokens_for("alice", "devices:read").await;
    assert_eq!(
        header_of(&new_token)["kid"],
        new_kid.as_str(),
        "new tokens use the new key"
    );
    let kids = |jwks: &serde_json::Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        kids(&home.get("/oauth/jwks.json", None).await.json),
        [new_kid.clone(), old_kid.clone()]
    );
    // The old key's token, never seen before, still verifies by its signature.
    home.clock.advance(300);
    assert_eq!(
        home.get("/cui/v1/users/alice/devices", Some(&old_token))
            .await
            .status,
        StatusCode::OK
    );
    // Once every token the old key signed has expired, it is no longer published.
    home.clock.advance(300 + 61);
    assert_eq!(
        kids(&home.get("/oauth/jwks.json", None).await.json),
        [new_kid]
    );
    assert_cui_error(
        &home
            .get("/cui/v1/users/alice/devices", Some(&old_token))
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    home.stop().await;
}

#[tokio::test]
async fn the_signing_key_rotates_on_schedule() {
    let home = Home::start_with(|s| s.key_rotation = Some(3600)).await;
    let (first, _) = home.tokens_for("alice", "devices:read").await;
    home.clock.advance(3600);
    let (second, _) = home.tokens_for("alice", "devices:read").await;
    assert_ne!(header_of(&first)["kid"], header_of(&second)["kid"]);
    home.stop().await;
}
