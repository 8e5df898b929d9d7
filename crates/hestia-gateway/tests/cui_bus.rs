//! HES-CLDPE (ISO/IEC 10192-4-3 §6.3): the CUI operations as request and response events on
//! the gateway's event bus, checked as the HTTP binding is; notifications on a topic per
//! device and event.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::Home;
use hestia_client::device::{Device, DeviceIdentity};
use hestia_client::simulator::{self, Behaviour, Kind};
use hestia_gateway::Principal;
use hestia_gateway::bus::topic::TopicFilter;
use hestia_gateway::bus::{BusClient, Envelope, Listener, Published};
use hestia_gateway::model::ErrorCode;
use hestia_gateway::oauth::Scopes;
use hestia_testkit::PASSWORD;
use serde_json::{Value, json};

/// Signs `users` in once: signing in is their consent to the gateway acting for them, which
/// a service module's requests rely on as the HTTP binding's do.
async fn consent(home: &Home, users: &[&str]) {
    for user in users {
        home.sign_in(user).await;
    }
}

/// Asks `body` as the client's user; the response event, checked to answer the request.
async fn ask(client: &BusClient, body: Value) -> Envelope {
    let request = Envelope::request(&client.principal().user, body);
    let response = client.request(request.clone()).await;
    assert_eq!(
        response.correlation_id.as_deref(),
        Some(request.message_id.as_str()),
        "a response is correlated with its request"
    );
    assert_eq!(response.user_id, request.user_id);
    response
}

/// The body of a successful response.
async fn answered(client: &BusClient, body: Value) -> Value {
    let response = ask(client, body.clone()).await;
    assert_eq!(response.kind, "response", "{body} → {response:?}");
    response.body
}

/// The error code of a refused request, checked to carry `{code, message, messageId}`.
async fn refused(client: &BusClient, body: Value) -> ErrorCode {
    let response = ask(client, body.clone()).await;
    assert_eq!(response.kind, "error", "{body} → {response:?}");
    assert!(response.body["message"].is_string(), "{:?}", response.body);
    assert!(
        response.body["messageId"].is_string(),
        "{:?}",
        response.body
    );
    response.error_code().expect("a stable code")
}

async fn heard(listener: &mut Listener) -> std::sync::Arc<Published> {
    tokio::time::timeout(Duration::from_secs(10), listener.next())
        .await
        .expect("a notification within 10 s")
        .expect("the bus is open")
        .expect("nothing lost")
}

#[tokio::test]
async fn every_operation_answers_on_the_bus_as_over_http() {
    let home = Home::start().await;
    consent(&home, &["alice"]).await;
    let alice = home.gateway.bus().client(Principal::person("alice"));

    let list = answered(&alice, json!({"operation": "listDevices"})).await;
    let ids: Vec<&str> = list["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| d["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["igrs:lamp", "igrs:plug", "igrs:thermostat"]);

    let set = answered(
        &alice,
        json!({"operation": "setProperty", "deviceId": "igrs:lamp", "property": "on", "value": true}),
    )
    .await;
    assert_eq!(set["value"], true);
    let read = answered(
        &alice,
        json!({"operation": "getProperty", "deviceId": "igrs:lamp", "property": "on"}),
    )
    .await;
    assert_eq!(read["value"], true, "the set is what the device now says");

    let history = answered(
        &alice,
        json!({"operation": "history", "deviceId": "igrs:thermostat", "property": "temperature"}),
    )
    .await;
    assert_eq!(history["deviceId"], "igrs:thermostat");
    assert!(history["points"].is_array(), "{history}");

    let made = answered(
        &alice,
        json!({"operation": "subscribe", "deviceId": "igrs:lamp", "event": "switched", "expiresIn": 60}),
    )
    .await;
    let id = made["subscriptionId"].as_str().expect("id").to_owned();
    let listed = answered(&alice, json!({"operation": "listSubscriptions"})).await;
    assert_eq!(listed["subscriptions"][0]["subscriptionId"], id.as_str());
    let renewed = answered(
        &alice,
        json!({"operation": "renew", "subscriptionId": id, "expiresIn": 600}),
    )
    .await;
    assert!(
        renewed["expiresAt"].as_str() > made["expiresAt"].as_str(),
        "{renewed} {made}"
    );
    answered(&alice, json!({"operation": "cancel", "subscriptionId": id})).await;
    let listed = answered(&alice, json!({"operation": "listSubscriptions"})).await;
    assert_eq!(listed["subscriptions"], json!([]));
    assert_eq!(
        refused(&alice, json!({"operation": "cancel", "subscriptionId": id})).await,
        ErrorCode::NotFound
    );
    assert_eq!(
        refused(
            &alice,
            json!({"operation": "getOperation", "operationId": "nope"})
        )
        .await,
        ErrorCode::NotFound
    );
    home.stop().await;
}

