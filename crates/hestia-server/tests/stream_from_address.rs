//! RFC 6120 §8.1.2.1: the server stamps `from` with the sender's full JID; a client that
//! claims someone else's address is cut off with `invalid-from` and nothing it sent that way
//! reaches the addressee.

#![cfg(test)]

use std::time::Duration;

use hestia_proto::{StreamError, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

fn chat(to: &str, body: &str) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", "chat")
        .with_child(Element::new("body", ns::CLIENT).with_text(body))
}

#[tokio::test]
async fn forged_from_is_invalid_from_and_not_delivered() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let forged = chat(&bob.jid().to_string(), "it is me, someone else")
        .with_attr("from", "someone-else@localhost");
    alice.send(&forged).await.expect("send");
    let err = alice.recv().await.expect_err("stream error");
    assert_eq!(err.stream_error(), Some(StreamError::InvalidFrom), "{err}");
    let stray = bob
        .recv_timeout(Duration::from_millis(500))
        .await
        .expect("bob's stream");
    assert!(stray.is_none(), "bob must get nothing: {stray:?}");
    t.stop().await;
}

#[tokio::test]
async fn missing_from_is_stamped_with_full_jid() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    alice
        .send(&chat(&bob.jid().to_string(), "hi"))
        .await
        .expect("send");
    let got = bob.recv().await.expect("bob receives");
    assert_eq!(got.attr("from"), Some(alice.jid().to_string().as_str()));
    assert!(
        alice.jid().resource().is_some(),
        "stamped with the full JID"
    );
    t.stop().await;
}

#[tokio::test]
async fn own_bare_from_is_accepted_and_restamped() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let own = chat(&bob.jid().to_string(), "hi").with_attr("from", "alice@localhost");
    alice.send(&own).await.expect("send");
    let got = bob.recv().await.expect("bob receives");
    assert_eq!(got.attr("from"), Some(alice.jid().to_string().as_str()));
    t.stop().await;
}
