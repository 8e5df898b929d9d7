//! The initiator's and target's side of XEP-0065 through the IRSP's proxy, written from the
//! specification (an independent SOCKS5 client and hash), for the bytestream conversations.
//!
//! Each test binary uses only part of it. Like the tests themselves, the helpers panic on failure.
#![allow(dead_code, clippy::expect_used)]

use std::net::SocketAddr;

use hestia_client::{Bound, ClientError};
use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The proxy's JID, as the test server was configured.
pub fn proxy_jid(t: &TestServer) -> String {
    format!("proxy.{}", t.domain())
}

/// Where the proxy listens (read from the running server).
pub fn proxy_addr(t: &TestServer) -> SocketAddr {
    let proxy = t.server.proxy.as_ref().expect("proxy enabled");
    SocketAddr::from(([127, 0, 0, 1], proxy.streamhost.port))
}

/// XEP-0065 §5.3.2: hex SHA-1 of SID + initiator full JID + target full JID.
pub fn stream_name(sid: &str, initiator: &str, target: &str) -> String {
    let digest = Sha1::digest(format!("{sid}{initiator}{target}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `<query xmlns='…bytestreams'/>` with optional children and sid.
pub fn query(sid: Option<&str>, children: Vec<Element>) -> Element {
    let mut q = Element::new("query", ns::BYTESTREAMS);
    if let Some(sid) = sid {
        q.set_attr("sid", sid);
    }
    for c in children {
        q.push_child(c);
    }
    q
}

/// An IQ of `iq_type` with this payload to `to`.
pub fn iq_to(iq_type: &str, id: &str, to: &str, payload: Element) -> Element {
    Element::new("iq", ns::CLIENT)
        .with_attr("type", iq_type)
        .with_attr("id", id)
        .with_attr("to", to)
        .with_child(payload)
}

/// The initiator asks the proxy to activate `sid` towards `target`.
pub async fn activate(
    initiator: &mut Bound,
    proxy: &str,
    sid: &str,
    target: &str,
) -> Result<Element, ClientError> {
    let activate = Element::new("activate", ns::BYTESTREAMS).with_text(target);
    initiator
        .iq(iq_to(
            "set",
            "activate",
            proxy,
            query(Some(sid), vec![activate]),
        ))
        .await
}

/// A SOCKS5 no-auth greeting and CONNECT to `name`:0; returns the socket once the proxy
/// answered success, or the reply code it answered.
pub async fn socks5_connect(addr: SocketAddr, name: &str) -> Result<TcpStream, u8> {
    let mut s = TcpStream::connect(addr)
        .await
        .expect("connect to the proxy");
    s.write_all(&[5, 1, 0]).await.expect("greeting");
    let mut selected = [0u8; 2];
    s.read_exact(&mut selected).await.expect("method selection");
    assert_eq!(selected, [5, 0], "no-auth selected");
    let mut request = vec![5, 1, 0, 3, name.len() as u8];
    request.extend_from_slice(name.as_bytes());
    request.extend_from_slice(&[0, 0]);
    s.write_all(&request).await.expect("CONNECT");
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.expect("reply");
    assert_eq!(head[0], 5, "SOCKS version of the reply");
    if head[1] != 0 {
        return Err(head[1]);
    }
    assert_eq!(head[3], 3, "BND.ADDR is a DOMAINNAME");
    let len = s.read_u8().await.expect("BND.ADDR length");
    let mut bound = vec![0u8; usize::from(len) + 2];
    s.read_exact(&mut bound).await.expect("BND.ADDR and port");
    assert_eq!(
        &bound[..usize::from(len)],
        name.as_bytes(),
        "BND.ADDR echoes the stream name"
    );
    Ok(s)
}

/// Target and initiator both connect to the proxy for `sid` (as after a streamhost offer).
pub async fn connect_pair(
    t: &TestServer,
    sid: &str,
    initiator: &str,
    target: &str,
) -> (TcpStream, TcpStream) {
    let name = stream_name(sid, initiator, target);
    let at_target = socks5_connect(proxy_addr(t), &name)
        .await
        .expect("target end");
    let at_initiator = socks5_connect(proxy_addr(t), &name)
        .await
        .expect("initiator end");
    (at_initiator, at_target)
}

/// True when the proxy closed the socket (EOF or reset) within `limit`.
pub async fn is_closed_within(s: &mut TcpStream, limit: std::time::Duration) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(limit, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}