#[tokio::test]
async fn rights_scopes_and_malformed_requests_are_refused_with_their_codes() {
    let home = Home::start().await;
    consent(&home, &["alice", "bob", "carol"]).await;
    let bus = home.gateway.bus();
    let carol = bus.client(Principal::person("carol"));
    let bob = bus.client(Principal::person("bob"));
    let set_lamp = json!({"operation": "setProperty", "deviceId": "igrs:lamp", "property": "on", "value": true});
    let read_lamp = json!({"operation": "getProperty", "deviceId": "igrs:lamp", "property": "on"});

    // Carol may view the lamp, not control it; bob relates to nothing, so it does not exist.
    answered(&carol, read_lamp.clone()).await;
    assert_eq!(
        refused(&carol, set_lamp.clone()).await,
        ErrorCode::Forbidden
    );
    assert_eq!(refused(&bob, read_lamp.clone()).await, ErrorCode::NotFound);
    let bobs = answered(&bob, json!({"operation": "listDevices"})).await;
    assert_eq!(bobs["devices"], json!([]));

    // A sender acts only for its own user.
    let forged = bob
        .request(Envelope::request("alice", read_lamp.clone()))
        .await;
    assert_eq!(forged.error_code(), Some(ErrorCode::Forbidden));

    // An OAuth token's scopes hold on the bus as on the HTTP routes.
    let reader = bus.client(Principal {
        scopes: Some(Scopes::parse("devices:read").expect("scope")),
        client_id: Some("app".into()),
        grant: Some("g1".into()),
        ..Principal::person("alice")
    });
    answered(&reader, read_lamp.clone()).await;
    assert_eq!(
        refused(&reader, set_lamp.clone()).await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        refused(
            &reader,
            json!({"operation": "subscribe", "deviceId": "igrs:lamp", "event": "online"})
        )
        .await,
        ErrorCode::Forbidden
    );

    let alice = bus.client(Principal::person("alice"));
    for bad in [
        json!({"operation": "reboot"}),
        json!({"deviceId": "igrs:lamp"}),
        json!("listDevices"),
        json!({"operation": "listDevices", "userId": "bob"}),
        json!({"operation": "getProperty", "deviceId": "lamp", "property": "on"}),
        json!({"operation": "setProperty", "deviceId": "igrs:lamp", "property": "on", "value": [1]}),
        json!({"operation": "setProperty", "deviceId": "igrs:lamp", "property": "on", "value": true, "queueFor": 0}),
        json!({"operation": "subscribe", "deviceId": "igrs:lamp", "event": "Bad Name"}),
        json!({"operation": "subscribe", "deviceId": "igrs:lamp", "event": "online", "expiresIn": 999999}),
    ] {
        assert_eq!(
            refused(&alice, bad.clone()).await,
            ErrorCode::BadRequest,
            "{bad}"
        );
    }
    let mut response_not_request = Envelope::request("alice", json!({"operation": "listDevices"}));
    response_not_request.kind = "response".into();
    let answer = alice.request(response_not_request).await;
    assert_eq!(answer.error_code(), Some(ErrorCode::BadRequest));
    assert_eq!(
        refused(
            &alice,
            json!({"operation": "getProperty", "deviceId": "igrs:lamp", "property": "colour"})
        )
        .await,
        ErrorCode::NotFound
    );
    home.stop().await;
}

