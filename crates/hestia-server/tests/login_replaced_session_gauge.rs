//! A device's second login replaces the first (which gets `conflict`); once both connections
//! are gone the `hestia_sessions_bound` gauge is back to zero — a replaced connection is
//! counted out too, so the gauge does not creep up with every device reconnect.
//! (Own binary: the metrics recorder is process-wide.)

#![cfg(test)]

use std::time::Duration;

use hestia_proto::StreamError;
use hestia_testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn sessions_bound_gauge(t: &TestServer) -> f64 {
    let addr = t.http_base().trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("http");
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut reply))
        .await
        .expect("reply in time")
        .expect("reply");
    reply
        .lines()
        .find_map(|l| l.strip_prefix("hestia_sessions_bound "))
        .map(|v| v.trim().parse().expect("gauge value"))
        .unwrap_or(0.0)
}

/// The gauge once it reads `expected`, or its last value after a short while: cleanup runs
/// just after the server closes a stream, so the test polls briefly instead of racing it.
async fn settled_gauge(t: &TestServer, expected: f64) -> f64 {
    let mut gauge = sessions_bound_gauge(t).await;
    for _ in 0..50 {
        if gauge == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        gauge = sessions_bound_gauge(t).await;
    }
    gauge
}

#[tokio::test]
async fn replaced_device_connection_is_counted_out() {
    let t = TestServer::start().await.expect("server");
    t.add_device("lamp1", "light").await.expect("lamp1");
    let mut first = t.login("lamp1").await.expect("first login");
    let second = t.login("lamp1").await.expect("second login");
    // The reason push, then the conflict.
    let _reason = first.recv().await.expect("forced-logout push");
    let err = first.recv().await.expect_err("first is replaced");
    assert_eq!(err.stream_error(), Some(StreamError::Conflict), "{err}");
    assert_eq!(
        settled_gauge(&t, 1.0).await,
        1.0,
        "only the second is bound"
    );
    second.close().await.expect("close");
    assert_eq!(
        settled_gauge(&t, 0.0).await,
        0.0,
        "every bound connection counted out"
    );
    t.stop().await;
}
