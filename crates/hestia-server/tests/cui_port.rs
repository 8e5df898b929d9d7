//! The HES gateway's CUI on the server's HTTP port (ISO/IEC 10192-4-3 §6.2): `/cui/v1` is
//! nested beside the admin API, so a user signs in over live HTTP and lists their devices;
//! the error body keeps its shape there too, and a browser-style WebSocket hears events. The router itself is tested in process in
//! `crates/hestia-gateway/tests/cui_router.rs`.

#![allow(clippy::expect_used)]

mod conversation;

use std::time::Duration;

use conversation::*;
use futures::{SinkExt, StreamExt};
use hestia_client::device::{Device, DeviceIdentity};
use hestia_client::simulator::{self, Behaviour, Kind};
use hestia_testkit::{PASSWORD, TestServer};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_user_signs_in_and_lists_devices_over_the_http_port() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_device("lamp", "lamp").await.expect("lamp");
    t.own("alice", "lamp").await.expect("own");
    let anonymous = Admin::of(&t).with_token(None);
    let signed = anonymous
        .post(
            "/cui/v1/sign-in",
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    let token = signed.json()["token"].as_str().expect("token").to_owned();

    let list = anonymous
        .with_token(Some(&token))
        .get("/cui/v1/users/alice/devices")
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json()["devices"][0]["id"], "igrs:lamp");
    assert_eq!(list.json()["devices"][0]["online"], false);

    let refused = anonymous.get("/cui/v1/users/alice/devices").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["code"], "unauthorized");
    assert!(refused.json()["messageId"].is_string(), "{}", refused.text);
    t.stop().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message on the event socket as JSON, or how it closed.
async fn next_json(ws: &mut Ws) -> Result<serde_json::Value, Option<u16>> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).expect("json")),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

async fn sign_in(t: &TestServer, user: &str) -> String {
    let signed = Admin::of(t)
        .with_token(None)
        .post(
            "/cui/v1/sign-in",
            json!({ "username": user, "password": PASSWORD }),
        )
        .await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    signed.json()["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn a_browser_style_websocket_authenticates_then_hears_a_simulated_lamp() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_device("lamp", "lamp").await.expect("lamp");
    t.own("alice", "lamp").await.expect("own");
    let lamp = Device::start(
        t.options(),
        DeviceIdentity::new("lamp", PASSWORD),
        Kind::Lamp.description(),
    )
    .await
    .expect("lamp online");
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(simulator::run(lamp, Kind::Lamp, Behaviour::default()));
    let token = sign_in(&t, "alice").await;
    let api = Admin::of(&t).with_token(Some(&token));
    let made = api
        .post(
            "/cui/v1/users/alice/subscriptions",
            json!({ "deviceId": "igrs:lamp", "event": "switched" }),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let url = format!(
        "{}/cui/v1/users/alice/events/ws",
        t.http_base().replacen("http://", "ws://", 1)
    );

    // A wrong token is refused with 4401 after the first message.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("upgrade");
    let bad = json!({ "type": "authenticate", "token": "not-a-token" }).to_string();
    ws.send(Message::text(bad)).await.expect("send");
    assert_eq!(next_json(&mut ws).await.expect_err("closed"), Some(4401));

    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("upgrade");
    let auth = json!({ "type": "authenticate", "token": token }).to_string();
    ws.send(Message::text(auth)).await.expect("send");
    let hello = next_json(&mut ws).await.expect("authenticated");
    assert_eq!(hello, json!({ "type": "authenticated", "userId": "alice" }));

    let set = api
        .call(
            "PUT",
            "/cui/v1/users/alice/devices/igrs:lamp/properties/on",
            Some(json!({ "value": true })),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let envelope = next_json(&mut ws).await.expect("notification");
    assert_eq!(envelope["type"], "event");
    assert_eq!(envelope["body"]["deviceId"], "igrs:lamp");
    assert_eq!(envelope["body"]["event"], "switched");
    assert_eq!(envelope["body"]["seq"], 1);
    assert_eq!(envelope["body"]["payload"]["on"], "true");

    // The same socket carries HES-CLDPE request events; each response event is correlated.
    let request = json!({
        "type": "request", "messageId": "m-1", "timestamp": "2026-12-06T12:00:00Z",
        "userId": "alice",
        "body": {"operation": "setProperty", "deviceId": "igrs:lamp", "property": "on", "value": false},
    });
    ws.send(Message::text(request.to_string()))
        .await
        .expect("send");
    let (mut response, mut switched) = (None, None);
    while response.is_none() || switched.is_none() {
        let message = next_json(&mut ws).await.expect("an event");
        match message["type"].as_str() {
            Some("response") => response = Some(message),
            Some("event") => switched = Some(message),
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
    let response = response.expect("response");
    assert_eq!(response["correlationId"], "m-1");
    assert_eq!(response["body"]["value"], false);
    let switched = switched.expect("event");
    assert_eq!(
        switched["body"]["seq"], 2,
        "the set made over the socket is notified too"
    );
    assert_eq!(switched["body"]["payload"]["on"], "false");

    // A request for another user, and a message that is not an envelope, are refused on the
    // socket, which stays open.
    let forged = json!({
        "type": "request", "messageId": "m-2", "timestamp": "2026-12-06T12:00:00Z",
        "userId": "bob", "body": {"operation": "listDevices"},
    });
    ws.send(Message::text(forged.to_string()))
        .await
        .expect("send");
    let refused = next_json(&mut ws).await.expect("error event");
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["correlationId"], "m-2");
    assert_eq!(refused["body"]["code"], "forbidden");
    ws.send(Message::text("{}")).await.expect("send");
    let malformed = next_json(&mut ws).await.expect("error event");
    assert_eq!(malformed["type"], "error");
    assert_eq!(malformed["body"]["code"], "bad_request");

    // Binary frames are not events: the socket closes with 1003 (unsupported data).
    ws.send(Message::binary(vec![1, 2, 3])).await.expect("send");
    assert_eq!(next_json(&mut ws).await.expect_err("closed"), Some(1003));
    tasks.abort_all();
    t.stop().await;
}
