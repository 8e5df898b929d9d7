//! A stream allows `max_auth_attempts_per_stream` (3) failed SASL attempts; the third failure
//! is answered and then the stream is closed with `policy-violation`.

#![cfg(test)]

use hestia_proto::{StreamError, ns};
use hestia_testkit::TestServer;

#[tokio::test]
async fn third_failure_closes_the_stream() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut c = t.connect().await.expect("connect");
    // PLAIN "\0alice\0wrong horse", offered because the stream is under TLS.
    let wrong = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHdyb25nIGhvcnNl</auth>";
    for n in 1..=3 {
        c.send_raw(wrong).await.expect("send");
        let failure = c.recv().await.expect("failure");
        assert!(failure.is("failure", ns::SASL), "{failure:?}");
        assert!(
            failure.get_child("not-authorized", ns::SASL).is_some(),
            "attempt {n}: {failure:?}"
        );
    }
    let err = c.recv().await.expect_err("stream closed");
    assert_eq!(
        err.stream_error(),
        Some(StreamError::PolicyViolation),
        "{err}"
    );
    t.stop().await;
}
