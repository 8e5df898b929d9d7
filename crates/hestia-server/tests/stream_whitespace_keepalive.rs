//! RFC 6120 §4.6.1: whitespace between stanzas is a keep-alive; it is ignored, the session
//! stays up, stanzas around it are handled normally and nothing is sent back for it.

#![cfg(test)]

use std::time::Duration;

use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn whitespace_keepalives_do_not_disturb_the_session() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    for ws in [&b" "[..], b"\n", b"\r\n\t ", b"  \n  "] {
        alice.send_raw(ws).await.expect("keepalive");
    }
    let nothing = alice
        .recv_timeout(Duration::from_millis(300))
        .await
        .expect("still open");
    assert!(nothing.is_none(), "no answer to whitespace: {nothing:?}");
    alice.ping().await.expect("ping after keepalives");
    let msg = Element::new("message", ns::CLIENT)
        .with_attr("to", bob.jid().to_string())
        .with_attr("type", "chat")
        .with_child(Element::new("body", ns::CLIENT).with_text("still here"));
    alice.send_raw(b" ").await.expect("keepalive");
    alice.send(&msg).await.expect("send");
    alice.send_raw(b"\n").await.expect("keepalive");
    let got = bob.recv().await.expect("bob receives");
    assert_eq!(got.attr("from"), Some(alice.jid().to_string().as_str()));
    alice.ping().await.expect("ping again");
    let stray = bob
        .recv_timeout(Duration::from_millis(300))
        .await
        .expect("bob's stream");
    assert!(stray.is_none(), "{stray:?}");
    t.stop().await;
}
