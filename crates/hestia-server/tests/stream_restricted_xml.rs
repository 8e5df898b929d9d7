//! RFC 6120 §11.1: comments, processing instructions, DTDs and entity references other than
//! the five predefined ones are restricted XML; each closes the stream with `restricted-xml`,
//! whether it arrives before or after authentication.

#![cfg(test)]

use hestia_proto::StreamError;
use hestia_testkit::TestServer;
use hestia_testkit::raw::{REPLY_TIMEOUT, RawStream, assert_stream_error, header};

/// Sends `before_header`, our header, then `after_header`; returns the server's reply.
async fn reply_to(before_header: &str, after_header: &str) -> String {
    let t = TestServer::start_with(|cfg| cfg.tls.required = false)
        .await
        .expect("server");
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    let input = format!("{before_header}{}{after_header}", header(&t.domain()));
    raw.send(input.as_bytes()).await.expect("send");
    let reply = raw
        .read_to_close(REPLY_TIMEOUT)
        .await
        .expect("server closes");
    t.stop().await;
    reply
}

#[tokio::test]
async fn comment_is_restricted() {
    let reply = reply_to("", "<!-- a note -->").await;
    assert_stream_error(&reply, StreamError::RestrictedXml);
}

#[tokio::test]
async fn comment_inside_a_stanza_is_restricted() {
    let reply = reply_to("", "<message to='bob@localhost'><!-- hidden --></message>").await;
    assert_stream_error(&reply, StreamError::RestrictedXml);
}

#[tokio::test]
async fn processing_instruction_is_restricted() {
    let reply = reply_to("", "<?evil data?>").await;
    assert_stream_error(&reply, StreamError::RestrictedXml);
}

#[tokio::test]
async fn doctype_is_restricted() {
    let reply = reply_to("<!DOCTYPE stream:stream [<!ENTITY x 'y'>]>", "").await;
    assert!(
        reply.contains("<stream:stream "),
        "our header first:\n{reply}"
    );
    assert_stream_error(&reply, StreamError::RestrictedXml);
}

#[tokio::test]
async fn unknown_entity_is_restricted() {
    let reply = reply_to(
        "",
        "<message to='bob@localhost'><body>&nbsp;</body></message>",
    )
    .await;
    assert_stream_error(&reply, StreamError::RestrictedXml);
}

#[tokio::test]
async fn comment_after_login_is_restricted() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    alice.send_raw(b"<!-- after login -->").await.expect("send");
    let err = alice.recv().await.expect_err("stream error");
    assert_eq!(
        err.stream_error(),
        Some(StreamError::RestrictedXml),
        "{err}"
    );
    t.stop().await;
}
