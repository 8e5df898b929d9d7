//! The CUI router in process (ISO/IEC 10192-4-3 §6.2 HES-CLIP over `/cui/v1`), driven with
//! `tower::ServiceExt::oneshot` against a fresh in-process IRSP: alice owns a simulated lamp,
//! a simulated thermostat and a plug that never connects; carol may only view the lamp. Every
//! check names the exact status and stable `code`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{Home, assert_error};
use hestia_testkit::PASSWORD;
use serde_json::json;

#[tokio::test]
async fn sign_in_takes_the_igrs_password_and_records_the_grant() {
    let home = Home::start().await;
    let ok = json!({ "username": "alice", "password": PASSWORD }).to_string();
    let (status, body) = home.call(Method::POST, "/sign-in", None, Some(&ok)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["userId"], "alice");
    assert_eq!(body["expiresIn"], 3600);
    assert!(body["token"].as_str().is_some_and(|t| t.len() >= 43));
    let store = &home.t.server.irsp.store;
    assert!(
        store
            .has_app_grant("gateway", "alice")
            .await
            .expect("grant")
    );

    for (user, password) in [
        ("alice", "wrong"),
        ("nobody", PASSWORD),
        // A device account is no CUI user, even with its right password.
        ("lamp", PASSWORD),
    ] {
        let body = json!({ "username": user, "password": password }).to_string();
        let answer = home.call(Method::POST, "/sign-in", None, Some(&body)).await;
        assert_error(answer, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert!(!store.has_app_grant("gateway", "lamp").await.expect("grant"));
    home.stop().await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_out_of_sign_in() {
    let home = Home::start().await;
    let wrong = json!({ "username": "bob", "password": "guess" }).to_string();
    for _ in 0..hestia_gateway::auth::MAX_FAILURES {
        let answer = home
            .call(Method::POST, "/sign-in", None, Some(&wrong))
            .await;
        assert_error(answer, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // Now even the right password is refused for bob, and only for bob.
    let right = json!({ "username": "bob", "password": PASSWORD }).to_string();
    let (status, body) = home
        .call(Method::POST, "/sign-in", None, Some(&right))
        .await;
    assert_error(
        (status, body.clone()),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("too many")),
        "{body}"
    );
    home.sign_in("alice").await;
    home.stop().await;
}

#[tokio::test]
async fn the_device_list_shows_each_related_device_with_its_properties() {
    let home = Home::start().await;
    let alice = home.sign_in("alice").await;
    let (status, body) = home
        .call(Method::GET, "/users/alice/devices", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let devices = body["devices"].as_array().expect("devices");
    let ids: Vec<&str> = devices.iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids, ["igrs:lamp", "igrs:plug", "igrs:thermostat"]);
    let lamp = &devices[0];
    assert_eq!(lamp["cluster"], "igrs");
    assert_eq!(lamp["type"], "lamp");
    assert_eq!(lamp["name"], "lamp");
    assert_eq!(lamp["online"], true);
    assert_eq!(lamp["right"], "owner");
    let brightness = &lamp["properties"][1];
    assert_eq!(brightness["name"], "brightness");
    assert_eq!(brightness["type"], "integer");
    assert_eq!(brightness["unit"], "%");
    assert_eq!(brightness["access"], "read-write");
    assert_eq!(
        (brightness["min"].clone(), brightness["max"].clone()),
        (json!(0), json!(100))
    );
    assert_eq!(devices[1]["online"], false, "the plug never connected");

    // Carol sees only what she is related to, with her right.
    let carol = home.sign_in("carol").await;
    let (status, body) = home
        .call(Method::GET, "/users/carol/devices", Some(&carol), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["devices"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["devices"][0]["right"], "view");
    home.stop().await;
}

#[tokio::test]
async fn properties_are_read_and_set_with_the_users_own_rights() {
    let home = Home::start().await;
    let alice = home.sign_in("alice").await;
    let (status, body) = home.get(&alice, "alice", "igrs:lamp", "brightness").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "deviceId": "igrs:lamp", "property": "brightness", "value": 80 })
    );
    let (status, body) = home
        .put(&alice, "alice", "igrs:lamp", "on", json!(true))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"], true);
    let (status, body) = home.get(&alice, "alice", "igrs:lamp", "on").await;
    assert_eq!(
        (status, body["value"].clone()),
        (StatusCode::OK, json!(true))
    );

    // Carol may view the lamp, not control it: the router refuses her set as her own.
    let carol = home.sign_in("carol").await;
    let (status, body) = home.get(&carol, "carol", "igrs:lamp", "on").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refused = home
        .put(&carol, "carol", "igrs:lamp", "on", json!(false))
        .await;
    assert_error(refused, StatusCode::FORBIDDEN, "forbidden");
    // A device she has no relationship with does not exist for her.
    let unrelated = home.get(&carol, "carol", "igrs:thermostat", "mode").await;
    assert_error(unrelated, StatusCode::NOT_FOUND, "not_found");
    home.stop().await;
}

#[tokio::test]
async fn igrs_refusals_become_their_cui_codes() {
    let home = Home::start().await;
    let alice = home.sign_in("alice").await;
    let cases = [
        (
            "igrs:thermostat",
            "temperature",
            json!(20),
            StatusCode::METHOD_NOT_ALLOWED,
            "read_only",
        ),
        (
            "igrs:lamp",
            "brightness",
            json!(101),
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
        ),
        (
            "igrs:thermostat",
            "mode",
            json!("turbo"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
        ),
        (
            "igrs:lamp",
            "brightness",
            json!("bright"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "igrs:lamp",
            "brightness",
            json!(null),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "igrs:lamp",
            "colour",
            json!("red"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "igrs:ghost",
            "on",
            json!(true),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "mqtt:lamp",
            "on",
            json!(true),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "lamp",
            "on",
            json!(true),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "igrs:lamp",
            "On",
            json!(true),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "igrs:plug",
            "on",
            json!(true),
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_unreachable",
        ),
    ];
    for (device, property, value, status, code) in cases {
        let answer = home
            .put(&alice, "alice", device, property, value.clone())
            .await;
        eprintln!("{device} {property}={value}");
        assert_error(answer, status, code);
    }
    let offline = home.get(&alice, "alice", "igrs:plug", "power").await;
    assert_error(
        offline,
        StatusCode::SERVICE_UNAVAILABLE,
        "cluster_unreachable",
    );
    home.stop().await;
}

#[tokio::test]
async fn tokens_are_required_and_act_only_for_their_user() {
    let home = Home::start().await;
    let alice = home.sign_in("alice").await;
    let list = "/users/alice/devices";
    assert_error(
        home.call(Method::GET, list, None, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        home.call(Method::GET, list, Some("not-a-token"), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        home.call(Method::GET, "/users/carol/devices", Some(&alice), None)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let other = home
        .put(&alice, "carol", "igrs:lamp", "on", json!(true))
        .await;
    assert_error(other, StatusCode::FORBIDDEN, "forbidden");
    home.stop().await;
}

#[tokio::test]
async fn a_signed_out_token_is_refused_at_once() {
    let home = Home::start().await;
    let alice = home.sign_in("alice").await;
    let other = home.sign_in("alice").await;
    let (status, _) = home
        .call(Method::POST, "/sign-out", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let list = home
        .call(Method::GET, "/users/alice/devices", Some(&alice), None)
        .await;
    assert_error(list, StatusCode::UNAUTHORIZED, "unauthorized");
    let again = home
        .call(Method::POST, "/sign-out", Some(&alice), None)
        .await;
    assert_error(again, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, _) = home
        .call(Method::GET, "/users/alice/devices", Some(&other), None)
        .await;
    assert_eq!(status, StatusCode::OK, "another sign-in of alice stays");
    home.stop().await;
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests_and_oversize_ones_too_large() {
    let home = Home::start().await;
    let alice = home.sign_in("alice").await;
    let property = "/users/alice/devices/igrs:lamp/properties/on";
    let huge = format!(
        "{{\"value\":\"{}\"}}",
        "x".repeat(hestia_gateway::limits::CuiConfig::default().max_body_bytes)
    );
    for (body, message) in [
        (
            "{",
            "Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 1",
        ),
        (
            "[]",
            "Failed to deserialize the JSON body into the target type: invalid length 0, expected struct SetValue with 3 elements at line 1 column 2",
        ),
        (
            "{\"value\":true,\"extra\":1}",
            "Failed to deserialize the JSON body into the target type: extra: unknown field `extra`, expected one of `value`, `queueFor`, `confirmed` at line 1 column 21",
        ),
        (
            "{}",
            "Failed to deserialize the JSON body into the target type: missing field `value` at line 1 column 2",
        ),
    ] {
        let answer = home
            .call(Method::PUT, property, Some(&alice), Some(body))
            .await;
        assert_eq!(answer.1["message"], message, "{body}");
        assert_error(answer, StatusCode::BAD_REQUEST, "bad_request");
    }
    let too_large = home
        .call(Method::PUT, property, Some(&alice), Some(&huge))
        .await;
    assert_eq!(too_large.1["message"], "the request body is too large");
    assert_error(
        too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    for body in ["{\"username\":", "{\"username\":\"alice\"}"] {
        let answer = home.call(Method::POST, "/sign-in", None, Some(body)).await;
        assert_error(answer, StatusCode::BAD_REQUEST, "bad_request");
    }
    // JSON without its content type is refused like malformed JSON.
    let plain = Request::builder()
        .method(Method::PUT)
        .uri(property)
        .header("authorization", format!("Bearer {alice}"))
        .header("content-type", "text/plain")
        .body(Body::from("{\"value\":true}"))
        .expect("request");
    let plain = home.send(plain).await;
    assert_eq!(
        plain.1["message"],
        "Expected request with `Content-Type: application/json`"
    );
    assert_error(plain, StatusCode::BAD_REQUEST, "bad_request");
    assert_error(
        home.call(Method::GET, "/nowhere", Some(&alice), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        home.call(Method::DELETE, property, Some(&alice), None)
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    home.stop().await;
}

#[tokio::test]
async fn reads_reuse_one_kept_igrs_session_until_the_grant_is_withdrawn() {
    let home = Home::start().await;
    let token = home.sign_in("alice").await;
    let irsp = home.t.server.irsp.clone();
    let app = hestia_router::appserver::AppServer::new(irsp.clone(), "gateway").expect("app");
    let alice = hestia_proto::Jid::bare("alice", irsp.domain.domain()).expect("jid");
    let kept = || {
        irsp.directory
            .sessions_of(&alice)
            .iter()
            .filter(|s| {
                s.info
                    .jid
                    .resource()
                    .is_some_and(|r| r.starts_with(&app.resource_prefix()))
            })
            .map(|s| (s.hears_broadcasts(), s.serial))
            .collect::<Vec<_>>()
    };
    let mut serials = Vec::new();
    for _ in 0..5 {
        let (status, body) = home.get(&token, "alice", "igrs:lamp", "on").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serials.extend(kept().into_iter().map(|(_, serial)| serial));
    }
    serials.dedup();
    assert_eq!(
        serials.len(),
        1,
        "one kept session served every read: {serials:?}"
    );
    assert!(!kept()[0].0, "a kept session hears no broadcasts");

    // Withdrawing the grant closes the kept session; the next read checks the grant again.
    app.revoke("alice").await.expect("revoke");
    assert!(kept().is_empty());
    assert_error(
        home.get(&token, "alice", "igrs:lamp", "on").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    home.stop().await;
}

#[tokio::test]
async fn an_update_needing_confirmation_is_refused_until_confirmed() {
    use hestia_client::simulator::{self, Behaviour, Kind};
    let mut home = Home::start().await;
    let plug = home.connect_plug().await;
    home.tasks.spawn(async move {
        let _ = simulator::run(plug, Kind::Plug, Behaviour::default()).await;
    });
    let token = home.sign_in("alice").await;
    let uri = "/users/alice/devices/igrs:plug/properties/on";
    let unconfirmed = json!({ "value": false }).to_string();
    let (status, body) = home
        .call(Method::PUT, uri, Some(&token), Some(&unconfirmed))
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{body}");
    assert_eq!(body["code"], "confirmation_required");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"confirmed\": true")),
        "{body}"
    );
    let (_, still) = home.get(&token, "alice", "igrs:plug", "on").await;
    assert_eq!(still["value"], true, "nothing reached the plug");

    let confirmed = json!({ "value": false, "confirmed": true }).to_string();
    let (status, body) = home
        .call(Method::PUT, uri, Some(&token), Some(&confirmed))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"], false);
    // A property without the flag needs no confirmation.
    let (_, power) = home.get(&token, "alice", "igrs:plug", "power").await;
    assert!(power["value"].is_number(), "{power}");
    home.stop().await;
}
