//! The in-process application-server interface (14543-5-9 §7.3, §8.3): an application server
//! acts only for accounts that granted it, and then with exactly their relationships and
//! rights; it hears the presence and device events the account hears without making the
//! account look online, so what waits for the account's own login is still stored; revoking the
//! grant ends its sessions at once.

#![allow(clippy::expect_used)]

mod conversation;

use conversation::*;
use hestia_proto::device::{self, event_node};
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_router::appserver::{AppError, AppServer, PushTo};
use hestia_router::push::Retention;
use hestia_store::{AccessRight, RelationKind};
use hestia_testkit::TestServer;
use hestia_xml::Element;
use tokio::task::JoinSet;

/// Alice owns the lamp; carol may only view it; the lamp runs on the SDK, answering
/// `on=true` to every get.
async fn home(tasks: &mut JoinSet<()>) -> TestServer {
    let t = TestServer::start().await.expect("server");
    for u in ["alice", "bob", "carol"] {
        t.add_user(u).await.expect("user");
    }
    t.befriend("alice", "bob").await.expect("friends");
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
    t.spawn_sdk_lamp("lamp", tasks).await.expect("lamp");
    t
}

fn set_on() -> Element {
    device::with_values(device::SET, [("on", "false".to_owned())])
}

#[tokio::test]
async fn an_application_server_acts_only_for_grantors_and_with_their_rights() {
    let mut tasks = JoinSet::new();
    let t = home(&mut tasks).await;
    let irsp = t.server.irsp.clone();
    let lamp = format!("lamp@{}", t.domain());
    assert!(matches!(
        AppServer::new(irsp.clone(), "Bad Name"),
        Err(AppError::BadName)
    ));
    let app = AppServer::new(irsp, "gateway").expect("app");
    assert!(matches!(
        app.act_for("alice").await,
        Err(AppError::NotGranted(_))
    ));
    assert!(matches!(
        app.grant("ghost").await,
        Err(AppError::NoSuchAccount)
    ));

    app.grant("alice").await.expect("alice grants");
    app.grant("carol").await.expect("carol grants");
    let mut as_alice = app.act_for("alice").await.expect("act for alice");
    let read = as_alice
        .iq(iq("get", "g1", Some(&lamp), device::get_request(["on"])))
        .await
        .expect("alice may read her lamp");
    let values = device::assignments(
        read.get_child("get", hestia_proto::igrs::NS_DEVICE)
            .expect("get"),
    )
    .expect("pairs");
    assert_eq!(values, [("on", "true")]);
    as_alice
        .iq(iq("set", "s1", Some(&lamp), set_on()))
        .await
        .expect("alice may control her lamp");

    // Carol's grant gives the server carol's rights: view, not control.
    let mut as_carol = app.act_for("carol").await.expect("act for carol");
    as_carol
        .iq(iq("get", "g2", Some(&lamp), device::get_request(["on"])))
        .await
        .expect("carol may read");
    let refused = as_carol.iq(iq("set", "s2", Some(&lamp), set_on())).await;
    match refused {
        Err(AppError::Stanza(e)) => assert_eq!(e.condition, Cond::ServiceUnavailable),
        other => panic!("carol's set must be refused as for carol herself: {other:?}"),
    }
    tasks.abort_all();
    t.stop().await;
}

