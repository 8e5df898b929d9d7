//! RFC 6120 §4.9.3.12 / §7.1: stanzas are only accepted once the stream is authenticated and
//! a connection ID bound. A stanza before SASL, or after SASL but before binding, closes the
//! stream with `not-authorized`.

#![cfg(test)]

use std::time::Duration;

use hestia_proto::StreamError;
use hestia_testkit::TestServer;
use hestia_testkit::raw::{REPLY_TIMEOUT, RawStream, assert_stream_error};

#[tokio::test]
async fn message_before_authentication_is_not_authorized() {
    let t = TestServer::start_with(|cfg| cfg.tls.required = false)
        .await
        .expect("server");
    t.add_user("bob").await.expect("bob");
    let mut bob = t.login("bob").await.expect("bob login");
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    raw.open(&t.domain()).await.expect("features");
    raw.send(b"<message to='bob@localhost' type='chat'><body>psst</body></message>")
        .await
        .expect("send");
    let reply = raw.read_to_close(REPLY_TIMEOUT).await.expect("closed");
    assert_stream_error(&reply, StreamError::NotAuthorized);
    let stray = bob
        .recv_timeout(Duration::from_millis(300))
        .await
        .expect("bob's stream");
    assert!(stray.is_none(), "nothing reaches bob: {stray:?}");
    t.stop().await;
}

#[tokio::test]
async fn iq_before_authentication_is_not_authorized() {
    let t = TestServer::start_with(|cfg| cfg.tls.required = false)
        .await
        .expect("server");
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    raw.open(&t.domain()).await.expect("features");
    raw.send(b"<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await
        .expect("send");
    let reply = raw.read_to_close(REPLY_TIMEOUT).await.expect("closed");
    assert_stream_error(&reply, StreamError::NotAuthorized);
    t.stop().await;
}

#[tokio::test]
async fn stanza_after_authentication_before_bind_is_not_authorized() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t
        .connect()
        .await
        .expect("connect")
        .authenticate("alice", hestia_testkit::PASSWORD)
        .await
        .expect("authenticated");
    alice
        .send_raw(b"<message to='alice@localhost'><body>too early</body></message>")
        .await
        .expect("send");
    let err = alice.recv().await.expect_err("stream error");
    assert_eq!(
        err.stream_error(),
        Some(StreamError::NotAuthorized),
        "{err}"
    );
    t.stop().await;
}
