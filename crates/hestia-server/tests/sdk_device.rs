//! The device SDK and the simulator against a real server: a simulated device registers itself,
//! describes itself, answers checked `get`/`set`, publishes the events its changes cause, answers
//! the server's keep-alive pings while idle, and reconnects by itself after its connection drops.

#![allow(clippy::expect_used)]

mod conversation;

use std::time::{Duration, Instant};

use conversation::*;
use hestia_client::device::{Backoff, Device, DeviceIdentity, Value};
use hestia_client::simulator::{self, Behaviour, Kind};
use hestia_proto::device::{self, event_node};
use hestia_proto::igrs::NS_DEVICE;
use hestia_proto::ns;
use hestia_testkit::{PASSWORD, TestServer};
use hestia_xml::Element;
use tokio::task::JoinSet;

fn quick_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        max_attempts: Some(40),
    }
}

/// Registers and starts a simulated device, running it on `tasks`.
async fn simulate(
    t: &TestServer,
    tasks: &mut JoinSet<()>,
    kind: Kind,
    id: &str,
    behaviour: Behaviour,
) {
    let device = simulator::start(t.options(), kind, id, PASSWORD, 1, "246810")
        .await
        .expect("the simulated device registers and logs in")
        .with_backoff(quick_backoff());
    tasks.spawn(async move {
        let _ = simulator::run(device, kind, behaviour).await;
    });
}

fn set(pairs: &[(&str, &str)]) -> Element {
    device::with_values(
        device::SET,
        pairs.iter().map(|(n, v)| (*n, (*v).to_owned())),
    )
}

fn values(answer: &Element) -> Vec<(String, String)> {
    let get = answer.get_child("get", NS_DEVICE).expect("get payload");
    device::assignments(get)
        .expect("pairs")
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test]
async fn a_simulated_lamp_registers_answers_and_publishes_what_its_changes_cause() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut tasks = JoinSet::new();
    simulate(&t, &mut tasks, Kind::Lamp, "lamp-1", Behaviour::default()).await;
    t.own("alice", "lamp-1").await.expect("own");
    let lamp = format!("lamp-1@{}", t.domain());
    let mut alice = t.login_available("alice").await.expect("alice");
    let me = format!("alice@{}", t.domain());
    let subscribe = Element::new("pubsub", ns::PUBSUB).with_child(
        Element::new("subscribe", ns::PUBSUB)
            .with_attr("node", event_node("switched"))
            .with_attr("jid", me.as_str()),
    );
    alice
        .iq(iq("set", "sub", Some(&lamp), subscribe))
        .await
        .expect("subscribe");

    let before = alice
        .iq(iq("get", "g0", Some(&lamp), device::get_request(["on"])))
        .await
        .expect("read");
    assert_eq!(values(&before), [("on".to_owned(), "false".to_owned())]);
    alice
        .iq(iq("set", "s1", Some(&lamp), set(&[("on", "true")])))
        .await
        .expect("switch on");
    let after = alice
        .iq(iq("get", "g1", Some(&lamp), device::get_request([])))
        .await
        .expect("read all");
    assert_eq!(
        values(&after),
        [
            ("on".to_owned(), "true".to_owned()),
            ("brightness".to_owned(), "80".to_owned())
        ]
    );
    // The switch caused an event; alice, subscribed, hears of it.
    let event = loop {
        let got = alice.recv().await.expect("notification");
        if got.get_child("event", ns::PUBSUB_EVENT).is_some() {
            break got;
        }
    };
    let switched = event
        .get_child("event", ns::PUBSUB_EVENT)
        .and_then(|e| e.get_child("items", ns::PUBSUB_EVENT))
        .and_then(|i| i.get_child("item", ns::PUBSUB_EVENT))
        .and_then(|i| i.get_child("switched", NS_DEVICE))
        .and_then(|s| s.attr("on"));
    assert_eq!(switched, Some("true"), "{event}");
    tasks.abort_all();
    t.stop().await;
}

#[tokio::test]
async fn a_slow_device_answers_later_without_blocking_its_loop() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut tasks = JoinSet::new();
    let slow = Behaviour {
        response_delay: Duration::from_millis(600),
        ..Behaviour::default()
    };
    simulate(&t, &mut tasks, Kind::Thermostat, "thermo-1", slow).await;
    t.own("alice", "thermo-1").await.expect("own");
    let thermo = format!("thermo-1@{}", t.domain());
    let mut alice = t.login("alice").await.expect("alice");
    let started = Instant::now();
    let (a, b) = (
        iq("get", "a", Some(&thermo), device::get_request(["setpoint"])),
        iq("get", "b", Some(&thermo), device::get_request(["mode"])),
    );
    alice.send(&a).await.expect("send a");
    let answer_b = alice.iq(b).await.expect("b answered");
    let elapsed = started.elapsed();
    assert_eq!(values(&answer_b), [("mode".to_owned(), "heat".to_owned())]);
    assert!(
        elapsed >= Duration::from_millis(600),
        "answered after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1100),
        "the two slow answers overlapped ({elapsed:?}), so the loop was not blocked"
    );
    let answer_a = alice.recv().await.expect("a answered");
    assert_eq!(answer_a.attr("id"), Some("a"));
    // The device refuses what its description forbids even if a server let it through.
    let refused = alice
        .iq(iq("set", "s", Some(&thermo), set(&[("setpoint", "99")])))
        .await;
    assert_condition(refused, hestia_proto::StanzaErrorCondition::BadRequest);
    tasks.abort_all();
    t.stop().await;
}