#[tokio::test]
async fn the_observer_hears_events_but_the_account_stays_offline_for_messages() {
    let mut tasks = JoinSet::new();
    let t = home(&mut tasks).await;
    let app = AppServer::new(t.server.irsp.clone(), "gateway").expect("app");
    app.grant("alice").await.expect("grant");
    let mut as_alice = app.act_for("alice").await.expect("act");
    let lamp = format!("lamp@{}", t.domain());
    let subscribe = Element::new("pubsub", ns::PUBSUB).with_child(
        Element::new("subscribe", ns::PUBSUB)
            .with_attr("node", event_node("switched"))
            .with_attr("jid", format!("alice@{}", t.domain())),
    );
    as_alice
        .iq(iq("set", "sub", Some(&lamp), subscribe))
        .await
        .expect("subscribe");
    as_alice
        .iq(iq("set", "s", Some(&lamp), set_on()))
        .await
        .expect("set");

    // A second lamp connection publishes an event (the SDK lamp answers sets without one).
    let mut publisher = t.login("lamp").await.expect("lamp publishes");
    let item = Element::new("switched", hestia_proto::igrs::NS_DEVICE).with_attr("on", "false");
    let publish = Element::new("pubsub", ns::PUBSUB).with_child(
        Element::new("publish", ns::PUBSUB)
            .with_attr("node", event_node("switched"))
            .with_child(
                Element::new("item", ns::PUBSUB)
                    .with_attr("id", "e1")
                    .with_child(item),
            ),
    );
    publisher
        .iq(iq("set", "p", None, publish))
        .await
        .expect("publish");
    let heard = loop {
        let got = as_alice.recv().await.expect("observer stanza");
        if got.get_child("event", ns::PUBSUB_EVENT).is_some() {
            break got;
        }
    };
    assert_eq!(heard.attr("from"), Some(lamp.as_str()));

    // Bob writes to alice: only the observer is bound, so the message waits for alice.
    let mut bob = t.login("bob").await.expect("bob");
    bob.send(&chat(&format!("alice@{}", t.domain()), "are you home?"))
        .await
        .expect("send");
    bob.ping().await.expect("handled");
    assert_eq!(
        t.server
            .irsp
            .store
            .count_offline("alice")
            .await
            .expect("count"),
        1
    );
    tasks.abort_all();
    t.stop().await;
}

#[tokio::test]
async fn revoking_the_grant_ends_the_servers_sessions_at_once() {
    let mut tasks = JoinSet::new();
    let t = home(&mut tasks).await;
    let app = AppServer::new(t.server.irsp.clone(), "gateway").expect("app");
    app.grant("alice").await.expect("grant");
    let mut as_alice = app.act_for("alice").await.expect("act");
    app.revoke("alice").await.expect("revoke");
    assert!(matches!(as_alice.recv().await, Err(AppError::Ended(_))));
    let lamp = format!("lamp@{}", t.domain());
    let after = as_alice
        .iq(iq("get", "g", Some(&lamp), device::get_request(["on"])))
        .await;
    assert!(matches!(after, Err(AppError::Ended(_))), "{after:?}");
    assert!(matches!(
        app.act_for("alice").await,
        Err(AppError::NotGranted(_))
    ));
    tasks.abort_all();
    t.stop().await;
}

#[tokio::test]
async fn pushes_reach_grantors_and_their_devices_only() {
    let mut tasks = JoinSet::new();
    let t = home(&mut tasks).await;
    // A lamp nobody who granted the server is related to.
    t.add_device("stranger-lamp", "lamp").await.expect("device");
    let app = AppServer::new(t.server.irsp.clone(), "gateway").expect("app");
    let notice = || Element::new("notice", hestia_proto::igrs::NS_PUSH).with_text("hello");
    let refused = app
        .push(PushTo::Account("alice"), notice(), Retention::Stored)
        .await;
    assert!(
        matches!(refused, Err(AppError::NotGranted(_))),
        "{refused:?}"
    );
    app.grant("alice").await.expect("grant");

    // Alice is offline (an observer session would not count): the push waits for her.
    let to_alice = app
        .push(PushTo::Account("alice"), notice(), Retention::Stored)
        .await
        .expect("push");
    assert_eq!(
        (to_alice.recipients, to_alice.stored),
        (1, 1),
        "{to_alice:?}"
    );
    let stored = t
        .server
        .irsp
        .store
        .take_offline("alice")
        .await
        .expect("take");
    let [stored] = stored.as_slice() else {
        panic!("one stored push: {stored:?}");
    };
    assert!(
        stored.stanza.contains("by=\"gateway\"") || stored.stanza.contains("by='gateway'"),
        "marked with the server's name: {}",
        stored.stanza
    );

    // Her lamp is online; carol's grant is missing, so only alice's devices count.
    let to_devices = app
        .push(PushTo::DevicesOf("alice"), notice(), Retention::Transient)
        .await
        .expect("push");
    assert_eq!(
        (to_devices.recipients, to_devices.delivered),
        (1, 1),
        "{to_devices:?}"
    );
    let refused = app
        .push(PushTo::DevicesOf("carol"), notice(), Retention::Transient)
        .await;
    assert!(
        matches!(refused, Err(AppError::NotGranted(_))),
        "{refused:?}"
    );
    let by_type = app
        .push(PushTo::DeviceType("lamp"), notice(), Retention::Transient)
        .await
        .expect("push");
    assert_eq!(
        by_type.recipients, 1,
        "the stranger's lamp is beyond every grantor: {by_type:?}"
    );
    tasks.abort_all();
    t.stop().await;
}
