//! User ↔ user relationships (friends) over RFC 6121 rosters and subscriptions: request,
//! acceptance (mutual, Table 2), denial, pre-approval, half-unsubscription, the roster set
//! rules and versioning; and device ↔ device peers paired by their owner.

// Test helpers outside #[test] functions fail loudly too.
#![allow(clippy::expect_used)]

mod relations;

use std::time::Duration;

use hestia_proto::{StanzaErrorCondition, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;
use relations::*;

async fn server_with(users: &[&str]) -> TestServer {
    let t = TestServer::start().await.expect("server");
    for u in users {
        t.add_user(u).await.expect("user");
    }
    t
}

fn chat(to: &str, body: &str) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", "chat")
        .with_child(Element::new("body", ns::CLIENT).with_text(body))
}

#[tokio::test]
async fn alice_and_bob_become_friends_and_only_then_exchange_messages() {
    let t = server_with(&["alice", "bob"]).await;
    let (alice_jid, bob_jid) = (jid(&t, "alice"), jid(&t, "bob"));
    let (mut alice, _) = online(&t, "alice").await;
    let (mut bob, _) = online(&t, "bob").await;

    // Unrelated: a message bounces exactly as for an unknown address.
    alice.send(&chat(&bob_jid, "hi?")).await.expect("send");
    let bounced = expect(&mut alice, "bounce", |e| e.attr("type") == Some("error")).await;
    let error = hestia_proto::StanzaError::from_stanza(&bounced).expect("error");
    assert_eq!(error.condition, StanzaErrorCondition::ServiceUnavailable);

    alice
        .send(&presence(&bob_jid, "subscribe"))
        .await
        .expect("subscribe");
    let request = expect(&mut bob, "subscription request", |e| {
        e.name() == "presence" && e.attr("type") == Some("subscribe")
    })
    .await;
    assert_eq!(request.attr("from"), Some(alice_jid.as_str()));
    bob.send(&presence(&alice_jid, "subscribed"))
        .await
        .expect("accept");

    // Table 2: accepted = both items `both`, kind friend, pushed to both sides.
    for (client, contact) in [(&mut alice, &bob_jid), (&mut bob, &alice_jid)] {
        let push = expect(client, "both", |e| {
            is_roster_push(e, contact)
                && pushed_item(e, contact).attr("subscription") == Some("both")
        })
        .await;
        assert_eq!(
            item_state(pushed_item(&push, contact)).2.as_deref(),
            Some("friend")
        );
    }
    expect(&mut alice, "bob's presence", |e| {
        is_presence(e, &bob_jid, None)
    })
    .await;
    expect(&mut bob, "alice's presence", |e| {
        is_presence(e, &alice_jid, None)
    })
    .await;
    alice
        .send(&chat(&bob_jid, "hello friend"))
        .await
        .expect("send");
    let got = expect(&mut bob, "message", |e| e.name() == "message").await;
    assert_eq!(got.attr("from"), Some(alice.jid().to_string().as_str()));
    t.stop().await;
}

