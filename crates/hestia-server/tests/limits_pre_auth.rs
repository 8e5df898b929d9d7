//! RFC 6120 §13.12: an unauthenticated peer gets tighter limits — stanzas of at most
//! `pre_auth_max_stanza_bytes` (8 KiB) and at most `max_pre_auth_stanzas` top-level elements —
//! and exceeding either closes the stream with `policy-violation`.

#![cfg(test)]

use hestia_proto::StreamError;
use hestia_testkit::TestServer;
use hestia_testkit::raw::{REPLY_TIMEOUT, RawStream, assert_stream_error};

#[tokio::test]
async fn nine_kib_stanza_before_auth_is_policy_violation() {
    let t = TestServer::start_with(|cfg| cfg.tls.required = false)
        .await
        .expect("server");
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    raw.open(&t.domain()).await.expect("features");
    let auth = format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>{}</auth>",
        "A".repeat(9 * 1024)
    );
    raw.send(auth.as_bytes()).await.expect("send");
    let reply = raw.read_to_close(REPLY_TIMEOUT).await.expect("closed");
    assert!(!reply.contains("<challenge"), "nothing processed:\n{reply}");
    assert_stream_error(&reply, StreamError::PolicyViolation);
    t.stop().await;
}

#[tokio::test]
async fn too_many_elements_before_auth_is_policy_violation() {
    let t = TestServer::start_with(|cfg| {
        cfg.tls.required = false;
        cfg.c2s.max_pre_auth_stanzas = 5;
    })
    .await
    .expect("server");
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    raw.open(&t.domain()).await.expect("features");
    // SASL aborts are harmless on their own (RFC 6120 §6.4.4) and each counts as an element.
    let abort = b"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
    for n in 1..=5 {
        raw.send(abort).await.expect("send");
        let reply = raw
            .read_until("</failure>", REPLY_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("abort {n} answered: {e}"));
        assert!(reply.contains("<aborted/>"), "{reply}");
    }
    raw.send(abort).await.expect("send");
    let reply = raw.read_to_close(REPLY_TIMEOUT).await.expect("closed");
    assert!(
        !reply.contains("<failure"),
        "the sixth is not processed:\n{reply}"
    );
    assert_stream_error(&reply, StreamError::PolicyViolation);
    t.stop().await;
}
