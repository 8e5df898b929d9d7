//! RFC 6120 §13.12: a stanza over the post-authentication limit (256 KiB by default) closes
//! the stream with `policy-violation` before it is routed, so its addressee gets nothing.

#![cfg(test)]

use std::time::Duration;

use hestia_proto::{StreamError, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn one_mebibyte_stanza_is_policy_violation() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    let alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let huge = Element::new("message", ns::CLIENT)
        .with_attr("to", bob.jid().to_string())
        .with_attr("type", "chat")
        .with_child(Element::new("body", ns::CLIENT).with_text("x".repeat(1 << 20)));
    // Write and read at once: the server stops reading part-way and answers.
    let (mut tx, mut rx) = alice.into_split();
    let (_sent, answer) = tokio::join!(
        tx.send(&huge),
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
    );
    let err = answer.expect("answer in time").expect_err("stream error");
    assert_eq!(
        err.stream_error(),
        Some(StreamError::PolicyViolation),
        "{err}"
    );
    let stray = bob
        .recv_timeout(Duration::from_millis(500))
        .await
        .expect("bob's stream");
    assert!(stray.is_none(), "bob must get nothing: {stray:?}");
    bob.ping().await.expect("bob still served");
    t.stop().await;
}
