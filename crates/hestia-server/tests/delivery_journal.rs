//! `offline.durable_delivery`: a message for an online recipient is journaled before the
//! sender's stream counts it handled, and forgotten only once the recipient has it — acknowledged
//! under XEP-0198, or written to a client without stream management. A session that ends without
//! acknowledging leaves its journaled messages in offline storage, once each; stored messages
//! claimed at login stay stored until acknowledged too. (The `kill -9` half is
//! `crates/hestia/tests/durability_kill9.rs`.)

#![allow(clippy::expect_used)]

mod conversation;

use std::time::Duration;

use conversation::*;
use hestia_client::Bound;
use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;

const QUIET: Duration = Duration::from_millis(300);

async fn durable_friends() -> TestServer {
    let t = TestServer::start_with(|c| c.offline.durable_delivery = true)
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    t
}

async fn in_flight(t: &TestServer) -> u64 {
    t.server.irsp.store.count_in_flight().await.expect("store")
}

async fn stored(t: &TestServer, account: &str) -> u64 {
    t.server
        .irsp
        .store
        .count_offline(account)
        .await
        .expect("store")
}

/// Logs in with stream management (no resumption) and sends initial presence; returns the
/// session and the stanzas that came with the login (own presence, stored messages…).
async fn sm_available(t: &TestServer, name: &str) -> (Bound, Vec<Element>) {
    let mut b = t.login(name).await.expect("login");
    b.send(&Element::new("enable", ns::SM))
        .await
        .expect("enable");
    let enabled = b.recv().await.expect("enabled");
    assert!(enabled.is("enabled", ns::SM), "{enabled}");
    b.send_presence().await.expect("presence");
    let got = drain(&mut b).await;
    (b, got)
}

async fn drain(b: &mut Bound) -> Vec<Element> {
    let mut got = Vec::new();
    while let Some(el) = b.recv_timeout(QUIET).await.expect("stream") {
        got.push(el);
    }
    got
}

fn bodies(els: &[Element]) -> Vec<String> {
    els.iter()
        .filter(|e| e.name() == "message")
        .filter_map(body)
        .collect()
}

fn stanzas(els: &[Element]) -> u32 {
    let n = els
        .iter()
        .filter(|e| e.ns() == ns::CLIENT && matches!(e.name(), "message" | "presence" | "iq"))
        .count();
    u32::try_from(n).expect("few")
}

async fn send_all(alice: &mut Bound, texts: &[&str]) {
    for text in texts {
        alice
            .send(&chat("bob@localhost", text))
            .await
            .expect("send");
    }
    // Answered after everything before it was handled, journal commits included.
    alice.ping().await.expect("ping");
}

#[tokio::test]
async fn written_to_a_client_without_stream_management_is_released() {
    let t = durable_friends().await;
    let mut alice = t.login_available("alice").await.expect("alice");
    let mut bob = t.login_available("bob").await.expect("bob");
    drain(&mut alice).await;
    drain(&mut bob).await;
    send_all(&mut alice, &["one", "two", "three"]).await;
    assert_eq!(bodies(&drain(&mut bob).await), ["one", "two", "three"]);
    assert_eq!(in_flight(&t).await, 0, "released once written");
    assert_eq!(stored(&t, "bob").await, 0);
    t.stop().await;
}

#[tokio::test]
async fn acknowledged_messages_are_released_and_unacknowledged_ones_kept_once() {
    let t = durable_friends().await;
    let mut alice = t.login_available("alice").await.expect("alice");
    let (mut bob, login) = sm_available(&t, "bob").await;
    drain(&mut alice).await;
    send_all(&mut alice, &["one", "two"]).await;
    let got = drain(&mut bob).await;
    assert_eq!(bodies(&got), ["one", "two"]);
    assert_eq!(in_flight(&t).await, 2, "journaled until bob acknowledges");
    let h = stanzas(&login) + stanzas(&got);
    bob.send(&Element::new("a", ns::SM).with_attr("h", h.to_string()))
        .await
        .expect("ack");
    bob.ping().await.expect("the ack was handled");
    assert_eq!(in_flight(&t).await, 0, "the ack released them");

    // Two more that bob receives but never acknowledges; then his connection is lost (no
    // resumption was asked for, so the session ends at once).
    send_all(&mut alice, &["three", "four"]).await;
    assert_eq!(bodies(&drain(&mut bob).await), ["three", "four"]);
    drop(bob);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(in_flight(&t).await, 0);
    assert_eq!(stored(&t, "bob").await, 2, "kept once each, not copied");

    let mut bob = t.login_available("bob").await.expect("bob again");
    assert_eq!(bodies(&drain(&mut bob).await), ["three", "four"]);
    assert_eq!(stored(&t, "bob").await, 0);
    assert_eq!(in_flight(&t).await, 0);
    t.stop().await;
}

#[tokio::test]
async fn stored_messages_claimed_at_login_stay_stored_until_acknowledged() {
    let t = durable_friends().await;
    let mut alice = t.login_available("alice").await.expect("alice");
    send_all(&mut alice, &["while", "away"]).await;
    assert_eq!(stored(&t, "bob").await, 2);

    let (bob, login) = sm_available(&t, "bob").await;
    assert_eq!(bodies(&login), ["while", "away"]);
    assert_eq!(in_flight(&t).await, 2, "claimed, not taken");
    // Lost before acknowledging: they are still bob's.
    drop(bob);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((in_flight(&t).await, stored(&t, "bob").await), (0, 2));

    let (mut bob, login) = sm_available(&t, "bob").await;
    assert_eq!(bodies(&login), ["while", "away"]);
    let h = stanzas(&login);
    bob.send(&Element::new("a", ns::SM).with_attr("h", h.to_string()))
        .await
        .expect("ack");
    bob.ping().await.expect("the ack was handled");
    assert_eq!((in_flight(&t).await, stored(&t, "bob").await), (0, 0));
    t.stop().await;
}

#[tokio::test]
async fn transient_messages_are_not_journaled() {
    let t = durable_friends().await;
    let mut alice = t.login_available("alice").await.expect("alice");
    let (mut bob, _) = sm_available(&t, "bob").await;
    drain(&mut alice).await;
    let headline = chat("bob@localhost", "ding").with_attr("type", "headline");
    let hinted = chat("bob@localhost", "typing").with_child(Element::new("no-store", ns::HINTS));
    alice.send(&headline).await.expect("send");
    alice.send(&hinted).await.expect("send");
    alice.ping().await.expect("ping");
    assert_eq!(bodies(&drain(&mut bob).await), ["ding", "typing"]);
    assert_eq!(
        in_flight(&t).await,
        0,
        "only what offline storage would keep"
    );
    t.stop().await;
}
