//! Byte-rate shaping (`max_bytes_per_second`, `burst_bytes`): a client sending faster than its
//! rate is slowed by TCP back-pressure, not cut off — every stanza is still delivered, but the
//! whole takes about (bytes − burst) / rate seconds.

#![cfg(test)]

use std::time::{Duration, Instant};

use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;

const MESSAGES: usize = 20;

#[tokio::test]
async fn fast_sender_is_slowed_not_dropped() {
    let t = TestServer::start_with(|cfg| {
        cfg.c2s.max_bytes_per_second = 2000;
        cfg.c2s.burst_bytes = 2000;
    })
    .await
    .expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let started = Instant::now();
    let mut sent = 0;
    for n in 0..MESSAGES {
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("to", bob.jid().to_string())
            .with_attr("type", "chat")
            .with_attr("id", format!("m{n}"))
            .with_child(Element::new("body", ns::CLIENT).with_text("x".repeat(500)));
        let mut bytes = Vec::new();
        msg.write_to(&mut bytes, ns::CLIENT);
        sent += bytes.len();
        alice.send(&msg).await.expect("send");
    }
    assert!(sent >= 10_000, "{sent} bytes");
    for n in 0..MESSAGES {
        let got = bob.recv().await.expect("every message arrives");
        assert_eq!(got.attr("id"), Some(format!("m{n}").as_str()), "in order");
    }
    let elapsed = started.elapsed();
    // (10 KB − 2 KB burst) / 2 KB/s = 4 s; allow for the burst left over from the login.
    assert!(elapsed >= Duration::from_secs(3), "not shaped: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    alice.ping().await.expect("alice still connected");
    t.stop().await;
}