#[tokio::test]
async fn an_idle_device_answers_keepalive_pings_and_reconnects_after_a_drop() {
    let t = TestServer::start_with(|cfg| {
        cfg.c2s.keepalive_interval = hestia_config::Duration(Duration::from_millis(500));
        cfg.c2s.keepalive_timeout = hestia_config::Duration(Duration::from_millis(500));
    })
    .await
    .expect("server");
    t.add_user("alice").await.expect("alice");
    let identity =
        DeviceIdentity::new("plug-1", PASSWORD).registering(Kind::Plug.registration(1, "135791"));
    let mut plug = Device::start(t.options(), identity, Kind::Plug.description())
        .await
        .expect("plug")
        .with_backoff(quick_backoff());
    t.own("alice", "plug-1").await.expect("own");
    let first = plug.jid().cloned().expect("bound");

    // Idle for several keep-alive windows: the SDK answers every ping, so no reconnect.
    let idle_until = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(request) = tokio::time::timeout_at(idle_until, plug.next()).await {
        // Only its own presence comes back; no request reaches the device's code.
        match request.expect("device loop") {
            hestia_client::device::Request::Stanza(s) if s.name() == "presence" => {}
            other => panic!("unexpected while idle: {other:?}"),
        }
    }
    assert_eq!(
        plug.reconnects(),
        0,
        "the server dropped an idle device that answers pings"
    );
    assert_eq!(plug.jid(), Some(&first));

    // The network goes away; the next call reconnects by itself.
    plug.drop_connection();
    let mut tasks = JoinSet::new();
    let serve = async move {
        loop {
            match plug.next().await.expect("device loop") {
                hestia_client::device::Request::Get(get) => {
                    get.reply(Ok(vec![("on".into(), Value::Boolean(true))]))
                }
                hestia_client::device::Request::Set(set) => set.reply(Ok(())),
                hestia_client::device::Request::Stanza(_) => {}
            }
        }
    };
    tasks.spawn(serve);
    let mut alice = t.login("alice").await.expect("alice");
    let plug_bare = format!("plug-1@{}", t.domain());
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let get = iq("get", "g", Some(&plug_bare), device::get_request(["on"]));
        match alice.iq(get).await {
            Ok(answer) => break answer,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the plug never came back: {e}"),
        }
    };
    assert_eq!(values(&answer), [("on".to_owned(), "true".to_owned())]);
    tasks.abort_all();
    t.stop().await;
}

#[tokio::test]
async fn a_dropped_device_resumes_its_session_and_answers_what_was_sent_meanwhile() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let identity =
        DeviceIdentity::new("plug-2", PASSWORD).registering(Kind::Plug.registration(2, "135791"));
    let mut plug = Device::start(t.options(), identity, Kind::Plug.description())
        .await
        .expect("plug")
        .with_backoff(quick_backoff());
    t.own("alice", "plug-2").await.expect("own");
    let jid = plug.jid().cloned().expect("bound");
    let mut alice = t.login("alice").await.expect("alice");

    // The network drops; alice asks the plug's connection meanwhile.
    plug.drop_connection();
    let get = iq(
        "get",
        "while-away",
        Some(&jid.to_string()),
        device::get_request(["on"]),
    );
    alice.send(&get).await.expect("send");
    let mut device = JoinSet::new();
    device.spawn(async move {
        loop {
            if let hestia_client::device::Request::Get(get) = plug.next().await.expect("loop") {
                get.reply(Ok(vec![("on".into(), Value::Boolean(true))]));
                // Let the answer go out before handing the device back.
                let _ = tokio::time::timeout(Duration::from_millis(200), plug.next()).await;
                return plug;
            }
        }
    });
    let answer = alice.recv().await.expect("the answer arrives");
    assert_eq!(answer.attr("id"), Some("while-away"));
    assert_eq!(answer.attr("type"), Some("result"), "{answer}");
    let plug = device
        .join_next()
        .await
        .expect("device task")
        .expect("device task ran");
    assert_eq!(
        plug.resumptions(),
        1,
        "the session was resumed, not started anew"
    );
    assert_eq!(
        plug.jid(),
        Some(&jid),
        "same connection ID after resumption"
    );
    assert_quiet(&mut alice).await;
    t.stop().await;
}
