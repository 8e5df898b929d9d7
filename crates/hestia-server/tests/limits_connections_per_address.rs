//! `max_connections_per_address`: a source address holding that many connections has the next
//! one refused with `policy-violation` (RFC 6120 §4.9.3.14); other addresses are unaffected.

#![cfg(test)]

use std::net::{IpAddr, Ipv4Addr};

use hestia_client::Connected;
use hestia_proto::StreamError;
use hestia_testkit::TestServer;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

#[tokio::test]
async fn third_connection_from_one_address_is_refused() {
    let t = TestServer::start_with(|cfg| cfg.c2s.max_connections_per_address = 2)
        .await
        .expect("server");
    let from_4 = t.options().with_local_addr(ip(4));
    let _one = Connected::connect(&from_4).await.expect("first");
    let _two = Connected::connect(&from_4).await.expect("second");
    let err = Connected::connect(&from_4)
        .await
        .err()
        .expect("third refused");
    assert_eq!(
        err.stream_error(),
        Some(StreamError::PolicyViolation),
        "{err}"
    );
    let other = Connected::connect(&t.options().with_local_addr(ip(5)))
        .await
        .expect("another address is fine");
    assert!(other.is_tls());
    t.stop().await;
}

#[tokio::test]
async fn a_closed_connection_frees_its_slot() {
    let t = TestServer::start_with(|cfg| cfg.c2s.max_connections_per_address = 1)
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    let from_6 = t.options().with_local_addr(ip(6));
    let alice = Connected::connect(&from_6)
        .await
        .expect("first")
        .authenticate("alice", hestia_testkit::PASSWORD)
        .await
        .expect("auth")
        .bind(None)
        .await
        .expect("bind");
    alice.close().await.expect("closed cleanly");
    // The server releases the slot when the connection task ends, just after the close.
    let mut again = None;
    for _ in 0..50 {
        match Connected::connect(&from_6).await {
            Ok(c) => {
                again = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    assert!(again.is_some(), "slot freed after close");
    t.stop().await;
}
