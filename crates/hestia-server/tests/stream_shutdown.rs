//! Graceful shutdown (RFC 6120 §4.9.3.22): stopping the server closes every stream — bound or
//! still logging in — with `system-shutdown`.

#![cfg(test)]

use hestia_proto::StreamError;
use hestia_testkit::TestServer;

#[tokio::test]
async fn stop_sends_system_shutdown() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let mut pending = t.connect().await.expect("unauthenticated connection");
    t.stop().await;
    let err = alice.recv().await.expect_err("stream closed");
    assert_eq!(
        err.stream_error(),
        Some(StreamError::SystemShutdown),
        "{err}"
    );
    let err = pending.recv().await.expect_err("stream closed");
    assert_eq!(
        err.stream_error(),
        Some(StreamError::SystemShutdown),
        "{err}"
    );
}
