//! Online status and discovery (14543-5-8 §13): presence is broadcast only across
//! relationships — initial, updates, unavailable on logout and on a dropped connection, probes
//! at login, directed presence — and devices are found by exact ID only, described by disco to
//! related entities only.

// Test helpers outside #[test] functions fail loudly too.
#![allow(clippy::expect_used)]

mod relations;

use std::time::Duration;

use hestia_proto::igrs::NS_DEVICE;
use hestia_proto::{StanzaErrorCondition, ns};
use hestia_store::RelationKind;
use hestia_testkit::TestServer;
use hestia_xml::Element;
use relations::*;

#[tokio::test]
async fn presence_reaches_related_entities_only_and_logout_is_broadcast() {
    let t = TestServer::start().await.expect("server");
    for name in ["alice", "bob", "carol"] {
        t.add_user(name).await.expect("user");
    }
    t.befriend("alice", "bob").await.expect("friends");
    let alice_jid = jid(&t, "alice");
    let (mut bob, _) = online(&t, "bob").await;
    let (mut carol, _) = online(&t, "carol").await;
    let (alice, _) = online(&t, "alice").await;
    expect(&mut bob, "alice online", |e| {
        is_presence(e, &alice_jid, None)
    })
    .await;
    alice.close().await.expect("logout");
    expect(&mut bob, "alice offline", |e| {
        is_presence(e, &alice_jid, Some("unavailable"))
    })
    .await;
    let heard = drain(&mut carol, Duration::from_millis(400)).await;
    assert!(
        heard
            .iter()
            .all(|e| !e.attr("from").is_some_and(|f| f.starts_with("alice@"))),
        "{heard:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_dropped_tcp_connection_is_broadcast_as_unavailable() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    t.own("alice", "lamp-1").await.expect("own");
    let lamp = jid(&t, "lamp-1");
    let (mut alice, _) = online(&t, "alice").await;
    let (lamp_conn, _) = online(&t, "lamp-1").await;
    expect(&mut alice, "lamp online", |e| is_presence(e, &lamp, None)).await;
    drop(lamp_conn);
    expect(&mut alice, "lamp offline after the drop", |e| {
        is_presence(e, &lamp, Some("unavailable"))
    })
    .await;
    t.stop().await;
}

#[tokio::test]
async fn probes_at_login_bring_the_current_presence_of_online_contacts() {
    let t = TestServer::start().await.expect("server");
    for name in ["alice", "bob"] {
        t.add_user(name).await.expect("user");
    }
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    t.own("alice", "lamp-1").await.expect("own");
    t.befriend("alice", "bob").await.expect("friends");
    let mut bob = t.login("bob").await.expect("bob");
    bob.send(
        &Element::new("presence", ns::CLIENT)
            .with_child(Element::new("status", ns::CLIENT).with_text("cooking")),
    )
    .await
    .expect("presence");
    let (_lamp, _) = online(&t, "lamp-1").await;
    let (_alice, got) = online(&t, "alice").await;
    let from_bob = got
        .iter()
        .find(|e| is_presence(e, &jid(&t, "bob"), None))
        .unwrap_or_else(|| panic!("bob's presence at login, got {got:?}"));
    assert_eq!(
        from_bob
            .get_child("status", ns::CLIENT)
            .map(Element::text)
            .as_deref(),
        Some("cooking")
    );
    let from_lamp = got
        .iter()
        .find(|e| is_presence(e, &jid(&t, "lamp-1"), None))
        .unwrap_or_else(|| panic!("the lamp's presence at login, got {got:?}"));
    assert!(from_lamp.get_child("device", NS_DEVICE).is_some());
    t.stop().await;
}

#[tokio::test]
async fn directed_presence_needs_a_relationship_and_is_undone_at_logout() {
    let t = TestServer::start().await.expect("server");
    for name in ["alice", "bob", "carol"] {
        t.add_user(name).await.expect("user");
    }
    // Alice, not yet available, directs presence to her friend Bob and to Carol, a stranger.
    t.relate("alice", "bob", RelationKind::Friend, None)
        .await
        .expect("friends");
    let (mut bob, _) = online(&t, "bob").await;
    let (mut carol, _) = online(&t, "carol").await;
    let mut alice = t.login("alice").await.expect("alice");
    alice
        .send(&Element::new("presence", ns::CLIENT).with_attr("to", jid(&t, "carol")))
        .await
        .expect("to carol");
    alice
        .send(&Element::new("presence", ns::CLIENT).with_attr("to", jid(&t, "bob")))
        .await
        .expect("to bob");
    expect(&mut bob, "directed presence", |e| {
        is_presence(e, &jid(&t, "alice"), None)
    })
    .await;
    let heard = drain(&mut carol, Duration::from_millis(300)).await;
    assert!(
        heard.is_empty(),
        "an unrelated entity gets nothing: {heard:?}"
    );
    alice
        .send(&Element::new("presence", ns::CLIENT).with_attr("type", "unavailable"))
        .await
        .expect("bye");
    expect(&mut bob, "unavailable", |e| {
        is_presence(e, &jid(&t, "alice"), Some("unavailable"))
    })
    .await;
    t.stop().await;
}

#[tokio::test]
async fn devices_are_found_by_exact_id_unless_closed_and_described_to_related_users() {
    let t = TestServer::start().await.expect("server");
    for name in ["alice", "carol"] {
        t.add_user(name).await.expect("user");
    }
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    t.add_device("cam-1", "camera").await.expect("camera");
    t.own("alice", "lamp-1").await.expect("own");
    t.own("alice", "cam-1").await.expect("own");
    let (mut alice, _) = online(&t, "alice").await;
    set_rights(&t, &mut alice, &jid(&t, "cam-1"), Some("closed"), &[])
        .await
        .expect("closed");
    let (mut carol, _) = online(&t, "carol").await;

    let found = search(&t, &mut carol, &jid(&t, "lamp-1"))
        .await
        .expect("search")
        .expect("found");
    assert_eq!(found.attr("type"), Some("lamp"));
    assert_eq!(found.attr("policy"), Some("code"));
    assert!(found.attr("online").is_none());
    assert!(
        search(&t, &mut carol, &jid(&t, "cam-1"))
            .await
            .expect("search")
            .is_none()
    );
    assert!(
        search(&t, &mut carol, &jid(&t, "lamp-2"))
            .await
            .expect("search")
            .is_none()
    );
    assert!(
        search(&t, &mut carol, &jid(&t, "lamp"))
            .await
            .expect("search")
            .is_none(),
        "no prefix match"
    );

    let disco = |to: &str| {
        Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("to", to)
            .with_child(Element::new("query", ns::DISCO_INFO))
    };
    let info = alice
        .iq(disco(&jid(&t, "lamp-1")))
        .await
        .expect("disco for the owner");
    let query = info.get_child("query", ns::DISCO_INFO).expect("query");
    assert!(query.children().any(|c| c.attr("var") == Some(NS_DEVICE)));
    let form = query.get_child("x", ns::DATA_FORMS).expect("device form");
    let value = |var: &str| {
        form.children()
            .find(|f| f.attr("var") == Some(var))
            .and_then(|f| f.get_child("value", ns::DATA_FORMS))
            .map(Element::text)
    };
    assert_eq!(value("type").as_deref(), Some("lamp"));
    assert_eq!(value("manufacturer").as_deref(), Some("Acme"));
    let refused = carol.iq(disco(&jid(&t, "lamp-1"))).await;
    assert_eq!(condition(refused), StanzaErrorCondition::ServiceUnavailable);
    t.stop().await;
}

#[tokio::test]
async fn searches_are_rate_limited() {
    let t = TestServer::start_with(|c| c.relationships.searches_per_minute = 3)
        .await
        .expect("server");
    t.add_user("carol").await.expect("carol");
    let (mut carol, _) = online(&t, "carol").await;
    for i in 0..3 {
        search(&t, &mut carol, &jid(&t, &format!("dev-{i}")))
            .await
            .expect("allowed");
    }
    let answer = search(&t, &mut carol, &jid(&t, "dev-9")).await;
    assert_eq!(
        condition(answer.map(|_| Element::new("x", "y"))),
        StanzaErrorCondition::ResourceConstraint
    );
    t.stop().await;
}
