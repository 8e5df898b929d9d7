//! POST /admin/v1/push (14543-5-8 §11.5): a `<notice/>` server push to one entity, to all
//! devices of a user, or to all devices of a type; stored for offline recipients (delivered at
//! their next presence with a delay stamp) unless `transient`, when it is a headline for online
//! connections only. Malformed requests get 400, an unknown account 404.

#![allow(clippy::expect_used)]

mod conversation;

use conversation::*;
use hestia_proto::igrs::NS_PUSH;
use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;
use serde_json::json;

async fn home() -> TestServer {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    for (id, kind) in [("lamp-1", "lamp"), ("lamp-2", "lamp"), ("plug-1", "plug")] {
        t.add_device(id, kind).await.expect("device");
    }
    t.own("alice", "lamp-1").await.expect("own");
    t.own("alice", "plug-1").await.expect("own");
    t
}

/// The notice of a push message, if `el` is one.
fn notice(el: &Element) -> Option<&Element> {
    (el.name() == "message")
        .then(|| el.get_child("push", NS_PUSH))
        .flatten()
        .and_then(|p| p.get_child("notice", NS_PUSH))
}

async fn available(t: &TestServer, name: &str) -> hestia_client::Bound {
    let mut c = t.login_available(name).await.expect("login");
    while c.recv_timeout(QUIET).await.expect("stream").is_some() {}
    c
}

#[tokio::test]
async fn a_push_to_one_online_device_arrives_at_once() {
    let t = home().await;
    let mut lamp = available(&t, "lamp-1").await;
    let reply = Admin::of(&t)
        .post(
            "/admin/v1/push",
            json!({ "to": "lamp-1", "text": "firmware 2.1 is ready", "subject": "update" }),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({ "recipients": 1, "delivered": 1, "stored": 0, "dropped": 0 })
    );
    let got = lamp.recv().await.expect("push");
    assert_eq!(got.attr("from"), Some(t.domain().as_str()));
    assert_eq!(got.attr("type"), Some("normal"));
    let n = notice(&got).expect("notice");
    assert_eq!(n.text(), "firmware 2.1 is ready");
    assert_eq!(n.attr("subject"), Some("update"));
    t.stop().await;
}

#[tokio::test]
async fn pushes_to_a_users_devices_are_stored_for_the_offline_ones() {
    let t = home().await;
    let mut plug = available(&t, "plug-1").await;
    let reply = Admin::of(&t)
        .post(
            "/admin/v1/push",
            json!({ "devices_of": "alice", "text": "power cut at 14:00" }),
        )
        .await;
    assert_eq!(
        reply.json(),
        json!({ "recipients": 2, "delivered": 1, "stored": 1, "dropped": 0 })
    );
    assert!(notice(&plug.recv().await.expect("push")).is_some());
    // lamp-2 is not alice's: nothing for it. lamp-1 gets its push at its next presence.
    assert_eq!(
        t.server
            .irsp
            .store
            .count_offline("lamp-2")
            .await
            .expect("store"),
        0
    );
    let mut lamp = t.login("lamp-1").await.expect("lamp");
    lamp.send_presence().await.expect("presence");
    let mut stored = None;
    while let Some(el) = lamp.recv_timeout(QUIET).await.expect("stream") {
        if notice(&el).is_some() {
            stored = Some(el);
        }
    }
    let stored = stored.expect("the stored push arrived");
    assert_eq!(
        notice(&stored).map(Element::text).as_deref(),
        Some("power cut at 14:00")
    );
    assert!(stored.get_child("delay", ns::DELAY).is_some(), "{stored}");
    t.stop().await;
}

#[tokio::test]
async fn transient_pushes_to_a_device_type_reach_online_devices_only() {
    let t = home().await;
    let mut lamp = available(&t, "lamp-2").await;
    let reply = Admin::of(&t)
        .post(
            "/admin/v1/push",
            json!({ "device_type": "lamp", "text": "storm warning", "transient": true }),
        )
        .await;
    assert_eq!(
        reply.json(),
        json!({ "recipients": 2, "delivered": 1, "stored": 0, "dropped": 1 })
    );
    let got = lamp.recv().await.expect("push");
    assert_eq!(got.attr("type"), Some("headline"));
    assert!(notice(&got).is_some());
    assert_eq!(
        t.server
            .irsp
            .store
            .count_offline("lamp-1")
            .await
            .expect("store"),
        0
    );
    t.stop().await;
}

#[tokio::test]
async fn malformed_pushes_are_refused() {
    let t = home().await;
    let admin = Admin::of(&t);
    for body in [
        json!({ "text": "to nobody" }),
        json!({ "to": "lamp-1", "device_type": "lamp", "text": "two targets" }),
        json!({ "devices_of": "lamp-1", "text": "a device has no devices" }),
        json!({ "to": "lamp-1", "text": "x".repeat(4097) }),
    ] {
        let reply = admin.post("/admin/v1/push", body.clone()).await;
        assert_eq!(reply.status, 400, "{body} → {reply:?}");
        assert_eq!(reply.json()["code"], "bad_request");
    }
    let unknown = admin
        .post("/admin/v1/push", json!({ "to": "ghost", "text": "hello?" }))
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    let unauthenticated = admin
        .with_token(None)
        .post("/admin/v1/push", json!({ "to": "lamp-1", "text": "x" }))
        .await;
    assert_eq!(unauthenticated.status, 401);
    t.stop().await;
}
