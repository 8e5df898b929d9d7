//! The proxy's limits on relayed streams: past `proxy.max_streams` an activation gets
//! `resource-constraint` (and works once a stream ends); a stream that would carry more than
//! `proxy.max_bytes_per_stream` delivers exactly that many and is closed.

#![allow(clippy::expect_used)]

mod bytestreams;
mod conversation;

use std::time::Duration;

use bytestreams::*;
use conversation::*;
use hestia_client::Bound;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn friends(t: &TestServer) -> (Bound, String, String) {
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let alice = t.login("alice").await.expect("alice");
    let bob = t.login("bob").await.expect("bob");
    let (a, b) = (alice.jid().to_string(), bob.jid().to_string());
    // Bob's end is all the proxy needs; his session may go.
    drop(bob);
    (alice, a, b)
}

#[tokio::test]
async fn activations_past_max_streams_are_resource_constraint() {
    let t = TestServer::start_with(|c| c.proxy.max_streams = 1)
        .await
        .expect("server");
    let (mut alice, a_jid, b_jid) = friends(&t).await;
    let proxy = proxy_jid(&t);
    let (first_a, mut first_b) = connect_pair(&t, "s1", &a_jid, &b_jid).await;
    activate(&mut alice, &proxy, "s1", &b_jid)
        .await
        .expect("first");
    let _second = connect_pair(&t, "s2", &a_jid, &b_jid).await;
    let answer = activate(&mut alice, &proxy, "s2", &b_jid).await;
    assert_condition(answer, Cond::ResourceConstraint);

    // Ending the first stream frees its slot; the second pair is still parked.
    drop(first_a);
    let mut buf = [0u8; 1];
    let eof = tokio::time::timeout(Duration::from_secs(5), first_b.read(&mut buf)).await;
    assert!(matches!(eof, Ok(Ok(0))), "{eof:?}");
    drop(first_b);
    // The relay task frees its slot just after both ends close: poll briefly for it.
    let mut activated = Err(Cond::ResourceConstraint);
    for _ in 0..50 {
        activated = activate(&mut alice, &proxy, "s2", &b_jid)
            .await
            .map(drop)
            .map_err(|e| e.stanza_condition().expect("stanza error"));
        if activated != Err(Cond::ResourceConstraint) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(activated, Ok(()));
    t.stop().await;
}

#[tokio::test]
async fn a_stream_is_cut_off_at_max_bytes_per_stream() {
    const LIMIT: usize = 64 * 1024;
    let t = TestServer::start_with(|c| c.proxy.max_bytes_per_stream = LIMIT as u64)
        .await
        .expect("server");
    let (mut alice, a_jid, b_jid) = friends(&t).await;
    let (mut at_a, mut at_b) = connect_pair(&t, "s1", &a_jid, &b_jid).await;
    activate(&mut alice, &proxy_jid(&t), "s1", &b_jid)
        .await
        .expect("activated");
    let sender = async move {
        // The proxy closes mid-way, so the write may fail: that is the point.
        let _ = at_a.write_all(&vec![7u8; 16 * LIMIT]).await;
        at_a
    };
    let receiver = async {
        let mut got = 0;
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = at_b.read(&mut buf).await {
            if n == 0 {
                break;
            }
            got += n;
        }
        got
    };
    let (_at_a, got) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(sender, receiver)
    })
    .await
    .expect("the stream ends");
    assert_eq!(
        got, LIMIT,
        "exactly the limit crossed, then the stream closed"
    );
    t.stop().await;
}
