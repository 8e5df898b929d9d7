//! XEP-0047 in-band bytestreams, the fallback when the proxy cannot be used: open, data and
//! close are IQs between related full JIDs that the IRSP relays like any other (14543-5-8
//! §11.6). A file moves in 4096-byte blocks, well under the stanza-size limit, and arrives
//! intact; an unrelated entity's open is refused like any IQ to an unrelated account.

#![allow(clippy::expect_used)]

mod conversation;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use conversation::*;
use hestia_client::Bound;
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;
use sha2::{Digest, Sha256};

const BLOCK: usize = 4096;
const SIZE: usize = 64 * BLOCK + 123;

fn file() -> Vec<u8> {
    (0..SIZE as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn open(sid: &str) -> Element {
    Element::new("open", ns::IBB)
        .with_attr("sid", sid)
        .with_attr("block-size", BLOCK.to_string())
        .with_attr("stanza", "iq")
}

async fn send_file(alice: &mut Bound, to: &str, data: &[u8]) {
    alice
        .iq(iq("set", "open", Some(to), open("i1")))
        .await
        .expect("opened");
    for (seq, block) in data.chunks(BLOCK).enumerate() {
        let payload = Element::new("data", ns::IBB)
            .with_attr("sid", "i1")
            .with_attr("seq", seq.to_string())
            .with_text(BASE64.encode(block));
        let id = format!("d{seq}");
        alice
            .iq(iq("set", &id, Some(to), payload))
            .await
            .expect("block acknowledged");
    }
    let close = Element::new("close", ns::IBB).with_attr("sid", "i1");
    alice
        .iq(iq("set", "close", Some(to), close))
        .await
        .expect("closed");
}

/// Bob accepts the stream and acknowledges every IQ, collecting the blocks in order.
async fn receive_file(bob: &mut Bound, from: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let mut next_seq = 0u32;
    loop {
        let got = bob.recv().await.expect("an IBB IQ");
        assert_eq!(got.attr("from"), Some(from), "{got}");
        let id = got.attr("id").expect("id").to_owned();
        let payload = got.children().next().expect("payload").clone();
        assert_eq!(payload.ns(), ns::IBB, "{got}");
        assert_eq!(payload.attr("sid"), Some("i1"), "{got}");
        match payload.name() {
            "open" => assert_eq!(payload.attr("block-size"), Some("4096")),
            "data" => {
                assert_eq!(payload.attr("seq"), Some(next_seq.to_string().as_str()));
                next_seq += 1;
                let block = BASE64.decode(payload.text()).expect("base64");
                assert!(block.len() <= BLOCK, "block of {} bytes", block.len());
                received.extend_from_slice(&block);
            }
            "close" => {}
            other => panic!("unexpected IBB element {other}"),
        }
        let result = Element::new("iq", ns::CLIENT)
            .with_attr("type", "result")
            .with_attr("id", id)
            .with_attr("to", from);
        bob.send(&result).await.expect("ack");
        if payload.name() == "close" {
            return received;
        }
    }
}

#[tokio::test]
async fn a_file_moves_in_band_between_related_users() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let (alice_jid, bob_jid) = (alice.jid().to_string(), bob.jid().to_string());
    let data = file();
    let ((), received) = tokio::join!(
        send_file(&mut alice, &bob_jid, &data),
        receive_file(&mut bob, &alice_jid)
    );
    assert_eq!(received.len(), SIZE);
    assert_eq!(Sha256::digest(&received), Sha256::digest(&data));
    assert_quiet(&mut alice).await;
    assert_quiet(&mut bob).await;
    t.stop().await;
}

#[tokio::test]
async fn an_unrelated_open_is_refused_and_never_delivered() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("mallory").await.expect("mallory");
    let mut alice = t.login("alice").await.expect("alice");
    let mut mallory = t.login("mallory").await.expect("mallory");
    let alice_jid = alice.jid().to_string();
    let answer = mallory
        .iq(iq("set", "open", Some(&alice_jid), open("i1")))
        .await;
    assert_condition(answer, Cond::ServiceUnavailable);
    let data = Element::new("data", ns::IBB)
        .with_attr("sid", "i1")
        .with_attr("seq", "0")
        .with_text(BASE64.encode(b"sneaky"));
    let answer = mallory.iq(iq("set", "data", Some(&alice_jid), data)).await;
    assert_condition(answer, Cond::ServiceUnavailable);
    assert_quiet(&mut alice).await;
    assert_quiet(&mut mallory).await;
    t.stop().await;
}
