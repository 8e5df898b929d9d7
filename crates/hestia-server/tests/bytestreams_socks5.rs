//! The proxy's SOCKS5 side (RFC 1928 as XEP-0065 profiles it) against a live server: what is
//! not a no-auth CONNECT to a stream name on port 0 is answered with its reply code and
//! closed; a connection that is never activated is dropped after the pairing timeout; a
//! stream takes two ends, no more; past `max_pending` connections are closed on arrival.

#![allow(clippy::expect_used)]

mod bytestreams;

use std::time::{Duration, Instant};

use bytestreams::*;
use hestia_testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAME: &str = "2e45ce941bf465393585e33be9ccff347e00b430";

/// Writes `input` and returns everything the proxy sent before closing.
async fn exchange(t: &TestServer, input: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(proxy_addr(t)).await.expect("connect");
    s.write_all(input).await.expect("write");
    s.shutdown().await.expect("end of input");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the proxy closes the connection")
        .expect("read");
    out
}

fn connect(cmd: u8, atyp: u8, addr: &[u8], port: u16) -> Vec<u8> {
    let mut v = vec![5, 1, 0, 5, cmd, 0, atyp, addr.len() as u8];
    v.extend_from_slice(addr);
    v.extend_from_slice(&port.to_be_bytes());
    v
}

#[tokio::test]
async fn malformed_handshakes_get_their_reply_code_and_are_closed() {
    let t = TestServer::start().await.expect("server");
    let refused = |code: u8| vec![5, 0, 5, code, 0, 1, 0, 0, 0, 0, 0, 0];
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("SOCKS4 CONNECT", vec![4, 1, 0, 80, 127, 0, 0, 1, 0], vec![]),
        ("only username/password", vec![5, 1, 2], vec![5, 0xff]),
        ("no methods at all", vec![5, 0], vec![5, 0xff]),
        ("BIND", connect(2, 3, NAME.as_bytes(), 0), refused(7)),
        (
            "UDP ASSOCIATE",
            connect(3, 3, NAME.as_bytes(), 0),
            refused(7),
        ),
        (
            "IPv4 destination",
            vec![5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80],
            refused(8),
        ),
        (
            "IPv6 destination",
            [vec![5, 1, 0, 5, 1, 0, 4], vec![0; 18]].concat(),
            refused(8),
        ),
        (
            "a real port",
            connect(1, 3, NAME.as_bytes(), 443),
            refused(2),
        ),
        ("a host name", connect(1, 3, b"example.com", 0), refused(2)),
    ];
    for (name, input, expected) in cases {
        assert_eq!(exchange(&t, &input).await, expected, "{name}");
    }
    t.stop().await;
}

#[tokio::test]
async fn an_unactivated_connection_is_dropped_after_the_pairing_timeout() {
    let t = TestServer::start_with(|c| {
        c.proxy.pairing_timeout = hestia_config::Duration::millis(500);
    })
    .await
    .expect("server");
    let started = Instant::now();
    // One stranger completes the handshake and waits; another never says a word.
    let mut parked = socks5_connect(proxy_addr(&t), NAME).await.expect("parked");
    let mut silent = TcpStream::connect(proxy_addr(&t)).await.expect("connect");
    assert!(!is_closed_within(&mut parked, Duration::from_millis(200)).await);
    assert!(is_closed_within(&mut parked, Duration::from_secs(5)).await);
    assert!(is_closed_within(&mut silent, Duration::from_secs(5)).await);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(450),
        "closed early: {waited:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_stream_takes_two_ends_and_no_third() {
    let t = TestServer::start().await.expect("server");
    let _a = socks5_connect(proxy_addr(&t), NAME)
        .await
        .expect("first end");
    let _b = socks5_connect(proxy_addr(&t), NAME)
        .await
        .expect("second end");
    let third = socks5_connect(proxy_addr(&t), NAME).await;
    assert_eq!(third.err(), Some(2), "connection not allowed by ruleset");
    t.stop().await;
}

#[tokio::test]
async fn connections_past_max_pending_are_closed_on_arrival() {
    let t = TestServer::start_with(|c| c.proxy.max_pending = 2)
        .await
        .expect("server");
    let _a = socks5_connect(proxy_addr(&t), NAME).await.expect("first");
    let _b = TcpStream::connect(proxy_addr(&t)).await.expect("second");
    let mut third = TcpStream::connect(proxy_addr(&t)).await.expect("third");
    assert!(is_closed_within(&mut third, Duration::from_secs(5)).await);
    t.stop().await;
}
