//! RFC 6120 §4.9.3.13: malformed XML closes that stream with `not-well-formed`; the server
//! keeps serving every other connection.

#![cfg(test)]

use hestia_proto::{StreamError, ns};
use hestia_testkit::TestServer;
use hestia_testkit::raw::{REPLY_TIMEOUT, RawStream, assert_stream_error};
use hestia_xml::Element;

#[tokio::test]
async fn malformed_xml_closes_only_that_stream() {
    let t = TestServer::start().await.expect("server");
    for name in ["alice", "bob", "carol"] {
        t.add_user(name).await.expect("user");
    }
    t.befriend("bob", "carol").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let mut carol = t.login("carol").await.expect("carol");
    alice
        .send_raw(b"<message to='bob@localhost'><body>oops</message>")
        .await
        .expect("send");
    let err = alice.recv().await.expect_err("stream error");
    assert_eq!(
        err.stream_error(),
        Some(StreamError::NotWellFormed),
        "{err}"
    );

    bob.ping().await.expect("bob still served");
    let msg = Element::new("message", ns::CLIENT)
        .with_attr("to", carol.jid().to_string())
        .with_attr("type", "chat")
        .with_child(Element::new("body", ns::CLIENT).with_text("still here"));
    bob.send(&msg).await.expect("send");
    let got = carol.recv().await.expect("carol receives");
    assert_eq!(got.attr("from"), Some(bob.jid().to_string().as_str()));
    assert_eq!(
        got.get_child("body", ns::CLIENT).map(|b| b.text()),
        Some("still here".into())
    );
    t.stop().await;
}

#[tokio::test]
async fn malformed_xml_before_auth_is_not_well_formed() {
    let t = TestServer::start_with(|cfg| cfg.tls.required = false)
        .await
        .expect("server");
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    raw.open(&t.domain()).await.expect("features");
    raw.send(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'></mechanism>")
        .await
        .expect("send");
    let reply = raw.read_to_close(REPLY_TIMEOUT).await.expect("closed");
    assert_stream_error(&reply, StreamError::NotWellFormed);
    t.stop().await;
}

#[tokio::test]
async fn text_instead_of_a_header_is_not_well_formed() {
    let t = TestServer::start_with(|cfg| cfg.tls.required = false)
        .await
        .expect("server");
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    raw.send(b"HELLO? is this SMTP?\r\n").await.expect("send");
    let reply = raw.read_to_close(REPLY_TIMEOUT).await.expect("closed");
    assert!(
        reply.contains("<stream:stream "),
        "our header first:\n{reply}"
    );
    assert_stream_error(&reply, StreamError::NotWellFormed);
    t.stop().await;
}
