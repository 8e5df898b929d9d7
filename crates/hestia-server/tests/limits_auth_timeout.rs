//! A stream that has not logged in and bound a connection ID within `auth_timeout` is closed
//! with `connection-timeout` (RFC 6120 §4.9.3.4), so idle half-open logins cannot pile up.
//! Real time, bounded: the server runs on real sockets.

#![cfg(test)]

use std::time::{Duration, Instant};

use hestia_proto::StreamError;
use hestia_testkit::raw::{RawStream, assert_stream_error};
use hestia_testkit::{PASSWORD, TestServer};

#[tokio::test]
async fn idle_unauthenticated_stream_times_out() {
    let t = TestServer::start_with(|cfg| {
        cfg.tls.required = false;
        cfg.c2s.auth_timeout = hestia_config::Duration::secs(1);
    })
    .await
    .expect("server");
    let started = Instant::now();
    let mut raw = RawStream::connect(t.c2s_addr()).await.expect("connect");
    raw.open(&t.domain()).await.expect("features");
    let reply = raw
        .read_to_close(Duration::from_secs(3))
        .await
        .expect("closed within ~2 s");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "not before the timeout: {elapsed:?}"
    );
    assert!(elapsed <= Duration::from_millis(2500), "{elapsed:?}");
    assert_stream_error(&reply, StreamError::ConnectionTimeout);
    t.stop().await;
}

#[tokio::test]
async fn authenticated_but_unbound_stream_times_out() {
    let t = TestServer::start_with(|cfg| cfg.c2s.auth_timeout = hestia_config::Duration::secs(1))
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    let started = Instant::now();
    let mut alice = t
        .connect()
        .await
        .expect("connect")
        .authenticate("alice", PASSWORD)
        .await
        .expect("authenticated");
    let err = alice.recv().await.expect_err("stream closed");
    let elapsed = started.elapsed();
    assert_eq!(
        err.stream_error(),
        Some(StreamError::ConnectionTimeout),
        "{err}"
    );
    assert!(elapsed <= Duration::from_millis(2500), "{elapsed:?}");
    t.stop().await;
}

#[tokio::test]
async fn bound_stream_does_not_time_out() {
    let t = TestServer::start_with(|cfg| cfg.c2s.auth_timeout = hestia_config::Duration::secs(1))
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let quiet = alice
        .recv_timeout(Duration::from_millis(1500))
        .await
        .expect("still open past the login deadline");
    assert!(quiet.is_none(), "{quiet:?}");
    alice.ping().await.expect("ping");
    t.stop().await;
}
