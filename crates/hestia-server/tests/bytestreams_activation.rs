//! XEP-0065 §5.3.3 / §6 under the IRSP's rules: the proxy activates a stream only for its
//! initiator, only when both ends are connected, and only towards a target the initiator may
//! reach (14543-5-8 §9: the same need as the IQ `set` that offered the stream). Each refusal
//! with its exact condition, and a refused pair is never relayed.

#![allow(clippy::expect_used)]

mod bytestreams;
mod conversation;

use std::time::Duration;

use bytestreams::*;
use conversation::*;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_store::AccessRight;
use hestia_testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Asserts that nothing written at one end reaches the other: the pair is not relayed.
async fn assert_not_relayed(a: &mut TcpStream, b: &mut TcpStream) {
    a.write_all(b"hello").await.expect("write");
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(QUIET, b.read(&mut buf)).await;
    assert!(read.is_err(), "bytes crossed an unactivated pair: {read:?}");
}

async fn server_with(users: &[&str]) -> TestServer {
    let t = TestServer::start().await.expect("server");
    for u in users {
        t.add_user(u).await.expect("user");
    }
    t
}

#[tokio::test]
async fn an_unrelated_target_is_refused_like_an_address_with_nobody_behind_it() {
    let t = server_with(&["alice", "mallory"]).await;
    let mut mallory = t.login("mallory").await.expect("mallory");
    let alice = t.login("alice").await.expect("alice");
    let (m_jid, a_jid) = (mallory.jid().to_string(), alice.jid().to_string());
    let (mut at_m, mut at_a) = connect_pair(&t, "s1", &m_jid, &a_jid).await;

    let answer = activate(&mut mallory, &proxy_jid(&t), "s1", &a_jid).await;
    assert_condition(answer, Cond::ServiceUnavailable);
    assert_not_relayed(&mut at_m, &mut at_a).await;

    // A target with no account gets exactly the same answer, even with both ends connected.
    let ghost = format!("ghost@{}/r", t.domain());
    let _pair = connect_pair(&t, "s2", &m_jid, &ghost).await;
    let answer = activate(&mut mallory, &proxy_jid(&t), "s2", &ghost).await;
    assert_condition(answer, Cond::ServiceUnavailable);
    assert_quiet(&mut mallory).await;
    t.stop().await;
}

#[tokio::test]
async fn a_device_needs_control_as_for_an_iq_set() {
    let t = server_with(&["alice", "vera"]).await;
    t.add_device("cam-1", "camera").await.expect("device");
    t.own("alice", "cam-1").await.expect("owner");
    t.relate(
        "vera",
        "cam-1",
        hestia_store::RelationKind::Shared,
        Some(AccessRight::View),
    )
    .await
    .expect("viewer");
    let cam = t.login("cam-1").await.expect("cam");
    let cam_jid = cam.jid().to_string();
    for (user, condition) in [("vera", Some(Cond::ServiceUnavailable)), ("alice", None)] {
        let mut c = t.login(user).await.expect("user");
        let jid = c.jid().to_string();
        let _pair = connect_pair(&t, "s1", &jid, &cam_jid).await;
        let answer = activate(&mut c, &proxy_jid(&t), "s1", &cam_jid).await;
        match condition {
            Some(cond) => assert_condition(answer, cond),
            None => {
                answer.expect("the owner activates");
            }
        }
    }
    t.stop().await;
}

#[tokio::test]
async fn an_unknown_sid_is_item_not_found() {
    let t = server_with(&["alice", "bob"]).await;
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let bob = t.login("bob").await.expect("bob");
    let (a_jid, b_jid) = (alice.jid().to_string(), bob.jid().to_string());
    let _pair = connect_pair(&t, "real", &a_jid, &b_jid).await;
    let answer = activate(&mut alice, &proxy_jid(&t), "never-offered", &b_jid).await;
    assert_condition(answer, Cond::ItemNotFound);
    t.stop().await;
}

#[tokio::test]
async fn one_connected_end_is_not_allowed() {
    let t = server_with(&["alice", "bob"]).await;
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let bob = t.login("bob").await.expect("bob");
    let (a_jid, b_jid) = (alice.jid().to_string(), bob.jid().to_string());
    let name = stream_name("s1", &a_jid, &b_jid);
    let mut only = socks5_connect(proxy_addr(&t), &name)
        .await
        .expect("one end");
    let answer = activate(&mut alice, &proxy_jid(&t), "s1", &b_jid).await;
    assert_condition(answer, Cond::NotAllowed);

    // The lone end stays parked: once the other end arrives, activation works.
    let mut other = socks5_connect(proxy_addr(&t), &name)
        .await
        .expect("other end");
    activate(&mut alice, &proxy_jid(&t), "s1", &b_jid)
        .await
        .expect("activated");
    only.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    other.read_exact(&mut buf).await.expect("relayed");
    assert_eq!(&buf, b"ping");
    t.stop().await;
}

#[tokio::test]
async fn the_target_cannot_activate_and_the_initiator_still_can() {
    let t = server_with(&["alice", "bob"]).await;
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let (a_jid, b_jid) = (alice.jid().to_string(), bob.jid().to_string());
    let (mut at_a, mut at_b) = connect_pair(&t, "s1", &a_jid, &b_jid).await;

    // Bob's JID does not hash to the stream's name (XEP-0065 §6: item-not-found).
    let answer = activate(&mut bob, &proxy_jid(&t), "s1", &a_jid).await;
    assert_condition(answer, Cond::ItemNotFound);
    assert_not_relayed(&mut at_b, &mut at_a).await;

    activate(&mut alice, &proxy_jid(&t), "s1", &b_jid)
        .await
        .expect("activated by the initiator");
    // "hello" was held, not dropped, before activation (XEP-0065 StreamHost requirements).
    let mut buf = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(5), at_a.read_exact(&mut buf))
        .await
        .expect("in time")
        .expect("relayed");
    assert_eq!(&buf, b"hello");
    t.stop().await;
}

#[tokio::test]
async fn malformed_activations_are_refused() {
    let t = server_with(&["alice", "bob"]).await;
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let proxy = proxy_jid(&t);
    let bare = format!("bob@{}", t.domain());
    let answer = activate(&mut alice, &proxy, "s1", &bare).await;
    assert_condition(answer, Cond::BadRequest);
    let answer = activate(&mut alice, &proxy, "s1", "@@/").await;
    assert_condition(answer, Cond::JidMalformed);
    let no_sid = iq_to("set", "x", &proxy, query(None, vec![]));
    assert_condition(alice.iq(no_sid).await, Cond::BadRequest);
    t.stop().await;
}