#[tokio::test]
async fn notifications_are_published_on_a_topic_per_device_and_event() {
    let home = Home::start().await;
    consent(&home, &["alice"]).await;
    let bus = home.gateway.bus();
    let mut lamp_values = bus.listen(TopicFilter::parse("devices/igrs:lamp/property").expect("f"));
    let mut switches = bus.listen(TopicFilter::parse("devices/+/switched").expect("filter"));
    let mut thermostat = bus.listen(TopicFilter::parse("devices/igrs:thermostat/#").expect("f"));
    let alice = bus.client(Principal::person("alice"));

    answered(
        &alice,
        json!({"operation": "setProperty", "deviceId": "igrs:lamp", "property": "brightness", "value": 42}),
    )
    .await;
    let value = heard(&mut lamp_values).await;
    assert_eq!(value.topic, "devices/igrs:lamp/property");
    assert_eq!(value.envelope.kind, "event");
    assert_eq!(value.envelope.body["deviceId"], "igrs:lamp");
    assert_eq!(value.envelope.body["payload"]["property"], "brightness");
    assert_eq!(value.envelope.body["payload"]["value"], 42);
    assert!(value.envelope.body["eventId"].is_string());

    answered(
        &alice,
        json!({"operation": "setProperty", "deviceId": "igrs:lamp", "property": "on", "value": true}),
    )
    .await;
    let switched = heard(&mut switches).await;
    assert_eq!(switched.topic, "devices/igrs:lamp/switched");
    assert_eq!(switched.envelope.body["payload"]["on"], "true");

    // The thermostat's listener hears only the thermostat (whose room also drifts).
    answered(
        &alice,
        json!({"operation": "setProperty", "deviceId": "igrs:thermostat", "property": "setpoint", "value": 19.5}),
    )
    .await;
    loop {
        let own = heard(&mut thermostat).await;
        assert!(
            own.topic.starts_with("devices/igrs:thermostat/"),
            "{}",
            own.topic
        );
        if own.envelope.body["payload"]["property"] == "setpoint" {
            assert_eq!(own.envelope.body["payload"]["value"], 19.5);
            break;
        }
    }
    home.stop().await;
}

#[tokio::test]
async fn a_deferred_update_answers_accepted_and_its_result_is_published_for_the_user() {
    let mut home = Home::start().await;
    home.t.add_device("slow", "lamp").await.expect("device");
    home.t.own("alice", "slow").await.expect("own");
    let device = Device::start(
        home.t.options(),
        DeviceIdentity::new("slow", PASSWORD),
        Kind::Lamp.description(),
    )
    .await
    .expect("lamp online");
    let slow = Behaviour {
        response_delay: Duration::from_millis(1500),
        ..Behaviour::default()
    };
    home.tasks.spawn(async move {
        let _ = simulator::run(device, Kind::Lamp, slow).await;
    });
    consent(&home, &["alice"]).await;
    let bus = home.gateway.bus();
    let mut results = bus.listen(TopicFilter::parse("users/alice/results").expect("filter"));
    let alice = bus.client(Principal::person("alice"));

    let accepted = answered(
        &alice,
        json!({"operation": "setProperty", "deviceId": "igrs:slow", "property": "brightness", "value": 30, "wait": 1}),
    )
    .await;
    assert_eq!(accepted["status"], "pending", "{accepted}");
    let id = accepted["operationId"].as_str().expect("id").to_owned();

    let result = heard(&mut results).await;
    assert_eq!(result.envelope.kind, "result");
    assert_eq!(result.envelope.correlation_id.as_deref(), Some(id.as_str()));
    assert_eq!(result.envelope.body["status"], "succeeded");
    assert_eq!(result.envelope.body["result"]["value"], 30);
    let looked = answered(
        &alice,
        json!({"operation": "getOperation", "operationId": id}),
    )
    .await;
    assert_eq!(looked["status"], "succeeded");
    home.stop().await;
}
