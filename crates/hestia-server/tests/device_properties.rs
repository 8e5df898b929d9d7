//! Device properties (14543-5-8 §11.2): a device publishes its description; related entities
//! read it from the IRSP even while the device is offline; every `get` and `set` is checked
//! against it before the device sees it, and a request to the device's bare JID reaches its
//! one connection — or gets `service-unavailable` at once when it has none.

#![allow(clippy::expect_used)]

mod conversation;

use conversation::*;
use hestia_client::{Bound, ClientError};
use hestia_proto::device::{self, Access, Description, Property, PropertyType};
use hestia_proto::igrs::{DeviceRefusal, NS_DEVICE};
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_store::{AccessRight, RelationKind};
use hestia_testkit::TestServer;
use hestia_xml::Element;

fn lamp_description() -> Description {
    Description::new()
        .with_property(Property::new(
            "on",
            PropertyType::Boolean,
            Access::ReadWrite,
        ))
        .with_property(
            Property::new(
                "brightness",
                PropertyType::Integer {
                    min: Some(0),
                    max: Some(100),
                },
                Access::ReadWrite,
            )
            .with_unit("%"),
        )
        .with_property(
            Property::new(
                "power",
                PropertyType::Number {
                    min: Some(0.0),
                    max: None,
                },
                Access::Read,
            )
            .with_unit("W"),
        )
        .with_property(Property::new(
            "pin",
            PropertyType::String { max_length: 8 },
            Access::Write,
        ))
        .with_event("motion")
}

/// Alice owns the lamp, Carol may only view it, Mallory is a stranger; the lamp has
/// described itself.
async fn home() -> TestServer {
    let t = TestServer::start().await.expect("server");
    for user in ["alice", "carol", "mallory"] {
        t.add_user(user).await.expect("user");
    }
    t.add_device("lamp", "lamp").await.expect("lamp");
    t.own("alice", "lamp").await.expect("own");
    t.relate(
        "carol",
        "lamp",
        RelationKind::Shared,
        Some(AccessRight::View),
    )
    .await
    .expect("share");
    let mut lamp = t.login("lamp").await.expect("lamp logs in");
    let describe = iq("set", "d1", None, lamp_description().to_element());
    lamp.iq(describe).await.expect("the lamp describes itself");
    lamp.close().await.expect("close");
    t
}

fn lamp_jid(t: &TestServer) -> String {
    format!("lamp@{}", t.domain())
}

fn set(pairs: &[(&str, &str)]) -> Element {
    device::with_values(
        device::SET,
        pairs.iter().map(|(n, v)| (*n, (*v).to_owned())),
    )
}

#[track_caller]
fn assert_device_refusal(answer: Result<Element, ClientError>, refusal: DeviceRefusal) {
    let err = match answer {
        Ok(el) => panic!("expected {refusal:?}, got {el}"),
        Err(e) => e,
    };
    let error = err.stanza_error().unwrap_or_else(|| panic!("{err}"));
    assert_eq!(error.condition, refusal.condition(), "{error}");
    assert_eq!(DeviceRefusal::of(error), Some(refusal), "{error}");
}

/// The lamp answers one request with `reply(request)` as its result payload.
async fn answer_one(lamp: &mut Bound, reply: impl FnOnce(&Element) -> Element) -> Element {
    let request = lamp.recv().await.expect("the lamp receives a request");
    assert_eq!(request.name(), "iq", "{request}");
    let payload = hestia_proto::stanza::iq_payload(&request).expect("payload");
    let result = Element::new("iq", ns::CLIENT)
        .with_attr("type", "result")
        .with_attr("id", request.attr("id").unwrap_or_default())
        .with_attr("to", request.attr("from").unwrap_or_default())
        .with_child(reply(payload));
    lamp.send(&result).await.expect("the lamp answers");
    request
}

#[tokio::test]
async fn the_description_is_answered_by_the_irsp_while_the_device_is_offline() {
    let t = home().await;
    let mut carol = t.login("carol").await.expect("carol");
    let got = carol
        .iq(iq(
            "get",
            "q1",
            Some(&lamp_jid(&t)),
            Element::new("describe", NS_DEVICE),
        ))
        .await
        .expect("carol, with view, reads the description");
    let described = Description::parse(got.get_child("describe", NS_DEVICE).expect("describe"))
        .expect("parses");
    assert_eq!(described, lamp_description());

    let mut mallory = t.login("mallory").await.expect("mallory");
    let refused = mallory
        .iq(iq(
            "get",
            "q2",
            Some(&lamp_jid(&t)),
            Element::new("describe", NS_DEVICE),
        ))
        .await;
    assert_condition(refused, Cond::ServiceUnavailable);
    t.stop().await;
}