#[tokio::test]
async fn a_request_to_an_offline_user_waits_for_her_login_and_denial_says_unsubscribed() {
    let t = server_with(&["alice", "bob"]).await;
    let (alice_jid, bob_jid) = (jid(&t, "alice"), jid(&t, "bob"));
    let (mut alice, _) = online(&t, "alice").await;
    alice
        .send(&presence(&bob_jid, "subscribe"))
        .await
        .expect("subscribe");
    expect(&mut alice, "pending", |e| is_roster_push(e, &bob_jid)).await;

    let (mut bob, got) = online(&t, "bob").await;
    assert!(
        got.iter().any(|e| e.name() == "presence"
            && e.attr("type") == Some("subscribe")
            && e.attr("from") == Some(alice_jid.as_str())),
        "request redelivered at login: {got:?}"
    );
    bob.send(&presence(&alice_jid, "unsubscribed"))
        .await
        .expect("deny");
    let cleared =
        |e: &Element| is_roster_push(e, &bob_jid) && pushed_item(e, &bob_jid).attr("ask").is_none();
    let got = expect_each(
        &mut alice,
        &[
            ("denied", &|e| {
                e.name() == "presence" && e.attr("type") == Some("unsubscribed")
            }),
            ("ask cleared", &cleared),
        ],
    )
    .await;
    assert_eq!(
        pushed_item(&got[1], &bob_jid).attr("subscription"),
        Some("none")
    );
    // A second login of Bob is not asked again.
    let (_bob2, got) = online(&t, "bob").await;
    assert!(
        !got.iter().any(|e| e.attr("type") == Some("subscribe")),
        "{got:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_pre_approved_contact_is_accepted_without_asking() {
    let t = server_with(&["alice", "bob"]).await;
    let (alice_jid, bob_jid) = (jid(&t, "alice"), jid(&t, "bob"));
    let (mut bob, _) = online(&t, "bob").await;
    bob.send(&presence(&alice_jid, "subscribed"))
        .await
        .expect("pre-approve");
    let push = expect(&mut bob, "pre-approved item", |e| {
        is_roster_push(e, &alice_jid)
    })
    .await;
    assert_eq!(
        pushed_item(&push, &alice_jid).attr("approved"),
        Some("true")
    );
    let (mut alice, _) = online(&t, "alice").await;
    alice
        .send(&presence(&bob_jid, "subscribe"))
        .await
        .expect("subscribe");
    expect(&mut alice, "both at once", |e| {
        is_roster_push(e, &bob_jid) && pushed_item(e, &bob_jid).attr("subscription") == Some("both")
    })
    .await;
    t.stop().await;
}

#[tokio::test]
async fn unsubscribe_ends_one_direction_and_the_presence_it_carried() {
    let t = server_with(&["alice", "bob"]).await;
    t.befriend("alice", "bob").await.expect("friends");
    let (alice_jid, bob_jid) = (jid(&t, "alice"), jid(&t, "bob"));
    let (mut alice, _) = online(&t, "alice").await;
    let (mut bob, _) = online(&t, "bob").await;
    alice
        .send(&presence(&bob_jid, "unsubscribe"))
        .await
        .expect("unsubscribe");
    let push = expect(&mut alice, "alice: from", |e| is_roster_push(e, &bob_jid)).await;
    assert_eq!(
        pushed_item(&push, &bob_jid).attr("subscription"),
        Some("from")
    );
    let push = expect(&mut bob, "bob: to", |e| is_roster_push(e, &alice_jid)).await;
    assert_eq!(
        pushed_item(&push, &alice_jid).attr("subscription"),
        Some("to")
    );
    expect(&mut alice, "bob's connections look gone to alice", |e| {
        is_presence(e, &bob_jid, Some("unavailable"))
    })
    .await;
    // Bob still sees Alice: her next presence reaches him, his does not reach her.
    alice
        .send(
            &Element::new("presence", ns::CLIENT)
                .with_child(Element::new("show", ns::CLIENT).with_text("away")),
        )
        .await
        .expect("update");
    expect(&mut bob, "alice's update", |e| {
        is_presence(e, &alice_jid, None)
    })
    .await;
    bob.send(
        &Element::new("presence", ns::CLIENT)
            .with_child(Element::new("show", ns::CLIENT).with_text("dnd")),
    )
    .await
    .expect("update");
    let got = drain(&mut alice, Duration::from_millis(400)).await;
    assert!(
        !got.iter().any(|e| is_presence(e, &bob_jid, None)),
        "{got:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn roster_set_names_and_groups_with_versioned_gets_and_rfc_errors() {
    let t = server_with(&["alice", "bob"]).await;
    let bob_jid = jid(&t, "bob");
    let (mut alice, _) = online(&t, "alice").await;
    let first = roster(&mut alice, None).await.expect("roster");
    let v0 = first.attr("ver").expect("versioned").to_owned();

    let named = Element::new("item", ns::ROSTER)
        .with_attr("jid", bob_jid.as_str())
        .with_attr("name", "Bobby")
        .with_child(Element::new("group", ns::ROSTER).with_text("Family"))
        .with_child(Element::new("group", ns::ROSTER).with_text("Neighbours, \"close\""));
    roster_set(&mut alice, named).await.expect("set");
    let push = expect(&mut alice, "push", |e| is_roster_push(e, &bob_jid)).await;
    let pushed = pushed_item(&push, &bob_jid);
    assert_eq!(pushed.attr("name"), Some("Bobby"));
    assert_eq!(pushed.attr("subscription"), Some("none"));
    let groups: Vec<String> = pushed
        .children()
        .filter(|g| g.name() == "group")
        .map(Element::text)
        .collect();
    assert_eq!(groups, ["Family", "Neighbours, \"close\""]);
    let v1 = push
        .get_child("query", ns::ROSTER)
        .and_then(|q| q.attr("ver"))
        .expect("ver")
        .to_owned();
    assert_ne!(v0, v1);
    // XEP-0237: the current version gets an empty result, an old one the whole roster.
    assert!(roster(&mut alice, Some(&v1)).await.is_none());
    let full = roster(&mut alice, Some(&v0)).await.expect("full roster");
    assert!(item(&full, &bob_jid).is_some());

    // RFC 6121 §2.3.3 and §2.5.3 errors.
    let two = Element::new("query", ns::ROSTER)
        .with_child(Element::new("item", ns::ROSTER).with_attr("jid", "x@localhost"))
        .with_child(Element::new("item", ns::ROSTER).with_attr("jid", "y@localhost"));
    let iq = Element::new("iq", ns::CLIENT)
        .with_attr("type", "set")
        .with_child(two);
    assert_eq!(
        condition(alice.iq(iq).await),
        StanzaErrorCondition::BadRequest
    );
    let dup = Element::new("item", ns::ROSTER)
        .with_attr("jid", bob_jid.as_str())
        .with_child(Element::new("group", ns::ROSTER).with_text("A"))
        .with_child(Element::new("group", ns::ROSTER).with_text("A"));
    assert_eq!(
        condition(roster_set(&mut alice, dup).await),
        StanzaErrorCondition::BadRequest
    );
    let empty_group = Element::new("item", ns::ROSTER)
        .with_attr("jid", bob_jid.as_str())
        .with_child(Element::new("group", ns::ROSTER));
    assert_eq!(
        condition(roster_set(&mut alice, empty_group).await),
        StanzaErrorCondition::NotAcceptable
    );
    let long_name = Element::new("item", ns::ROSTER)
        .with_attr("jid", bob_jid.as_str())
        .with_attr("name", "n".repeat(2000));
    assert_eq!(
        condition(roster_set(&mut alice, long_name).await),
        StanzaErrorCondition::NotAcceptable
    );
    let missing = roster_remove(&mut alice, &jid(&t, "nobody")).await;
    assert_eq!(condition(missing), StanzaErrorCondition::ItemNotFound);

    // Remove: gone from the roster, pushed as subscription='remove'.
    roster_remove(&mut alice, &bob_jid).await.expect("remove");
    let push = expect(&mut alice, "removal push", |e| {
        is_roster_push(e, &bob_jid)
            && pushed_item(e, &bob_jid).attr("subscription") == Some("remove")
    })
    .await;
    assert!(
        push.get_child("query", ns::ROSTER)
            .and_then(|q| q.attr("ver"))
            .is_some()
    );
    let now = roster(&mut alice, None).await.expect("roster");
    assert!(item(&now, &bob_jid).is_none());
    t.stop().await;
}

#[tokio::test]
async fn another_users_roster_is_not_readable() {
    let t = server_with(&["alice", "bob"]).await;
    t.befriend("alice", "bob").await.expect("friends");
    let (mut bob, _) = online(&t, "bob").await;
    let iq = Element::new("iq", ns::CLIENT)
        .with_attr("type", "get")
        .with_attr("to", jid(&t, "alice"))
        .with_child(Element::new("query", ns::ROSTER));
    let answer = bob.iq(iq).await;
    assert!(answer.is_err(), "{answer:?}");
    t.stop().await;
}

#[tokio::test]
async fn two_devices_become_peers_when_their_owner_pairs_them() {
    let t = server_with(&["alice", "mallory"]).await;
    t.add_device("switch-1", "switch").await.expect("switch");
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    t.own("alice", "switch-1").await.expect("own");
    t.own("alice", "lamp-1").await.expect("own");
    let (switch_jid, lamp_jid) = (jid(&t, "switch-1"), jid(&t, "lamp-1"));
    let (mut switch, _) = online(&t, "switch-1").await;
    let (mut lamp, _) = online(&t, "lamp-1").await;
    let lamp_full = lamp.jid().to_string();
    // Before pairing the switch cannot reach the lamp.
    assert_eq!(
        condition(switch.iq(request("set", &lamp_full)).await),
        StanzaErrorCondition::ServiceUnavailable
    );

    let (mut mallory, _) = online(&t, "mallory").await;
    let not_hers = relation_iq(
        &t,
        &mut mallory,
        "peer",
        &[("device", &switch_jid), ("peer", &lamp_jid)],
    )
    .await;
    assert_eq!(condition(not_hers), StanzaErrorCondition::ItemNotFound);

    let (mut alice, _) = online(&t, "alice").await;
    relation_iq(
        &t,
        &mut alice,
        "peer",
        &[("device", &switch_jid), ("peer", &lamp_jid)],
    )
    .await
    .expect("paired");
    let push = expect(&mut switch, "peer item", |e| is_roster_push(e, &lamp_jid)).await;
    assert_eq!(
        item_state(pushed_item(&push, &lamp_jid)).2.as_deref(),
        Some("peer")
    );
    expect(&mut switch, "lamp presence", |e| {
        is_presence(e, &lamp_jid, None)
    })
    .await;
    switch
        .send(&request("set", &lamp_full))
        .await
        .expect("send");
    expect(&mut lamp, "the switch's command", |e| {
        e.name() == "iq" && e.attr("type") == Some("set")
    })
    .await;
    t.stop().await;
}
