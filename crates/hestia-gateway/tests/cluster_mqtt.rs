//! The MQTT cluster (Homie v5) through the real `/cui/v1` router, against a real broker: the
//! one `HESTIA_TEST_MQTT` names (host:port; `scripts/test` sets it when Mosquitto answers on
//! 127.0.0.1:1883). Without it the tests skip with a printed reason, and fail under `CI=true`.
//!
//! Each test plays Homie devices with its own MQTT client under a root topic of its own, so
//! runs never see each other's retained messages: a lamp that echoes every set, and a valve
//! that never answers.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use common::sse::EventStream;
use common::{Home, assert_error};
use hestia_config::Duration as ConfigDuration;
use hestia_gateway::cluster::Cluster;
use hestia_gateway::mqtt::{Member, MemberRight, MqttCluster, MqttConfig, MqttSettings};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// The broker's address, or None (skipped) when the environment names none.
fn broker() -> Option<(String, u16)> {
    let addr = hestia_testkit::e2e::tool("HESTIA_TEST_MQTT", "an MQTT broker, host:port")?;
    let (host, port) = addr
        .rsplit_once(':')
        .expect("HESTIA_TEST_MQTT is host:port");
    Some((host.to_owned(), port.parse().expect("a port")))
}

/// A root topic no other run uses.
fn unique_root(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("hestia-test-{test}-{}-{nanos}", std::process::id())
}

const LAMP: &str = "kitchen-lamp";
const VALVE: &str = "stuck-valve";

fn lamp_description() -> Value {
    json!({
        "homie": "5.0", "version": 1, "name": "Kitchen lamp", "type": "light",
        "nodes": {"light": {"name": "Light", "properties": {
            "on": {"datatype": "boolean", "settable": true},
            "brightness": {"datatype": "integer", "format": "0:100:5", "unit": "%", "settable": true},
            "power": {"datatype": "float", "unit": "W"}
        }}}
    })
}

fn valve_description() -> Value {
    json!({
        "homie": "5.0", "version": 1, "name": "Garden valve",
        "nodes": {"valve": {"properties": {"open": {"datatype": "boolean", "settable": true}}}}
    })
}

/// The value a device takes for a set: integers rounded to its step of 5 (as a Homie device
/// does for `format` `0:100:5`), anything else as sent.
fn took(payload: &str) -> String {
    payload
        .parse::<i64>()
        .map_or_else(|_| payload.to_owned(), |n| ((n + 2) / 5 * 5).to_string())
}

/// A Homie v5 device on the broker, played by the test.
struct HomieDevice {
    client: AsyncClient,
    broker: (String, u16),
    base: String,
    /// What arrived on the device's `…/set` topics: (topic, payload).
    sets: mpsc::UnboundedReceiver<(String, String)>,
    /// Its connection; aborting it drops the TCP connection without a goodbye.
    task: JoinSet<()>,
}

impl HomieDevice {
    /// Connects with a last will of `$state` = `lost`, announces itself (`init`, the
    /// description, retained values, `ready`) and, when `echoes`, answers every set by
    /// publishing the new value; it returns once it is subscribed to its `/set` topics.
    async fn start(
        (host, port): &(String, u16),
        root: &str,
        id: &str,
        description: Value,
        values: &[(&str, &str)],
        echoes: bool,
    ) -> HomieDevice {
        let base = format!("{root}/5/{id}");
        let mut options = MqttOptions::new(format!("{root}-{id}"), host, *port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_last_will(LastWill::new(
            format!("{base}/$state"),
            "lost",
            QoS::AtLeastOnce,
            true,
        ));
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (set_tx, sets) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        let device = client.clone();
        let set_filter = format!("{base}/+/+/set");
        let mut task = JoinSet::new();
        task.spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        device
                            .try_subscribe(&set_filter, QoS::AtLeastOnce)
                            .expect("subscribe");
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let payload = String::from_utf8_lossy(&p.payload).into_owned();
                        let _ = set_tx.send((p.topic.clone(), payload.clone()));
                        if echoes && let Some(property) = p.topic.strip_suffix("/set") {
                            device
                                .try_publish(property, QoS::AtLeastOnce, true, took(&payload))
                                .expect("echo");
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("the device subscribed within 10 s")
            .expect("device task");
        let homie = HomieDevice {
            client,
            broker: (host.clone(), *port),
            base,
            sets,
            task,
        };
        homie.publish("$state", "init").await;
        homie
            .publish("$description", &description.to_string())
            .await;
        for (topic, value) in values {
            homie.publish(topic, value).await;
        }
        homie.publish("$state", "ready").await;
        homie
    }

    /// Publishes a retained message under the device's base topic.
    async fn publish(&self, topic: &str, payload: &str) {
        self.client
            .publish(
                format!("{}/{topic}", self.base),
                QoS::AtLeastOnce,
                true,
                payload.to_owned(),
            )
            .await
            .expect("publish");
    }

    /// The next set the device was sent.
    async fn next_set(&mut self) -> (String, String) {
        tokio::time::timeout(Duration::from_secs(5), self.sets.recv())
            .await
            .expect("a set within 5 s")
            .expect("device task")
    }

    /// Disconnects (a goodbye: no will) and removes the device's retained topics.
    async fn remove(mut self, topics: &[&str]) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task.join_next()).await;
        self.task.abort_all();
        clear_retained(&self.broker, &self.base, topics).await;
    }
}

