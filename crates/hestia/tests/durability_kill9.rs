//! A message for an offline recipient is committed before the server handles the sender's next
//! stanza, so `kill -9` right after loses none (14543-5-8 §11.7.3; "a server crash loses no
//! message it acknowledged"). The real `hestia serve` process is started on a temporary data
//! directory, alice sends bob (offline) 200 messages and a ping — its answer is the server's
//! acknowledgement that everything before it was handled — the process is killed with SIGKILL,
//! started again on the same directory, and bob receives all 200 in order, once.
//!
//! With `offline.durable_delivery` the same holds for a recipient that is online, received every
//! message and never acknowledged one (XEP-0198): the journal keeps them until it does. Without
//! it (the default, as in ejabberd and Prosody) those messages lived only in memory, which the
//! last test shows.

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

/// Alice sends the messages, then a ping: its answer acknowledges everything before it.
async fn send_messages(alice: &mut Bound) {
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
}

/// The message bodies that arrive until the stream goes quiet.
async fn bodies(client: &mut Bound) -> Vec<Option<String>> {
    let mut bodies = Vec::new();
    while let Some(el) = client
        .recv_timeout(Duration::from_secs(2))
        .await
        .expect("stream")
    {
        if el.name() == "message" {
            bodies.push(el.get_child("body", ns::CLIENT).map(Element::text));
        }
    }
    bodies
}

fn all_messages() -> Vec<Option<String>> {
    (0..MESSAGES).map(|i| Some(format!("m{i}"))).collect()
}

/// After a restart on the same data: what bob receives at his next login.
async fn bodies_after_restart(dir: &std::path::Path) -> Vec<Option<String>> {
    let mut server = Server::start(dir);
    let mut bob = server.login("bob").await;
    bob.send_presence().await.expect("presence");
    let got = bodies(&mut bob).await;
    server.kill();
    got
}

#[tokio::test]
async fn stored_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path());
    server.add_user("alice");
    server.add_user("bob");
    let mut alice = befriend(&server).await;
    send_messages(&mut alice).await;
    server.kill();
    assert_eq!(bodies_after_restart(dir.path()).await, all_messages());
}

/// Bob online under stream management, having received every message and acknowledged none,
/// when the server is killed.
async fn kill_while_bob_holds_unacknowledged(dir: &std::path::Path, durable: &str) {
    let mut server = Server::start_with_env(dir, &[("HESTIA_OFFLINE_DURABLE_DELIVERY", durable)]);
    server.add_user("alice");
    server.add_user("bob");
    let mut alice = befriend(&server).await;
    let mut bob = server.login("bob").await;
    bob.send(&Element::new("enable", ns::SM))
        .await
        .expect("enable");
    let enabled = bob.recv().await.expect("enabled");
    assert!(enabled.is("enabled", ns::SM), "{enabled}");
    bob.send_presence().await.expect("presence");
    until(&mut alice, "bob online", |e| {
        e.name() == "presence" && e.attr("type").is_none()
    })
    .await;
    send_messages(&mut alice).await;
    assert_eq!(bodies(&mut bob).await, all_messages(), "delivered live");
    server.kill();
}

#[tokio::test]
async fn with_durable_delivery_unacknowledged_live_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    kill_while_bob_holds_unacknowledged(dir.path(), "true").await;
    assert_eq!(bodies_after_restart(dir.path()).await, all_messages());
}

#[tokio::test]
async fn without_durable_delivery_unacknowledged_live_messages_die_with_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    kill_while_bob_holds_unacknowledged(dir.path(), "false").await;
    assert_eq!(
        bodies_after_restart(dir.path()).await,
        Vec::<Option<String>>::new()
    );
}
