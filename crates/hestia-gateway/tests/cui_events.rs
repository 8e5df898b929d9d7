//! Subscription to an event of a device and notification of an event (ISO/IEC 10192-4-3 §6.2)
//! through the CUI router in process: subscriptions made, renewed and cancelled with every
//! refusal's exact code, and notifications read from the Server-Sent Events stream as devices
//! on the IRSP change, publish, and come and go; deferred results of a slow device and commands
//! queued for an offline one, whose results arrive on the same stream.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::sse::EventStream;
use common::{Home, assert_error};
use hestia_client::device::{Device, DeviceIdentity};
use hestia_client::simulator::{self, Behaviour, Kind};
use hestia_gateway::webhook::{Policy, sign};
use hestia_proto::igrs::NS_DEVICE;
use hestia_store::RelationshipChange;
use hestia_testkit::PASSWORD;
use hestia_xml::Element;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn subscribe(home: &Home, token: &str, user: &str, body: Value) -> (StatusCode, Value) {
    let uri = format!("/users/{user}/subscriptions");
    home.call(Method::POST, &uri, Some(token), Some(&body.to_string()))
        .await
}

/// Subscribes and checks the answer; the subscription's id.
async fn subscribed(home: &Home, token: &str, device: &str, event: &str) -> String {
    let (status, view) = subscribe(
        home,
        token,
        "alice",
        json!({ "deviceId": device, "event": event }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["deviceId"], device);
    assert_eq!(view["event"], event);
    assert_eq!(view["seq"], 0);
    view["subscriptionId"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_property_set_and_the_devices_own_event_are_notified_in_order() {
    let home = Home::start().await;
    let token = home.sign_in("alice").await;
    let on_property = subscribed(&home, &token, "igrs:lamp", "property").await;
    let on_switched = subscribed(&home, &token, "igrs:lamp", "switched").await;
    let mut stream = EventStream::open(&home, &token, "alice").await;

    let (status, body) = home
        .put(&token, "alice", "igrs:lamp", "on", json!(true))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The set is heard first (the answer), then the lamp's `switched` item; the `on=true` it
    // reports is the same change and is not notified twice.
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(stream.next().await);
    }
    let property = seen
        .iter()
        .find(|(_, e)| e["body"]["subscriptionId"] == on_property.as_str())
        .expect("property notification");
    let switched = seen
        .iter()
        .find(|(_, e)| e["body"]["subscriptionId"] == on_switched.as_str())
        .expect("switched notification");
    for (id, envelope) in [property, switched] {
        assert_eq!(envelope["type"], "event");
        assert_eq!(envelope["userId"], "alice");
        assert_eq!(
            envelope["correlationId"],
            envelope["body"]["subscriptionId"]
        );
        assert_eq!(
            envelope["body"]["eventId"],
            id.as_str(),
            "SSE id is the eventId"
        );
        assert_eq!(envelope["body"]["seq"], 1);
        assert_eq!(envelope["body"]["deviceId"], "igrs:lamp");
        assert!(
            envelope["timestamp"]
                .as_str()
                .unwrap_or_default()
                .ends_with('Z')
        );
    }
    assert_eq!(
        property.1["body"]["payload"],
        json!({"property": "on", "value": true})
    );
    assert_eq!(
        switched.1["body"]["payload"],
        json!({"type": "switched", "on": "true"})
    );
    stream.assert_quiet(Duration::from_millis(300)).await;

    // A second change counts on.
    home.put(&token, "alice", "igrs:lamp", "brightness", json!(40))
        .await;
    let (_, next) = stream.next().await;
    assert_eq!(next["body"]["subscriptionId"], on_property.as_str());
    assert_eq!(next["body"]["seq"], 2);
    assert_eq!(
        next["body"]["payload"],
        json!({"property": "brightness", "value": 40})
    );
    home.stop().await;
}

#[tokio::test]
async fn online_events_follow_the_devices_connection() {
    let home = Home::start().await;
    let token = home.sign_in("alice").await;
    subscribed(&home, &token, "igrs:plug", "online").await;
    let mut stream = EventStream::open(&home, &token, "alice").await;

    let plug = home.connect_plug().await;
    let (_, came) = stream.next().await;
    assert_eq!(came["body"]["payload"], json!({"online": true}));
    plug.close().await.expect("close");
    let (_, went) = stream.next().await;
    assert_eq!(went["body"]["payload"], json!({"online": false}));
    assert_eq!(went["body"]["seq"], 2);
    home.stop().await;
}

#[tokio::test]
async fn filters_narrow_and_a_withdrawn_right_silences_a_subscription() {
    let home = Home::start().await;
    let alice = home.sign_in("alice").await;
    let carol = home.sign_in("carol").await;
    let (status, view) = subscribe(
        &home,
        &carol,
        "carol",
        json!({"deviceId": "igrs:lamp", "event": "property", "filter": {"property": "brightness"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["filter"], json!({"property": "brightness"}));
    let mut stream = EventStream::open(&home, &carol, "carol").await;

    home.put(&alice, "alice", "igrs:lamp", "on", json!(true))
        .await;
    home.put(&alice, "alice", "igrs:lamp", "brightness", json!(10))
        .await;
    let (_, first) = stream.next().await;
    assert_eq!(
        first["body"]["payload"]["property"], "brightness",
        "filtered"
    );
    assert_eq!(first["body"]["seq"], 1);

    let revoke = RelationshipChange::RemoveRight {
        device: "lamp".into(),
        user: "carol".into(),
    };
    hestia_router::relations::apply(&home.t.server.irsp, vec![revoke])
        .await
        .expect("revoke");
    home.put(&alice, "alice", "igrs:lamp", "brightness", json!(20))
        .await;
    stream.assert_quiet(Duration::from_millis(500)).await;
    home.stop().await;
}

#[tokio::test]
async fn a_numeric_propertys_history_is_kept_from_what_the_device_reports() {
    let mut home = Home::start().await;
    let token = home.sign_in("alice").await;
    // A thermostat driven by the test, so it reports exactly these values.
    home.t
        .add_device("heater", "thermostat")
        .await
        .expect("heater");
    home.t.own("alice", "heater").await.expect("own");
    let mut heater = Device::start(
        home.t.options(),
        DeviceIdentity::new("heater", PASSWORD),
        Kind::Thermostat.description(),
    )
    .await
    .expect("heater online");
    let thermostat = heater.handle();
    // The SDK writes what its handles queue while it is driven.
    home.tasks
        .spawn(async move { while heater.next().await.is_ok() {} });
    subscribed(&home, &token, "igrs:heater", "property").await;
    let mut stream = EventStream::open(&home, &token, "alice").await;
    for value in ["20.5", "20.5", "20.75", "hot"] {
        let item = Element::new("temperature", NS_DEVICE).with_attr("value", value);
        thermostat.publish("temperature", item).expect("publish");
    }
    let (_, first) = stream.next().await;
    assert_eq!(
        first["body"]["payload"],
        json!({"property": "temperature", "value": 20.5})
    );
    let (_, second) = stream.next().await;
    assert_eq!(second["body"]["payload"]["value"], 20.75);
    stream.assert_quiet(Duration::from_millis(300)).await;

    let uri = "/users/alice/devices/igrs:heater/properties/temperature/history";
    let (status, history) = home.call(Method::GET, uri, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let values: Vec<f64> = history["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["value"].as_f64().expect("number"))
        .collect();
    assert_eq!(
        values,
        [20.5, 20.75],
        "repeats and unparsable reports are not points"
    );
    assert!(history["points"][0]["timestamp"].is_string());

    let bob = home.sign_in("bob").await;
    let bobs = uri.replace("alice", "bob");
    assert_error(
        home.call(Method::GET, &bobs, Some(&bob), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    home.stop().await;
}

#[tokio::test]
async fn subscriptions_are_listed_renewed_and_cancelled_by_their_user_only() {
    let home = Home::start().await;
    let alice = home.sign_in("alice").await;
    let carol = home.sign_in("carol").await;
    let id = subscribed(&home, &alice, "igrs:lamp", "online").await;
    let one = format!("/users/alice/subscriptions/{id}");

    let (status, list) = home
        .call(
            Method::GET,
            "/users/alice/subscriptions",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["subscriptions"][0]["subscriptionId"], id.as_str());
    let (status, view) = home.call(Method::GET, &one, Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let before = view["expiresAt"].as_str().expect("expiresAt").to_owned();

    let renew = json!({"expiresIn": 86400}).to_string();
    let (status, renewed) = home
        .call(Method::PUT, &one, Some(&alice), Some(&renew))
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert!(renewed["expiresAt"].as_str().expect("expiresAt") > before.as_str());

    // Carol cannot see or touch alice's, even by id under her own path.
    let hers = format!("/users/carol/subscriptions/{id}");
    for method in [Method::GET, Method::DELETE] {
        assert_error(
            home.call(method, &hers, Some(&carol), None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_error(
        home.call(Method::GET, &one, Some(&carol), None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    let (status, _) = home.call(Method::DELETE, &one, Some(&alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        home.call(Method::DELETE, &one, Some(&alice), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    home.stop().await;
}

#[tokio::test]
async fn bad_subscriptions_get_their_exact_errors() {
    let home = Home::start().await;
    let alice = home.sign_in("alice").await;
    let cases = [
        (
            json!({"deviceId": "igrs:nothing", "event": "online"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"deviceId": "mqtt:garage", "event": "online"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"deviceId": "igrs:lamp", "event": "motion"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"deviceId": "igrs:lamp", "event": "No Such"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"deviceId": "lamp", "event": "online"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"deviceId": "igrs:lamp", "event": "online", "expiresIn": 0}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"deviceId": "igrs:lamp", "event": "online", "expiresIn": 86401}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"deviceId": "igrs:lamp", "event": "online", "filter": [1]}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"deviceId": "igrs:lamp", "event": "online", "callback": "http://x"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"event": "online"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (body, status, code) in cases {
        let got = subscribe(&home, &alice, "alice", body.clone()).await;
        assert_eq!(got.0, status, "{body}: {}", got.1);
        assert_error(got, status, code);
    }
    let bob = home.sign_in("bob").await;
    assert_error(
        subscribe(
            &home,
            &bob,
            "bob",
            json!({"deviceId": "igrs:lamp", "event": "online"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        subscribe(
            &home,
            &bob,
            "alice",
            json!({"deviceId": "igrs:lamp", "event": "online"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let anonymous = home
        .call(Method::GET, "/users/alice/events", None, None)
        .await;
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized");
    let not_hers = home
        .call(Method::GET, "/users/carol/events", Some(&alice), None)
        .await;
    assert_error(not_hers, StatusCode::FORBIDDEN, "forbidden");
    home.stop().await;
}

#[tokio::test]
async fn the_openapi_document_is_served_and_names_every_route() {
    let home = Home::start().await;
    let (status, doc) = home.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let methods = ["get", "put", "post", "delete"];
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in methods.iter().filter(|m| item.get(**m).is_some()) {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    // Every documented operation is routed: without a token each answers 401, or 400 for
    // sign-in's empty body; the router's fallbacks would answer 404 or a 400 of their own.
    for op in &documented {
        let (method, path) = op.split_once(' ').expect("method and path");
        let uri = path
            .replace("{u}", "alice")
            .replace("{d}", "igrs:lamp")
            .replace("{p}", "on")
            .replace("{s}", "some-id")
            .replace("{o}", "some-id")
            .replace("{w}", "bob")
            .replace("{l}", "some-id");
        let req = Request::builder()
            .method(method)
            .uri(&uri)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .expect("request");
        let (status, body) = home.send(req).await;
        let routed = match (method, path) {
            ("POST", "/sign-in") => status == StatusCode::BAD_REQUEST,
            ("GET", "/openapi.json") => status == StatusCode::OK,
            // The consent screen's return is authenticated by its state, not a token.
            ("GET", "/federation/callback") => status == StatusCode::BAD_REQUEST,
            // Not a WebSocket handshake: refused before any token is looked at.
            ("GET", "/users/{u}/events/ws") => {
                status == StatusCode::BAD_REQUEST
                    && body["message"] != "method not allowed on this resource"
            }
            _ => status == StatusCode::UNAUTHORIZED,
        };
        assert!(routed, "{op} → {status} {body}");
    }
    // And every route of the router is documented.
    let served = [
        "GET /openapi.json",
        "POST /sign-in",
        "POST /sign-out",
        "GET /users/{u}/devices",
        "GET /users/{u}/devices/{d}/properties/{p}",
        "PUT /users/{u}/devices/{d}/properties/{p}",
        "GET /users/{u}/devices/{d}/properties/{p}/history",
        "GET /users/{u}/subscriptions",
        "POST /users/{u}/subscriptions",
        "GET /users/{u}/operations/{o}",
        "GET /users/{u}/subscriptions/{s}",
        "PUT /users/{u}/subscriptions/{s}",
        "DELETE /users/{u}/subscriptions/{s}",
        "GET /users/{u}/events",
        "GET /users/{u}/events/ws",
        "POST /users/{u}/device-requests",
        "GET /users/{u}/devices/{d}/shares",
        "PUT /users/{u}/devices/{d}/shares/{w}",
        "DELETE /users/{u}/devices/{d}/shares/{w}",
        "POST /users/{u}/devices/{d}/verification-code",
        "GET /peers",
        "GET /users/{u}/federations",
        "POST /users/{u}/federations",
        "DELETE /users/{u}/federations/{l}",
        "GET /federation/callback",
        "POST /federation/links",
        "DELETE /federation/links/{l}",
        "POST /federation/links/{l}/notifications",
    ];
    for op in served {
        assert!(
            documented.iter().any(|d| d == op),
            "{op} is not in openapi.json"
        );
    }
    assert_eq!(documented.len(), served.len(), "{documented:?}");
    home.stop().await;
}

async fn put_with(
    home: &Home,
    token: &str,
    uri: &str,
    prefer: Option<&str>,
    body: Value,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder()
        .method(Method::PUT)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(prefer) = prefer {
        req = req.header("prefer", prefer);
    }
    let req = req.body(Body::from(body.to_string())).expect("request");
    let response = home.app.clone().oneshot(req).await.expect("infallible");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A lamp `id` owned by alice, running the simulator with `behaviour` on `home`'s tasks.
async fn start_lamp(home: &mut Home, id: &str, behaviour: Behaviour) {
    let device = Device::start(
        home.t.options(),
        DeviceIdentity::new(id, PASSWORD),
        Kind::Lamp.description(),
    )
    .await
    .expect("lamp online");
    home.tasks.spawn(async move {
        let _ = simulator::run(device, Kind::Lamp, behaviour).await;
    });
}

async fn add_lamp(home: &Home, id: &str) {
    home.t.add_device(id, "lamp").await.expect("device");
    home.t.own("alice", id).await.expect("own");
}

#[tokio::test]
async fn a_slow_devices_answer_is_a_deferred_result_on_the_stream() {
    let mut home = Home::start().await;
    add_lamp(&home, "slow").await;
    let slow = Behaviour {
        response_delay: Duration::from_millis(1500),
        ..Behaviour::default()
    };
    start_lamp(&mut home, "slow", slow).await;
    let token = home.sign_in("alice").await;
    let mut stream = EventStream::open(&home, &token, "alice").await;
    let uri = "/users/alice/devices/igrs:slow/properties/brightness";

    let (status, headers, accepted) =
        put_with(&home, &token, uri, Some("wait=1"), json!({"value": 30})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["status"], "pending");
    let id = accepted["operationId"].as_str().expect("id").to_owned();
    let location = headers["location"].to_str().expect("location");
    assert_eq!(location, format!("/cui/v1/users/alice/operations/{id}"));
    let own = format!("/users/alice/operations/{id}");
    let (status, pending) = home.call(Method::GET, &own, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending["status"], "pending");

    let (sse_id, result) = stream.next().await;
    assert_eq!(result["type"], "result");
    assert_eq!(sse_id, id);
    assert_eq!(result["correlationId"], id.as_str());
    assert_eq!(result["body"]["status"], "succeeded");
    assert_eq!(result["body"]["result"]["value"], 30);
    let (_, done) = home.call(Method::GET, &own, Some(&token), None).await;
    assert_eq!(done["status"], "succeeded");

    // respond-async answers at once; the default wait outlasts this device, so it answers.
    let (status, headers, _) = put_with(
        &home,
        &token,
        uri,
        Some("respond-async"),
        json!({"value": 31}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["preference-applied"], "respond-async");
    let (status, _, set) = put_with(&home, &token, uri, None, json!({"value": 32})).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["value"], 32);

    let carol = home.sign_in("carol").await;
    assert_error(
        home.call(
            Method::GET,
            &own.replace("alice", "carol"),
            Some(&carol),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    home.stop().await;
}

#[tokio::test]
async fn a_command_for_an_offline_device_waits_for_it_when_asked() {
    let mut home = Home::start().await;
    add_lamp(&home, "porch").await;
    // The porch lamp describes itself once and goes away.
    Device::start(
        home.t.options(),
        DeviceIdentity::new("porch", PASSWORD),
        Kind::Lamp.description(),
    )
    .await
    .expect("porch online")
    .close()
    .await
    .expect("porch offline");
    let token = home.sign_in("alice").await;
    let mut stream = EventStream::open(&home, &token, "alice").await;
    let uri = "/users/alice/devices/igrs:porch/properties/on";

    // Not asked: a clear error at once.
    let (status, _, refused) = put_with(&home, &token, uri, None, json!({"value": true})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(refused["code"], "cluster_unreachable");
    // Mistakes are told when queueing, not when the device returns.
    for (body, code) in [
        (json!({"value": "yes", "queueFor": 60}), "bad_request"),
        (json!({"value": true, "queueFor": 0}), "bad_request"),
        (json!({"value": true, "queueFor": 86401}), "bad_request"),
    ] {
        let (status, _, e) = put_with(&home, &token, uri, None, body.clone()).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body}"
        );
    }

    let (status, _, queued) = put_with(
        &home,
        &token,
        uri,
        None,
        json!({"value": true, "queueFor": 60}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["status"], "queued");
    assert!(queued["expiresAt"].is_string());
    let (_, _, short) = put_with(
        &home,
        &token,
        uri,
        None,
        json!({"value": false, "queueFor": 1}),
    )
    .await;
    assert_eq!(short["status"], "queued");

    // The short one expires first; then the porch lamp comes online and takes the other.
    let (_, expired) = stream.next().await;
    assert_eq!(expired["type"], "result");
    assert_eq!(expired["correlationId"], short["operationId"]);
    assert_eq!(expired["body"]["status"], "expired");
    start_lamp(&mut home, "porch", Behaviour::default()).await;
    let (_, delivered) = stream.next().await;
    assert_eq!(delivered["correlationId"], queued["operationId"]);
    assert_eq!(delivered["body"]["status"], "succeeded");
    let (status, read) = home.get(&token, "alice", "igrs:porch", "on").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["value"], true, "the queued command reached the lamp");
    home.stop().await;
}

/// What a webhook receiver saw: the signature headers and the body.
#[derive(Debug)]
struct Posted {
    timestamp: u64,
    signature: String,
    event_id: String,
    body: String,
}

/// A webhook receiver on loopback that answers `500` while `failing` is set; its URL and what
/// it receives.
async fn receiver(
    home: &mut Home,
    failing: Arc<AtomicBool>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<Posted>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let hook = move |headers: axum::http::HeaderMap, body: String| {
        let (tx, failing) = (tx.clone(), failing.clone());
        async move {
            let header = |n: &str| headers[n].to_str().expect("header").to_owned();
            let _ = tx.send(Posted {
                timestamp: header("hestia-timestamp").parse().expect("timestamp"),
                signature: header("hestia-signature"),
                event_id: header("hestia-event-id"),
                body,
            });
            if failing.load(Ordering::SeqCst) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::NO_CONTENT
            }
        }
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(hook));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    home.tasks.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

async fn posted(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Posted>) -> Posted {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a POST within 10 s")
        .expect("receiver running")
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_suspended_after_repeated_failure() {
    let mut home = Home::start().await;
    home.gateway.events().set_webhook_policy(Policy {
        attempts: 2,
        first_backoff: Duration::from_millis(50),
        suspend_after: 2,
        timeout: Duration::from_secs(5),
    });
    let failing = Arc::new(AtomicBool::new(true));
    let (url, mut rx) = receiver(&mut home, failing.clone()).await;
    let token = home.sign_in("alice").await;
    let secret = "a-shared-secret-of-peers";
    let (status, view) = subscribe(
        &home,
        &token,
        "alice",
        json!({"deviceId": "igrs:lamp", "event": "property",
               "callback": {"url": url, "secret": secret}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["callback"], url.as_str());
    assert_eq!(view["suspended"], false);
    let id = view["subscriptionId"].as_str().expect("id").to_owned();
    let set = |value: Value, property: &'static str| {
        let home = &home;
        let token = token.clone();
        async move {
            home.put(&token, "alice", "igrs:lamp", property, value)
                .await
        }
    };

    // Refused once, retried, then taken: the same signed notification both times.
    set(json!(true), "on").await;
    let first = posted(&mut rx).await;
    failing.store(false, Ordering::SeqCst);
    let retried = posted(&mut rx).await;
    assert_eq!(first.event_id, retried.event_id);
    assert_eq!(first.body, retried.body);
    for p in [&first, &retried] {
        assert_eq!(p.signature, sign(secret, p.timestamp, &p.body), "signed");
        assert_ne!(
            p.signature,
            sign("another-secret-entirely", p.timestamp, &p.body)
        );
    }
    let envelope: Value = serde_json::from_str(&retried.body).expect("envelope");
    assert_eq!(envelope["body"]["seq"], 1);
    assert_eq!(envelope["body"]["eventId"], retried.event_id.as_str());
    assert_eq!(
        envelope["body"]["payload"],
        json!({"property": "on", "value": true})
    );

    // Two notifications fail every attempt: the subscription is suspended.
    failing.store(true, Ordering::SeqCst);
    for value in [10, 20] {
        set(json!(value), "brightness").await;
        for _ in 0..2 {
            posted(&mut rx).await;
        }
    }
    let one = format!("/users/alice/subscriptions/{id}");
    let mut suspended = Value::Null;
    for _ in 0..50 {
        suspended = home.call(Method::GET, &one, Some(&token), None).await.1;
        if suspended["suspended"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(suspended["suspended"], true, "{suspended}");
    failing.store(false, Ordering::SeqCst);
    set(json!(30), "brightness").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "a suspended webhook is not called");

    // Renewing resumes it; the seq shows what was lost.
    let renew = json!({"expiresIn": 600}).to_string();
    let (_, renewed) = home
        .call(Method::PUT, &one, Some(&token), Some(&renew))
        .await;
    assert_eq!(renewed["suspended"], false);
    set(json!(40), "brightness").await;
    let resumed: Value = serde_json::from_str(&posted(&mut rx).await.body).expect("json");
    assert_eq!(resumed["body"]["seq"], 5);
    assert_eq!(resumed["body"]["payload"]["value"], 40);
    home.stop().await;
}