/// The CUI home of `common` (alice owns IGRS devices, carol views one, bob has none) with an
/// MQTT cluster `mqtt` whose members are alice (control) and carol (view).
async fn home_with_mqtt(broker: &(String, u16), root: &str) -> Home {
    let mut home = Home::start().await;
    let member = |user: &str, right| Member {
        user: user.into(),
        right,
    };
    let config = MqttConfig {
        name: "mqtt".into(),
        broker: format!("{}:{}", broker.0, broker.1),
        root: root.into(),
        set_timeout: ConfigDuration::secs(1),
        members: vec![
            member("alice", MemberRight::Control),
            member("carol", MemberRight::View),
        ],
        ..MqttConfig::default()
    };
    let settings = MqttSettings::new(&config).expect("valid settings");
    let (cluster, connection) = MqttCluster::start(settings, home.gateway.cluster_feed());
    home.tasks.spawn(connection);
    home.gateway
        .add_cluster(Cluster::Mqtt(cluster))
        .expect("cluster added");
    home
}

/// A test's scene: the home with its MQTT cluster, one Homie device under a root topic of the
/// test's own, ready in alice's list, and alice's token; None when no broker is configured
/// (skipped).
async fn scene(
    test: &str,
    id: &str,
    description: Value,
    values: &[(&str, &str)],
    echoes: bool,
) -> Option<(Home, HomieDevice, String, String)> {
    let broker = broker()?;
    let root = unique_root(test);
    let home = home_with_mqtt(&broker, &root).await;
    let device = HomieDevice::start(&broker, &root, id, description, values, echoes).await;
    let token = home.sign_in("alice").await;
    device_when(&home, &token, "alice", &format!("mqtt:{id}"), true).await;
    Some((home, device, root, token))
}

/// The scene with an echoing lamp whose brightness is 40.
async fn lamp_scene(test: &str) -> Option<(Home, HomieDevice, String, String)> {
    let values = [("light/brightness", "40")];
    scene(test, LAMP, lamp_description(), &values, true).await
}

/// Removes the device's retained topics and stops the home.
async fn end(home: Home, device: HomieDevice, topics: &[&str]) {
    device.remove(topics).await;
    home.stop().await;
}

