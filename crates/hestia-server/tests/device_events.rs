//! Device events (XEP-0163 over XEP-0060): a device publishes to a node of an event it
//! described; subscribers holding `view` get a headline notification on every available
//! connection, the last item on subscribing and again at their next login (with its delay
//! stamp); strangers cannot subscribe and nobody but the device publishes.

#![allow(clippy::expect_used)]

mod conversation;

use conversation::*;
use hestia_client::Bound;
use hestia_proto::device::{Description, event_node};
use hestia_proto::igrs::{DeviceRefusal, NS_DEVICE};
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_store::{AccessRight, RelationKind};
use hestia_testkit::TestServer;
use hestia_xml::Element;

async fn home() -> TestServer {
    let t = TestServer::start().await.expect("server");
    for user in ["alice", "carol", "mallory"] {
        t.add_user(user).await.expect("user");
    }
    t.add_device("cam", "camera-motion").await.expect("cam");
    t.own("alice", "cam").await.expect("own");
    t.relate(
        "carol",
        "cam",
        RelationKind::Shared,
        Some(AccessRight::View),
    )
    .await
    .expect("share");
    let mut cam = t.login("cam").await.expect("cam");
    let description = Description::new().with_event("motion");
    cam.iq(iq("set", "d", None, description.to_element()))
        .await
        .expect("describe");
    cam.close().await.expect("close");
    t
}

fn pubsub(op: Element) -> Element {
    Element::new("pubsub", ns::PUBSUB).with_child(op)
}

fn subscribe(jid: &str, event: &str) -> Element {
    pubsub(
        Element::new("subscribe", ns::PUBSUB)
            .with_attr("node", event_node(event))
            .with_attr("jid", jid),
    )
}

fn publish(event: &str, id: &str, zone: &str) -> Element {
    pubsub(
        Element::new("publish", ns::PUBSUB)
            .with_attr("node", event_node(event))
            .with_child(
                Element::new("item", ns::PUBSUB)
                    .with_attr("id", id)
                    .with_child(Element::new("motion", NS_DEVICE).with_attr("zone", zone)),
            ),
    )
}

/// The item id and zone of a notification, asserting its shape.
#[track_caller]
fn notified(message: &Element, from: &str) -> (String, String) {
    assert_eq!(message.name(), "message", "{message}");
    assert_eq!(message.attr("type"), Some("headline"), "{message}");
    assert_eq!(message.attr("from"), Some(from), "{message}");
    let items = message
        .get_child("event", ns::PUBSUB_EVENT)
        .and_then(|e| e.get_child("items", ns::PUBSUB_EVENT))
        .unwrap_or_else(|| panic!("no items: {message}"));
    assert_eq!(items.attr("node"), Some(event_node("motion").as_str()));
    let item = items.get_child("item", ns::PUBSUB_EVENT).expect("item");
    let zone = item
        .get_child("motion", NS_DEVICE)
        .and_then(|m| m.attr("zone"))
        .unwrap_or_default();
    (
        item.attr("id").unwrap_or_default().to_owned(),
        zone.to_owned(),
    )
}

async fn subscribed(t: &TestServer, user: &str) -> Bound {
    let mut client = t.login_available(user).await.expect("login");
    let me = format!("{user}@{}", t.domain());
    let cam = format!("cam@{}", t.domain());
    let result = client
        .iq(iq("set", "sub", Some(&cam), subscribe(&me, "motion")))
        .await
        .expect("subscribe");
    let sub = result
        .get_child("pubsub", ns::PUBSUB)
        .and_then(|p| p.get_child("subscription", ns::PUBSUB))
        .expect("subscription");
    assert_eq!(sub.attr("subscription"), Some("subscribed"));
    client
}

#[tokio::test]
async fn a_published_event_reaches_every_subscriber_with_view() {
    let t = home().await;
    let cam_bare = format!("cam@{}", t.domain());
    let mut alice = subscribed(&t, "alice").await;
    let mut carol = subscribed(&t, "carol").await;
    let mut mallory = t.login_available("mallory").await.expect("mallory");
    let mut cam = t.login_available("cam").await.expect("cam");
    // Alice owns the camera and so also receives its presence; skip it.
    let _ = alice.recv_timeout(QUIET).await;
    let _ = carol.recv_timeout(QUIET).await;

    let result = cam
        .iq(iq("set", "p1", None, publish("motion", "m1", "hall")))
        .await
        .expect("publish");
    let published = result
        .get_child("pubsub", ns::PUBSUB)
        .and_then(|p| p.get_child("publish", ns::PUBSUB))
        .and_then(|p| p.get_child("item", ns::PUBSUB))
        .and_then(|i| i.attr("id"));
    assert_eq!(published, Some("m1"));
    for client in [&mut alice, &mut carol] {
        let got = client.recv().await.expect("notification");
        assert_eq!(notified(&got, &cam_bare), ("m1".into(), "hall".into()));
        assert!(got.get_child("delay", ns::DELAY).is_none(), "live: {got}");
    }
    assert_quiet(&mut mallory).await;
    t.stop().await;
}

