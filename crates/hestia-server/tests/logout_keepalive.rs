//! Abrupt logout without a TCP close (14543-5-8 §12): a device that loses power keeps no
//! socket to close, so the server pings a silent connection (XEP-0199) after
//! `c2s.keepalive_interval`, closes it with `connection-timeout` when nothing comes back within
//! `c2s.keepalive_timeout`, and broadcasts it unavailable. A connection that answers stays.

#![allow(clippy::expect_used)]

mod relations;

use std::time::{Duration, Instant};

use hestia_client::ClientError;
use hestia_proto::{StreamError, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;
use relations::*;

const INTERVAL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(1);

async fn server() -> TestServer {
    let t = TestServer::start_with(|cfg| {
        cfg.c2s.keepalive_interval = hestia_config::Duration(INTERVAL);
        cfg.c2s.keepalive_timeout = hestia_config::Duration(TIMEOUT);
    })
    .await
    .expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    t.own("alice", "lamp-1").await.expect("own");
    t
}

fn is_keepalive_ping(el: &Element) -> bool {
    el.name() == "iq" && el.attr("type") == Some("get") && el.get_child("ping", ns::PING).is_some()
}

fn pong(ping: &Element) -> Element {
    let mut r = Element::new("iq", ns::CLIENT).with_attr("type", "result");
    if let Some(id) = ping.attr("id") {
        r.set_attr("id", id);
    }
    if let Some(from) = ping.attr("from") {
        r.set_attr("to", from);
    }
    r
}

#[tokio::test]
async fn a_silent_device_is_pinged_closed_and_broadcast_unavailable_within_the_window() {
    let t = server().await;
    let lamp = jid(&t, "lamp-1");
    let (mut alice, _) = online(&t, "alice").await;
    let mut lamp_conn = t.login("lamp-1").await.expect("lamp login");
    lamp_conn.send_presence().await.expect("presence");
    // The lamp's last word; from here it neither reads nor writes. Alice answers her own
    // pings meanwhile, so only the lamp goes quiet.
    let silent_since = Instant::now();
    expect(&mut alice, "lamp online", |e| is_presence(e, &lamp, None)).await;
    let deadline = silent_since + INTERVAL + TIMEOUT + Duration::from_secs(3);
    let gone_after = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match alice.recv_timeout(left).await.expect("alice's stream") {
            Some(el) if is_keepalive_ping(&el) => alice.send(&pong(&el)).await.expect("pong"),
            Some(el) if is_presence(&el, &lamp, Some("unavailable")) => {
                break silent_since.elapsed();
            }
            Some(_) => {}
            None => panic!("the silent lamp was never broadcast unavailable"),
        }
    };
    assert!(
        gone_after >= INTERVAL + TIMEOUT - Duration::from_millis(100),
        "broadcast before the window ended: {gone_after:?}"
    );
    // What the lamp finds when it reads again: its own presence, the ping, the stream error.
    let mut pinged = false;
    loop {
        match lamp_conn.recv().await {
            Ok(el) if is_keepalive_ping(&el) => {
                assert_eq!(el.attr("to"), Some(lamp_conn.jid().to_string().as_str()));
                pinged = true;
            }
            Ok(_) => {}
            Err(ClientError::Stream(e)) => {
                assert_eq!(e, StreamError::ConnectionTimeout);
                break;
            }
            Err(e) => panic!("expected connection-timeout, got {e}"),
        }
    }
    assert!(pinged, "closed without a ping first");
    t.stop().await;
}

#[tokio::test]
async fn a_device_that_answers_the_pings_stays_online() {
    let t = server().await;
    let lamp = jid(&t, "lamp-1");
    let (mut alice, _) = online(&t, "alice").await;
    let (mut lamp_conn, _) = online(&t, "lamp-1").await;
    expect(&mut alice, "lamp online", |e| is_presence(e, &lamp, None)).await;
    let until = Instant::now() + 3 * (INTERVAL + TIMEOUT);
    let mut pings = 0;
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        tokio::select! {
            got = lamp_conn.recv_timeout(left) => {
                if let Some(el) = got.expect("the lamp's stream stays open")
                    && is_keepalive_ping(&el)
                {
                    pings += 1;
                    lamp_conn.send(&pong(&el)).await.expect("pong");
                }
            }
            got = alice.recv_timeout(left) => {
                if let Some(el) = got.expect("alice's stream stays open") {
                    assert!(!is_presence(&el, &lamp, Some("unavailable")), "lamp dropped: {el:?}");
                    if is_keepalive_ping(&el) {
                        alice.send(&pong(&el)).await.expect("pong");
                    }
                }
            }
        }
    }
    assert!(
        pings >= 2,
        "the server pinged {pings} times in {:?}",
        3 * (INTERVAL + TIMEOUT)
    );
    lamp_conn.ping().await.expect("the lamp is still connected");
    t.stop().await;
}

#[tokio::test]
async fn stream_limits_announce_the_idle_window() {
    let t = server().await;
    let authenticated = t
        .connect()
        .await
        .expect("connect")
        .authenticate("alice", hestia_testkit::PASSWORD)
        .await
        .expect("authenticate");
    let idle = authenticated
        .features()
        .get_child("limits", ns::STREAM_LIMITS)
        .and_then(|l| l.get_child("idle-seconds", ns::STREAM_LIMITS))
        .map(|e| e.text());
    assert_eq!(idle.as_deref(), Some("2"));
    t.stop().await;
}