async fn devices(home: &Home, token: &str, user: &str) -> Vec<Value> {
    let uri = format!("/users/{user}/devices");
    let (status, body) = home.call(Method::GET, &uri, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["devices"].as_array().cloned().expect("devices")
}

/// Waits until the user's list shows the device with that online status; its view.
async fn device_when(home: &Home, token: &str, user: &str, id: &str, online: bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(d) = devices(home, token, user)
            .await
            .into_iter()
            .find(|d| d["id"] == id && d["online"] == online)
        {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} online={online} within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Alice sets a property of the lamp.
async fn alice_sets(home: &Home, token: &str, property: &str, value: Value) -> (StatusCode, Value) {
    home.put(token, "alice", "mqtt:kitchen-lamp", property, value)
        .await
}

async fn subscribed(home: &Home, token: &str, device: &str, event: &str) -> String {
    let body = json!({ "deviceId": device, "event": event }).to_string();
    let (status, view) = home
        .call(
            Method::POST,
            "/users/alice/subscriptions",
            Some(token),
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    view["subscriptionId"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn homie_devices_appear_beside_igrs_ones_and_a_set_returns_the_echoed_value() {
    let Some((home, mut lamp, root, token)) = scene(
        "echo",
        LAMP,
        lamp_description(),
        &[
            ("light/on", "false"),
            ("light/brightness", "40"),
            ("light/power", "3.5"),
        ],
        true,
    )
    .await
    else {
        return;
    };
    let view = device_when(&home, &token, "alice", "mqtt:kitchen-lamp", true).await;
    assert_eq!(view["cluster"], "mqtt");
    assert_eq!(view["name"], "Kitchen lamp");
    assert_eq!(view["type"], "light");
    assert_eq!(view["right"], "control");
    assert_eq!(view["events"], json!([]));
    assert_eq!(
        view["properties"],
        json!([
            {"name": "light_brightness", "type": "integer", "access": "read-write", "unit": "%",
             "min": 0, "max": 100, "needsConfirmation": false},
            {"name": "light_on", "type": "boolean", "access": "read-write", "needsConfirmation": false},
            {"name": "light_power", "type": "number", "access": "read", "unit": "W",
             "needsConfirmation": false}
        ])
    );
    let ids: Vec<String> = devices(&home, &token, "alice")
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(ids.contains(&"igrs:lamp".to_owned()), "{ids:?}");

    let (status, read) = home
        .get(&token, "alice", "mqtt:kitchen-lamp", "light_brightness")
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(
        read,
        json!({"deviceId": "mqtt:kitchen-lamp", "property": "light_brightness", "value": 40})
    );

    let on_property = subscribed(&home, &token, "mqtt:kitchen-lamp", "property").await;
    let mut stream = EventStream::open(&home, &token, "alice").await;
    let (status, set) = alice_sets(&home, &token, "light_brightness", json!(72)).await;
    // The lamp takes 70 (its step is 5): the answer is what it published, not what was asked.
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["value"], 70);
    assert_eq!(
        lamp.next_set().await,
        (
            format!("{root}/5/{LAMP}/light/brightness/set"),
            "72".to_owned()
        )
    );
    let (_, notified) = stream.next().await;
    assert_eq!(notified["body"]["subscriptionId"], on_property.as_str());
    assert_eq!(
        notified["body"]["payload"],
        json!({"property": "light_brightness", "value": 70})
    );
    let (status, set) = alice_sets(&home, &token, "light_on", json!(true)).await;
    assert_eq!(
        (status, &set["value"]),
        (StatusCode::OK, &json!(true)),
        "{set}"
    );
    assert_eq!(lamp.next_set().await.1, "true");
    stream.next().await;

    // A value the device publishes by itself is a notification too.
    lamp.publish("light/power", "12.5").await;
    let (_, notified) = stream.next().await;
    assert_eq!(
        notified["body"]["payload"],
        json!({"property": "light_power", "value": 12.5})
    );

    // Refusals, each with its exact code, and nothing reaches the device.
    let lamp_id = "mqtt:kitchen-lamp";
    for (property, value, status, code) in [
        (
            "light_brightness",
            json!(101),
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
        ),
        (
            "light_brightness",
            json!("70"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "light_brightness",
            json!(7.5),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "light_on",
            json!("true"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "light_power",
            json!(5),
            StatusCode::METHOD_NOT_ALLOWED,
            "read_only",
        ),
        (
            "light_colour",
            json!("red"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        let got = home.put(&token, "alice", lamp_id, property, value).await;
        assert_error(got, status, code);
    }
    assert!(
        lamp.sets.try_recv().is_err(),
        "a refused set is never published"
    );
    stream.assert_quiet(Duration::from_millis(300)).await;
    end(home, lamp, &["light/on", "light/brightness", "light/power"]).await;
}

#[tokio::test]
async fn only_members_see_the_cluster_and_a_view_member_cannot_set() {
    let Some((home, mut lamp, _, _)) = lamp_scene("rights").await else {
        return;
    };
    let carol = home.sign_in("carol").await;
    let view = device_when(&home, &carol, "carol", "mqtt:kitchen-lamp", true).await;
    assert_eq!(view["right"], "view");
    let (status, read) = home
        .get(&carol, "carol", "mqtt:kitchen-lamp", "light_brightness")
        .await;
    assert_eq!((status, &read["value"]), (StatusCode::OK, &json!(40)));
    let refused = home
        .put(
            &carol,
            "carol",
            "mqtt:kitchen-lamp",
            "light_brightness",
            json!(10),
        )
        .await;
    assert_error(refused, StatusCode::FORBIDDEN, "forbidden");

    // bob is no member: the cluster's devices do not exist for him.
    let bob = home.sign_in("bob").await;
    let listed = devices(&home, &bob, "bob").await;
    assert!(listed.iter().all(|d| d["cluster"] != "mqtt"), "{listed:?}");
    let read = home
        .get(&bob, "bob", "mqtt:kitchen-lamp", "light_brightness")
        .await;
    assert_error(read, StatusCode::NOT_FOUND, "not_found");
    let set = home
        .put(
            &bob,
            "bob",
            "mqtt:kitchen-lamp",
            "light_brightness",
            json!(10),
        )
        .await;
    assert_error(set, StatusCode::NOT_FOUND, "not_found");
    let body = json!({"deviceId": "mqtt:kitchen-lamp", "event": "online"}).to_string();
    let subscribe = home
        .call(
            Method::POST,
            "/users/bob/subscriptions",
            Some(&bob),
            Some(&body),
        )
        .await;
    assert_error(subscribe, StatusCode::NOT_FOUND, "not_found");
    assert!(
        lamp.sets.try_recv().is_err(),
        "no refused set was published"
    );
    end(home, lamp, &["light/brightness"]).await;
}

#[tokio::test]
async fn a_set_without_echo_times_out_and_a_lost_device_goes_offline() {
    let Some((home, mut valve, _, token)) = scene(
        "lost",
        VALVE,
        valve_description(),
        &[("valve/open", "false")],
        false,
    )
    .await
    else {
        return;
    };

    // The valve takes the set but never publishes the new value: after the cluster's 1 s
    // set timeout, within the caller's 5 s wait, the answer is `timeout`.
    let started = tokio::time::Instant::now();
    let got = home
        .put(
            &token,
            "alice",
            "mqtt:stuck-valve",
            "valve_open",
            json!(true),
        )
        .await;
    assert_error(got, StatusCode::GATEWAY_TIMEOUT, "timeout");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(valve.next_set().await.1, "true");
    let (status, read) = home
        .get(&token, "alice", "mqtt:stuck-valve", "valve_open")
        .await;
    assert_eq!((status, &read["value"]), (StatusCode::OK, &json!(false)));

    // The device dies without a goodbye: the broker publishes its will, `$state` = `lost`.
    let on_online = subscribed(&home, &token, "mqtt:stuck-valve", "online").await;
    let mut stream = EventStream::open(&home, &token, "alice").await;
    valve.task.abort_all();
    let (_, went) = stream.next().await;
    assert_eq!(went["body"]["subscriptionId"], on_online.as_str());
    assert_eq!(went["body"]["deviceId"], "mqtt:stuck-valve");
    assert_eq!(went["body"]["payload"], json!({"online": false}));
    device_when(&home, &token, "alice", "mqtt:stuck-valve", false).await;
    let got = home
        .put(
            &token,
            "alice",
            "mqtt:stuck-valve",
            "valve_open",
            json!(true),
        )
        .await;
    assert_error(got, StatusCode::SERVICE_UNAVAILABLE, "cluster_unreachable");
    end(home, valve, &["valve/open"]).await;
}

/// Removes a device's retained topics, and its `$description` and `$state`, with a client of
/// its own.
async fn clear_retained((host, port): &(String, u16), base: &str, topics: &[&str]) {
    let options = MqttOptions::new(format!("{base}-cleaner").replace('/', "-"), host, *port);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    for topic in topics.iter().chain(&["$description", "$state"]) {
        client
            .publish(format!("{base}/{topic}"), QoS::AtLeastOnce, true, "")
            .await
            .expect("queued");
    }
    client.disconnect().await.expect("queued");
    let drain = async { while eventloop.poll().await.is_ok() {} };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
}

#[tokio::test]
async fn a_command_queued_for_a_sleeping_device_is_sent_when_it_is_ready() {
    let Some((home, mut lamp, _, token)) = lamp_scene("queue").await else {
        return;
    };
    lamp.publish("$state", "sleeping").await;
    device_when(&home, &token, "alice", "mqtt:kitchen-lamp", false).await;
    let mut stream = EventStream::open(&home, &token, "alice").await;

    let uri = "/users/alice/devices/mqtt:kitchen-lamp/properties/light_brightness";
    let body = json!({"value": 55, "queueFor": 60}).to_string();
    let (status, queued) = home.call(Method::PUT, uri, Some(&token), Some(&body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["status"], "queued");
    // What can be checked is checked when queued.
    let bad = json!({"value": 555, "queueFor": 60}).to_string();
    let refused = home.call(Method::PUT, uri, Some(&token), Some(&bad)).await;
    assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range");
    assert!(
        lamp.sets.try_recv().is_err(),
        "nothing is sent to a sleeping device"
    );

    lamp.publish("$state", "ready").await;
    assert_eq!(lamp.next_set().await.1, "55");
    let (id, result) = stream.next().await;
    assert_eq!(result["type"], "result");
    assert_eq!(id, queued["operationId"].as_str().expect("operation id"));
    assert_eq!(result["body"]["status"], "succeeded");
    assert_eq!(result["body"]["result"]["value"], 55);
    end(home, lamp, &["light/brightness"]).await;
}

/// A TCP relay to the broker whose connections the test can cut, as a network failure would;
/// it goes on accepting, so the gateway can reconnect.
struct Relay {
    port: u16,
    cut: tokio::sync::broadcast::Sender<()>,
    tasks: JoinSet<()>,
}

impl Relay {
    async fn start(broker: &(String, u16)) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (cut, _) = tokio::sync::broadcast::channel(1);
        let mut tasks = JoinSet::new();
        let (broker, cuts) = (broker.clone(), cut.clone());
        tasks.spawn(async move {
            let mut relays = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut outbound = tokio::net::TcpStream::connect((broker.0.as_str(), broker.1))
                    .await
                    .expect("broker");
                let mut cut = cuts.subscribe();
                relays.spawn(async move {
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        Relay { port, cut, tasks }
    }

    /// Drops every connection through the relay.
    fn cut(&self) {
        let _ = self.cut.send(());
    }
}

#[tokio::test]
async fn a_lost_broker_takes_the_devices_offline_until_the_gateway_reconnects() {
    let Some(broker) = broker() else { return };
    let root = unique_root("relay");
    let mut relay = Relay::start(&broker).await;
    let home = home_with_mqtt(&("127.0.0.1".to_owned(), relay.port), &root).await;
    let values = [("light/brightness", "40")];
    let lamp = HomieDevice::start(&broker, &root, LAMP, lamp_description(), &values, true).await;
    let token = home.sign_in("alice").await;
    device_when(&home, &token, "alice", "mqtt:kitchen-lamp", true).await;
    subscribed(&home, &token, "mqtt:kitchen-lamp", "online").await;
    let mut stream = EventStream::open(&home, &token, "alice").await;

    relay.cut();
    let (_, went) = stream.next().await;
    assert_eq!(went["body"]["payload"], json!({"online": false}));
    // The gateway reconnects, subscribes again, and the broker hands it the retained `ready`.
    let (_, came) = stream.next().await;
    assert_eq!(came["body"]["payload"], json!({"online": true}));
    let (status, set) = alice_sets(&home, &token, "light_brightness", json!(20)).await;
    assert_eq!(
        (status, &set["value"]),
        (StatusCode::OK, &json!(20)),
        "{set}"
    );
    relay.tasks.abort_all();
    end(home, lamp, &["light/brightness"]).await;
}
