//! RFC 6120 §13.12: nesting deeper than `max_depth` (64) — here 10,000 levels — closes the
//! stream with `policy-violation`; the server keeps serving others.

#![cfg(test)]

use hestia_proto::StreamError;
use hestia_testkit::TestServer;

#[tokio::test]
async fn ten_thousand_levels_is_policy_violation() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let mut deep = String::from("<message to='bob@localhost'>");
    deep.push_str(&"<a>".repeat(10_000));
    alice.send_raw(deep.as_bytes()).await.expect("send");
    let err = alice.recv().await.expect_err("stream error");
    assert_eq!(
        err.stream_error(),
        Some(StreamError::PolicyViolation),
        "{err}"
    );
    bob.ping().await.expect("bob still served");
    t.stop().await;
}