#[tokio::test]
async fn a_subscriber_who_was_away_gets_the_last_item_at_login() {
    let t = home().await;
    let cam_bare = format!("cam@{}", t.domain());
    let carol = subscribed(&t, "carol").await;
    carol.close().await.expect("carol leaves");
    let mut cam = t.login_available("cam").await.expect("cam");
    for (id, zone) in [("m1", "hall"), ("m2", "garden")] {
        cam.iq(iq("set", id, None, publish("motion", id, zone)))
            .await
            .expect("publish");
    }
    let mut carol = t.login_available("carol").await.expect("carol returns");
    let mut notifications = Vec::new();
    while let Some(got) = carol.recv_timeout(QUIET).await.expect("recv") {
        if got.get_child("event", ns::PUBSUB_EVENT).is_some() {
            assert!(
                got.get_child("delay", ns::DELAY).is_some(),
                "stamped: {got}"
            );
            notifications.push(notified(&got, &cam_bare));
        }
    }
    assert_eq!(notifications, [("m2".to_owned(), "garden".to_owned())]);

    // The same item is there to retrieve.
    let items = pubsub(Element::new("items", ns::PUBSUB).with_attr("node", event_node("motion")));
    let got = carol
        .iq(iq("get", "items", Some(&cam_bare), items))
        .await
        .expect("items");
    let ids: Vec<&str> = got
        .get_child("pubsub", ns::PUBSUB)
        .and_then(|p| p.get_child("items", ns::PUBSUB))
        .map(|i| i.children().filter_map(|c| c.attr("id")).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["m2"]);
    t.stop().await;
}

#[tokio::test]
async fn strangers_cannot_subscribe_and_bad_requests_get_their_xep_0060_errors() {
    let t = home().await;
    let cam = format!("cam@{}", t.domain());
    let mut mallory = t.login("mallory").await.expect("mallory");
    let me = format!("mallory@{}", t.domain());
    let refused = mallory
        .iq(iq("set", "s", Some(&cam), subscribe(&me, "motion")))
        .await;
    assert_condition(refused, Cond::ServiceUnavailable);

    let mut carol = t.login("carol").await.expect("carol");
    let carol_bare = format!("carol@{}", t.domain());
    let for_alice = format!("alice@{}", t.domain());
    let err = carol
        .iq(iq("set", "s1", Some(&cam), subscribe(&for_alice, "motion")))
        .await
        .expect_err("subscribing someone else");
    let error = err.stanza_error().expect("stanza error");
    assert_eq!(error.condition, Cond::BadRequest);
    assert!(
        error
            .app
            .as_ref()
            .is_some_and(|a| a.is("invalid-jid", ns::PUBSUB_ERRORS))
    );

    let err = carol
        .iq(iq(
            "set",
            "s2",
            Some(&cam),
            subscribe(&carol_bare, "doorbell"),
        ))
        .await
        .expect_err("an event the camera never described");
    assert_eq!(
        DeviceRefusal::of(err.stanza_error().expect("error")),
        Some(DeviceRefusal::UnknownEvent)
    );

    let unsubscribe = pubsub(
        Element::new("unsubscribe", ns::PUBSUB)
            .with_attr("node", event_node("motion"))
            .with_attr("jid", carol_bare.as_str()),
    );
    let err = carol
        .iq(iq("set", "u", Some(&cam), unsubscribe))
        .await
        .expect_err("not subscribed");
    let error = err.stanza_error().expect("stanza error");
    assert_eq!(error.condition, Cond::UnexpectedRequest);
    assert!(
        error
            .app
            .as_ref()
            .is_some_and(|a| a.is("not-subscribed", ns::PUBSUB_ERRORS))
    );
    t.stop().await;
}

#[tokio::test]
async fn only_the_device_publishes_and_only_described_events() {
    let t = home().await;
    let mut alice = t.login("alice").await.expect("alice");
    let cam = format!("cam@{}", t.domain());
    let to_cam = alice
        .iq(iq("set", "p", Some(&cam), publish("motion", "x", "hall")))
        .await;
    assert_condition(to_cam, Cond::Forbidden);
    let own = alice
        .iq(iq("set", "p2", None, publish("motion", "x", "hall")))
        .await;
    let err = own.expect_err("a user has no event nodes");
    assert_eq!(
        DeviceRefusal::of(err.stanza_error().expect("error")),
        Some(DeviceRefusal::NotADevice)
    );

    let mut cam_client = t.login("cam").await.expect("cam");
    let undescribed = cam_client
        .iq(iq("set", "p3", None, publish("smoke", "x", "hall")))
        .await
        .expect_err("undescribed event");
    assert_eq!(
        DeviceRefusal::of(undescribed.stanza_error().expect("error")),
        Some(DeviceRefusal::UnknownEvent)
    );
    t.stop().await;
}
