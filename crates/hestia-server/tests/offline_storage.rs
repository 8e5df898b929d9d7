//! Offline storage (14543-5-8 §11.7.3, RFC 6121 §8.5.2.2.1, XEP-0160): a `normal` or `chat`
//! message from a related sender to an account with no available connection is stored and
//! delivered in order, once, with a XEP-0203 delay stamp at the account's next initial presence.
//! Headlines are dropped, XEP-0334 no-store hints bounce, a full quota bounces
//! `resource-constraint` with a reason, and expired stanzas are never delivered.

#![allow(clippy::expect_used)]

mod conversation;

use conversation::*;
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

async fn friends(tweak: impl FnOnce(&mut hestia_server::Config)) -> TestServer {
    let t = TestServer::start_with(tweak).await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    t
}

fn message(to: &str, msg_type: &str, text: &str) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", msg_type)
        .with_attr("id", text)
        .with_child(Element::new("body", ns::CLIENT).with_text(text))
}

async fn stored(t: &TestServer, account: &str) -> u64 {
    t.server
        .irsp
        .store
        .count_offline(account)
        .await
        .expect("store")
}

/// Sends initial presence and returns the messages that arrive before things go quiet.
async fn come_online(bob: &mut hestia_client::Bound) -> Vec<Element> {
    bob.send_presence().await.expect("presence");
    let mut got = Vec::new();
    while let Some(el) = bob.recv_timeout(QUIET).await.expect("bob's stream") {
        if el.name() == "message" {
            got.push(el);
        }
    }
    got
}

#[tokio::test]
async fn messages_wait_for_the_next_login_in_order_with_a_delay_stamp_and_arrive_once() {
    let t = friends(|_| {}).await;
    let bob_bare = format!("bob@{}", t.domain());
    let mut alice = t.login_available("alice").await.expect("alice");
    // Bob is bound but has not sent initial presence: not available (RFC 6121 §4.2).
    let mut bob = t.login("bob").await.expect("bob");
    for (kind, text) in [("chat", "one"), ("normal", "two"), ("chat", "three")] {
        alice
            .send(&message(&bob_bare, kind, text))
            .await
            .expect("send");
    }
    // A full JID that is not bound falls back to the bare JID (RFC 6121 §8.5.3.2.1).
    alice
        .send(&message(&format!("{bob_bare}/gone"), "chat", "four"))
        .await
        .expect("send");
    assert_quiet(&mut alice).await;
    assert_eq!(stored(&t, "bob").await, 4);
    assert_quiet(&mut bob).await;

    let got = come_online(&mut bob).await;
    let texts: Vec<_> = got.iter().filter_map(body).collect();
    assert_eq!(texts, ["one", "two", "three", "four"]);
    for m in &got {
        assert_eq!(m.attr("to"), Some(bob.jid().to_string().as_str()), "{m}");
        assert_eq!(
            m.attr("from"),
            Some(alice.jid().to_string().as_str()),
            "{m}"
        );
        let delay = m.get_child("delay", ns::DELAY).expect("XEP-0203 delay");
        assert_eq!(delay.attr("from"), Some(t.domain().as_str()));
        assert!(delay.attr("stamp").is_some_and(|s| s.ends_with('Z')), "{m}");
    }
    assert_eq!(stored(&t, "bob").await, 0);
    bob.close().await.expect("logout");

    // Exactly once: the next login finds nothing.
    let mut again = t.login("bob").await.expect("bob again");
    assert!(come_online(&mut again).await.is_empty());
    t.stop().await;
}

