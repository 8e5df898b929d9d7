//! RFC 6120 §4.9.3: a client whose stream header is wrong gets the server's own header first
//! (§4.9.1.2) and then the matching stream error: a foreign `to` is `host-unknown`, a missing
//! version is `unsupported-version`, the server-to-server namespace is `invalid-namespace`.

#![cfg(test)]

use hestia_proto::StreamError;
use hestia_testkit::TestServer;
use hestia_testkit::raw::{REPLY_TIMEOUT, RawStream, assert_stream_error};

const STREAM_NS: &str = "xmlns:stream='http://etherx.jabber.org/streams'";

async fn reply_to_header(header: &str) -> String {
    let t = TestServer::start_with(|cfg| cfg.tls.required = false)
        .await
        .expect("server");
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    raw.send(header.as_bytes()).await.expect("send header");
    let reply = raw
        .read_to_close(REPLY_TIMEOUT)
        .await
        .expect("server closes");
    t.stop().await;
    reply
}

fn assert_after_our_header(reply: &str, condition: StreamError) {
    let header_at = reply.find("<stream:stream ").expect("server header");
    let error_at = reply.find("<stream:error>").expect("stream error");
    assert!(header_at < error_at, "header must come first:\n{reply}");
    assert!(
        reply.starts_with("<?xml version='1.0'?><stream:stream xmlns='jabber:client'"),
        "{reply}"
    );
    assert!(
        !reply.contains("<stream:features>"),
        "no features after a bad header:\n{reply}"
    );
    assert_stream_error(reply, condition);
}

#[tokio::test]
async fn foreign_to_is_host_unknown() {
    let reply = reply_to_header(&format!(
        "<stream:stream xmlns='jabber:client' {STREAM_NS} to='elsewhere.example' version='1.0'>"
    ))
    .await;
    assert_after_our_header(&reply, StreamError::HostUnknown);
}

#[tokio::test]
async fn missing_version_is_unsupported_version() {
    let reply = reply_to_header(&format!(
        "<stream:stream xmlns='jabber:client' {STREAM_NS} to='localhost'>"
    ))
    .await;
    assert_after_our_header(&reply, StreamError::UnsupportedVersion);
}

#[tokio::test]
async fn server_namespace_is_invalid_namespace() {
    let reply = reply_to_header(&format!(
        "<stream:stream xmlns='jabber:server' {STREAM_NS} to='localhost' version='1.0'>"
    ))
    .await;
    assert_after_our_header(&reply, StreamError::InvalidNamespace);
}

#[tokio::test]
async fn major_version_two_is_unsupported_version() {
    let reply = reply_to_header(&format!(
        "<stream:stream xmlns='jabber:client' {STREAM_NS} to='localhost' version='2.0'>"
    ))
    .await;
    assert_after_our_header(&reply, StreamError::UnsupportedVersion);
}

#[tokio::test]
async fn wrong_stream_namespace_is_invalid_namespace() {
    let reply = reply_to_header(
        "<stream:stream xmlns='jabber:client' xmlns:stream='urn:example:not-streams' to='localhost' version='1.0'>",
    )
    .await;
    assert_after_our_header(&reply, StreamError::InvalidNamespace);
}
