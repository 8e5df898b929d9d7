//! 14543-5-8 §11.6 / XEP-0065: a 50 MiB file moves between two related users through the
//! IRSP's SOCKS5 proxy — streamhost query, offer to the target, both ends connect, the
//! initiator activates — and arrives intact (SHA-256 on both sides).

#![allow(clippy::expect_used)]

mod bytestreams;
mod conversation;

use std::time::Instant;

use bytestreams::*;
use conversation::*;
use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SIZE: usize = 50 * 1024 * 1024;
const CHUNK: usize = 1024 * 1024;

/// Deterministic pseudo-random bytes (xorshift64*), so a failure is reproducible.
struct Data(u64);

impl Data {
    fn fill(&mut self, buf: &mut [u8]) {
        for word in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            word.copy_from_slice(&v[..word.len()]);
        }
    }
}

async fn send_file(mut s: TcpStream) -> [u8; 32] {
    let mut data = Data(0x9e37_79b9_7f4a_7c15);
    let mut hash = Sha256::new();
    let mut chunk = vec![0u8; CHUNK];
    for _ in 0..SIZE / CHUNK {
        data.fill(&mut chunk);
        hash.update(&chunk);
        s.write_all(&chunk).await.expect("send");
    }
    s.shutdown().await.expect("end of file");
    hash.finalize().into()
}

async fn receive_file(mut s: TcpStream) -> (usize, [u8; 32]) {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).await.expect("receive");
        if n == 0 {
            return (total, hash.finalize().into());
        }
        hash.update(&buf[..n]);
        total += n;
    }
}

#[tokio::test]
async fn a_50_mib_file_moves_intact_between_related_users() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let (alice_jid, bob_jid) = (alice.jid().to_string(), bob.jid().to_string());
    let proxy = proxy_jid(&t);

    // Alice asks the proxy where it is (XEP-0065 §4).
    let answer = alice
        .iq(iq_to("get", "sh", &proxy, query(None, vec![])))
        .await
        .expect("streamhost");
    let streamhost = answer
        .get_child("query", ns::BYTESTREAMS)
        .and_then(|q| q.get_child("streamhost", ns::BYTESTREAMS))
        .expect("streamhost")
        .clone();
    assert_eq!(streamhost.attr("jid"), Some(proxy.as_str()));
    let port: u16 = streamhost
        .attr("port")
        .and_then(|p| p.parse().ok())
        .expect("port");
    assert_eq!(port, proxy_addr(&t).port());

    // She offers it to Bob; Bob connects and tells her which streamhost he used.
    let sid = "file-1";
    let offer = iq_to(
        "set",
        "offer",
        &bob_jid,
        query(Some(sid), vec![streamhost.clone()]),
    );
    let (used, at_target) = tokio::join!(alice.iq(offer), async {
        let got = bob.recv().await.expect("bob receives the offer");
        assert_eq!(got.attr("from"), Some(alice_jid.as_str()), "{got}");
        let host = got
            .get_child("query", ns::BYTESTREAMS)
            .and_then(|q| q.get_child("streamhost", ns::BYTESTREAMS))
            .and_then(|h| h.attr("host"))
            .expect("host")
            .to_owned();
        let addr = format!("{host}:{port}").parse().expect("address");
        let name = stream_name(sid, &alice_jid, &bob_jid);
        let socket = socks5_connect(addr, &name).await.expect("bob's end");
        let used = Element::new("streamhost-used", ns::BYTESTREAMS).with_attr("jid", &*proxy);
        let result = Element::new("iq", ns::CLIENT)
            .with_attr("type", "result")
            .with_attr("id", "offer")
            .with_attr("to", alice_jid.as_str())
            .with_child(query(Some(sid), vec![used]));
        bob.send(&result).await.expect("streamhost-used");
        socket
    });
    used.expect("bob used the proxy");
    let name = stream_name(sid, &alice_jid, &bob_jid);
    let at_initiator = socks5_connect(proxy_addr(&t), &name)
        .await
        .expect("alice's end");
    activate(&mut alice, &proxy, sid, &bob_jid)
        .await
        .expect("activated");

    let started = Instant::now();
    let (sent, (received, got)) = tokio::join!(send_file(at_initiator), receive_file(at_target));
    let elapsed = started.elapsed();
    eprintln!("50 MiB through the proxy in {elapsed:?}");
    assert_eq!(received, SIZE, "every byte arrived");
    assert_eq!(got, sent, "SHA-256 of what arrived equals what was sent");

    // Every relayed byte is counted (this binary's only test, so the counter is ours).
    let metrics = Admin::of(&t).get("/metrics").await.text;
    let relayed: Option<u64> = metrics
        .lines()
        .find_map(|l| l.strip_prefix("hestia_proxy_bytes_total "))
        .and_then(|v| v.trim().parse().ok());
    assert_eq!(relayed, Some(SIZE as u64), "{metrics}");

    assert_quiet(&mut alice).await;
    assert_quiet(&mut bob).await;
    t.stop().await;
}
