//! A message for an offline recipient is committed before the server handles the sender's next
//! stanza, so `kill -9` right after loses none (14543-5-8 §11.7.3; "a server crash loses no
//! message it acknowledged"). The real `hestia serve` process is started on a temporary data
//! directory, alice sends bob (offline) 200 messages and a ping — its answer is the server's
//! acknowledgement that everything before it was handled — the process is killed with SIGKILL,
//! started again on the same directory, and bob receives all 200 in order, once.

#![allow(clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Server;
use hestia_client::{Bound, Element};
use hestia_proto::ns;

const MESSAGES: usize = 200;

fn presence(to: &str, kind: &str) -> Element {
    Element::new("presence", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", kind)
}

/// Receives until `want` matches, skipping everything else.
async fn until(client: &mut Bound, what: &str, want: impl Fn(&Element) -> bool) -> Element {
    loop {
        let el = client
            .recv()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        if want(&el) {
            return el;
        }
    }
}

/// Alice and bob become friends with an RFC 6121 handshake; bob then logs out.
async fn befriend(server: &Server) -> Bound {
    let mut alice = server.login("alice").await;
    alice.send_presence().await.expect("presence");
    let mut bob = server.login("bob").await;
    bob.send_presence().await.expect("presence");
    alice
        .send(&presence("bob@localhost", "subscribe"))
        .await
        .expect("subscribe");
    until(&mut bob, "request", |e| e.attr("type") == Some("subscribe")).await;
    bob.send(&presence("alice@localhost", "subscribed"))
        .await
        .expect("subscribed");
    until(&mut alice, "approval", |e| {
        e.attr("type") == Some("subscribed")
    })
    .await;
    bob.close().await.expect("bob logs out");
    // Bob's unavailable presence tells alice he is gone before she starts sending.
    until(&mut alice, "bob offline", |e| {
        e.attr("type") == Some("unavailable")
    })
    .await;
    alice
}

#[tokio::test]
async fn stored_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    server.add_user("alice");
    server.add_user("bob");
    let mut alice = befriend(&server).await;
    for i in 0..MESSAGES {
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("to", "bob@localhost")
            .with_attr("type", "chat")
            .with_child(Element::new("body", ns::CLIENT).with_text(format!("m{i}")));
        alice.send(&msg).await.expect("send");
    }
    alice
        .ping()
        .await
        .expect("the server handled every message before the ping");
    let mut server = server;
    server.kill();

    let mut server = Server::start(dir.path());
    let mut bob = server.login("bob").await;
    bob.send_presence().await.expect("presence");
    let mut bodies = Vec::new();
    while let Some(el) = bob
        .recv_timeout(Duration::from_secs(2))
        .await
        .expect("stream")
    {
        if el.name() == "message" {
            bodies.push(el.get_child("body", ns::CLIENT).map(Element::text));
        }
    }
    let expected: Vec<_> = (0..MESSAGES).map(|i| Some(format!("m{i}"))).collect();
    assert_eq!(bodies, expected);
    server.kill();
}
