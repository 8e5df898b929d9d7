//! TLS is required by default (RFC 6120 §5.3.1, §6.4.1): the first features offer only
//! `<starttls><required/></starttls>`, no SASL mechanisms, and a client trying SASL in
//! plaintext gets `<failure><encryption-required/></failure>` and then `policy-violation`.

#![cfg(test)]

use hestia_proto::{StreamError, ns};
use hestia_testkit::TestServer;
use hestia_testkit::raw::{REPLY_TIMEOUT, RawStream, assert_stream_error, elements};

#[tokio::test]
async fn features_offer_only_required_starttls() {
    let t = TestServer::start().await.expect("server");
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    let reply = raw.open(&t.domain()).await.expect("features");
    let features = elements(&reply)
        .into_iter()
        .find(|e| e.is("features", ns::STREAM))
        .expect("stream features");
    let starttls = features
        .get_child("starttls", ns::TLS)
        .expect("starttls offered");
    assert!(starttls.get_child("required", ns::TLS).is_some(), "{reply}");
    assert!(
        features.get_child("mechanisms", ns::SASL).is_none(),
        "{reply}"
    );
    assert_eq!(features.children().count(), 1, "only STARTTLS: {reply}");
    t.stop().await;
}

#[tokio::test]
async fn plaintext_sasl_is_refused_with_encryption_required() {
    let t = TestServer::start().await.expect("server");
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    raw.open(&t.domain()).await.expect("features");
    // PLAIN credentials "\0alice\0correct horse" in the clear: exactly what must not happen.
    raw.send(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAGNvcnJlY3QgaG9yc2U=</auth>")
        .await
        .expect("send auth");
    let reply = raw.read_to_close(REPLY_TIMEOUT).await.expect("closed");
    let failure =
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required/></failure>";
    let failure_at = reply.find(failure).expect("encryption-required failure");
    let error_at = reply.find("<stream:error>").expect("stream error");
    assert!(failure_at < error_at, "{reply}");
    assert_stream_error(&reply, StreamError::PolicyViolation);
    t.stop().await;
}