#[tokio::test]
async fn headlines_are_dropped_and_no_store_hints_bounce() {
    let t = friends(|_| {}).await;
    let bob_bare = format!("bob@{}", t.domain());
    let mut alice = t.login_available("alice").await.expect("alice");

    alice
        .send(&message(&bob_bare, "headline", "transient"))
        .await
        .expect("send");
    assert_quiet(&mut alice).await;

    for hint in ["no-store", "no-permanent-store"] {
        let hinted = message(&bob_bare, "chat", hint).with_child(Element::new(hint, ns::HINTS));
        alice.send(&hinted).await.expect("send");
        let bounce = alice.recv().await.expect("bounce");
        assert_eq!(bounce.attr("id"), Some(hint));
        assert_bounce(&bounce, Cond::ServiceUnavailable);
    }
    assert_eq!(stored(&t, "bob").await, 0);
    t.stop().await;
}

#[tokio::test]
async fn a_full_quota_tells_the_sender() {
    let t = friends(|cfg| cfg.offline.max_stanzas = 2).await;
    let bob_bare = format!("bob@{}", t.domain());
    let mut alice = t.login_available("alice").await.expect("alice");
    for text in ["a", "b"] {
        alice
            .send(&message(&bob_bare, "chat", text))
            .await
            .expect("send");
    }
    alice
        .send(&message(&bob_bare, "chat", "c"))
        .await
        .expect("send");
    let bounce = alice.recv().await.expect("bounce");
    assert_eq!(bounce.attr("id"), Some("c"));
    let error = assert_bounce(&bounce, Cond::ResourceConstraint);
    assert!(
        error.text.as_deref().is_some_and(|t| t.contains("full")),
        "{bounce}"
    );
    assert_eq!(stored(&t, "bob").await, 2);
    t.stop().await;
}

#[tokio::test]
async fn expired_stanzas_are_not_delivered() {
    let t = friends(|cfg| cfg.offline.expiry = hestia_config::Duration::secs(3600)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let now = i64::try_from(now).expect("now");
    let store = &t.server.irsp.store;
    let old = format!(
        "<message xmlns='jabber:client' to='bob@{0}' from='alice@{0}/x' type='chat'><body>old</body></message>",
        t.domain()
    );
    let fresh = old.replace(">old<", ">fresh<");
    assert!(
        store
            .store_offline("bob", &old, now - 7200, 10)
            .await
            .expect("store")
    );
    assert!(
        store
            .store_offline("bob", &fresh, now - 60, 10)
            .await
            .expect("store")
    );
    let mut bob = t.login("bob").await.expect("bob");
    let texts: Vec<_> = come_online(&mut bob)
        .await
        .iter()
        .filter_map(body)
        .collect();
    assert_eq!(texts, ["fresh"]);
    assert_eq!(stored(&t, "bob").await, 0, "the expired one is gone too");
    t.stop().await;
}

#[tokio::test]
async fn strangers_still_learn_nothing() {
    let t = friends(|_| {}).await;
    t.add_user("mallory").await.expect("mallory");
    let mut mallory = t.login_available("mallory").await.expect("mallory");
    for to in [
        format!("bob@{}", t.domain()),
        format!("nobody@{}", t.domain()),
    ] {
        mallory
            .send(&message(&to, "chat", "hi"))
            .await
            .expect("send");
        let bounce = mallory.recv().await.expect("bounce");
        assert_bounce(&bounce, Cond::ServiceUnavailable);
    }
    assert_eq!(stored(&t, "bob").await, 0);
    t.stop().await;
}

#[tokio::test]
async fn a_burst_of_stored_messages_is_delivered_whole() {
    let t = friends(|_| {}).await;
    let bob_bare = format!("bob@{}", t.domain());
    let mut alice = t.login_available("alice").await.expect("alice");
    for i in 0..200 {
        alice
            .send(&message(&bob_bare, "chat", &format!("m{i}")))
            .await
            .expect("send");
    }
    alice.ping().await.expect("ping");
    assert_eq!(stored(&t, "bob").await, 200);
    let mut bob = t.login("bob").await.expect("bob");
    let texts: Vec<_> = come_online(&mut bob)
        .await
        .iter()
        .filter_map(body)
        .collect();
    let expected: Vec<_> = (0..200).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected);
    t.stop().await;
}