#[tokio::test]
async fn only_devices_publish_descriptions_and_only_well_formed_ones() {
    let t = home().await;
    let mut alice = t.login("alice").await.expect("alice");
    let by_user = alice
        .iq(iq("set", "d", None, lamp_description().to_element()))
        .await;
    assert_device_refusal(by_user, DeviceRefusal::NotADevice);

    let mut lamp = t.login("lamp").await.expect("lamp");
    let bad = Element::new("describe", NS_DEVICE).with_child(
        Element::new("property", NS_DEVICE)
            .with_attr("name", "level")
            .with_attr("type", "integer")
            .with_attr("min", "10")
            .with_attr("max", "1"),
    );
    assert_device_refusal(
        lamp.iq(iq("set", "d", None, bad)).await,
        DeviceRefusal::BadDescription,
    );
    // The refused description replaced nothing.
    let got = alice
        .iq(iq(
            "get",
            "q",
            Some(&lamp_jid(&t)),
            Element::new("describe", NS_DEVICE),
        ))
        .await
        .expect("describe");
    let described =
        Description::parse(got.get_child("describe", NS_DEVICE).expect("describe")).expect("ok");
    assert_eq!(described, lamp_description());
    t.stop().await;
}

#[tokio::test]
async fn a_set_out_of_range_or_read_only_is_refused_before_the_device_sees_it() {
    let t = home().await;
    let mut lamp = t.login_available("lamp").await.expect("lamp");
    let mut alice = t.login("alice").await.expect("alice");
    let lamp_full = lamp.jid().to_string();
    let cases = [
        (("brightness", "101"), DeviceRefusal::OutOfRange),
        (("brightness", "dim"), DeviceRefusal::WrongType),
        (("on", "maybe"), DeviceRefusal::WrongType),
        (("pin", "123456789"), DeviceRefusal::OutOfRange),
        (("power", "5"), DeviceRefusal::ReadOnly),
        (("colour", "red"), DeviceRefusal::UnknownProperty),
    ];
    for (n, ((name, value), refusal)) in cases.into_iter().enumerate() {
        let answer = alice
            .iq(iq(
                "set",
                &format!("s{n}"),
                Some(&lamp_full),
                set(&[(name, value)]),
            ))
            .await;
        assert_device_refusal(answer, refusal);
    }
    let write_only = alice
        .iq(iq(
            "get",
            "g",
            Some(&lamp_full),
            device::get_request(["pin"]),
        ))
        .await;
    assert_device_refusal(write_only, DeviceRefusal::WriteOnly);
    assert_quiet(&mut lamp).await;
    t.stop().await;
}

#[tokio::test]
async fn a_valid_set_to_the_bare_jid_reaches_the_device_and_its_answer_comes_back() {
    let t = home().await;
    let mut lamp = t.login_available("lamp").await.expect("lamp");
    let mut alice = t.login("alice").await.expect("alice");
    let alice_jid = alice.jid().to_string();
    let request = iq(
        "set",
        "s1",
        Some(&lamp_jid(&t)),
        set(&[("on", "true"), ("brightness", "40")]),
    );
    let (answer, seen) = tokio::join!(
        alice.iq(request),
        answer_one(&mut lamp, |_| Element::new("set", NS_DEVICE))
    );
    answer.expect("alice's set succeeds");
    assert_eq!(seen.attr("from"), Some(alice_jid.as_str()));
    let values: Vec<(String, String)> =
        device::assignments(seen.get_child("set", NS_DEVICE).expect("set payload"))
            .expect("pairs")
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
    assert_eq!(
        values,
        [
            ("on".into(), "true".into()),
            ("brightness".into(), "40".into())
        ]
    );

    let get = iq(
        "get",
        "g1",
        Some(&lamp_jid(&t)),
        device::get_request(["power"]),
    );
    let (answer, _) = tokio::join!(
        alice.iq(get),
        answer_one(&mut lamp, |_| device::with_values(
            device::GET,
            [("power", "7.5".to_owned())]
        ))
    );
    let answer = answer.expect("alice reads power");
    let pairs = device::assignments(answer.get_child("get", NS_DEVICE).expect("get")).expect("ok");
    assert_eq!(pairs, [("power", "7.5")]);
    t.stop().await;
}

#[tokio::test]
async fn view_may_read_but_not_set_and_an_offline_device_is_unavailable_at_once() {
    let t = home().await;
    let mut carol = t.login("carol").await.expect("carol");
    let set_on = iq("set", "s", Some(&lamp_jid(&t)), set(&[("on", "true")]));
    assert_condition(carol.iq(set_on).await, Cond::ServiceUnavailable);

    let started = std::time::Instant::now();
    let get = iq("get", "g", Some(&lamp_jid(&t)), device::get_request(["on"]));
    assert_condition(carol.iq(get).await, Cond::ServiceUnavailable);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "an offline device answers at once, not by timeout"
    );

    let mut lamp = t.login_available("lamp").await.expect("lamp");
    let get = iq(
        "get",
        "g2",
        Some(&lamp_jid(&t)),
        device::get_request(["on"]),
    );
    let (answer, _) = tokio::join!(
        carol.iq(get),
        answer_one(&mut lamp, |_| device::with_values(
            device::GET,
            [("on", "false".to_owned())]
        ))
    );
    answer.expect("carol, with view, reads the lamp");
    t.stop().await;
}
