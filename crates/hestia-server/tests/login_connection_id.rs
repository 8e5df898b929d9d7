//! Connection-ID binding (ISO/IEC 14543-5-8 §8 login, RFC 6120 §7): the server generates an ID
//! unless the client asks for one; a user may hold several connections, each addressable by
//! its full JID, up to `max_user_sessions` (then `resource-constraint`); a device holds one,
//! and its new login replaces the old, which is closed with `conflict`. A user connection that
//! asks for an ID in use takes it over the same way.

#![cfg(test)]

mod conversation;

use std::time::Duration;

use hestia_client::Bound;
use hestia_proto::{StanzaErrorCondition, StreamError, ns};
use hestia_testkit::{PASSWORD, TestServer};
use hestia_xml::Element;

const QUIET: Duration = Duration::from_millis(300);

async fn bind(t: &TestServer, name: &str, resource: Option<&str>) -> Bound {
    t.connect()
        .await
        .expect("connect")
        .authenticate(name, PASSWORD)
        .await
        .expect("authenticated")
        .bind(resource)
        .await
        .expect("bound")
}

fn chat(to: &str, body: &str) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", "chat")
        .with_child(Element::new("body", ns::CLIENT).with_text(body))
}

fn body(el: &Element) -> String {
    el.get_child("body", ns::CLIENT)
        .map(|b| b.text())
        .unwrap_or_default()
}

#[tokio::test]
async fn server_generates_an_id() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let a = bind(&t, "alice", None).await;
    let b = bind(&t, "alice", None).await;
    assert_eq!(a.jid().to_bare().to_string(), "alice@localhost");
    let (ra, rb) = (a.jid().resource(), b.jid().resource());
    assert!(ra.is_some_and(|r| !r.is_empty()), "{}", a.jid());
    assert_ne!(ra, rb, "each connection gets its own ID");
    t.stop().await;
}

#[tokio::test]
async fn requested_id_is_honoured() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let a = bind(&t, "alice", Some("kitchen")).await;
    assert_eq!(a.jid().to_string(), "alice@localhost/kitchen");
    t.stop().await;
}

#[tokio::test]
async fn two_connections_are_each_addressable() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut phone = bind(&t, "alice", Some("phone")).await;
    let mut tablet = bind(&t, "alice", Some("tablet")).await;
    let mut bob = t.login("bob").await.expect("bob");
    bob.send(&chat("alice@localhost/phone", "to phone"))
        .await
        .expect("send");
    bob.send(&chat("alice@localhost/tablet", "to tablet"))
        .await
        .expect("send");
    let got = phone.recv().await.expect("phone receives");
    assert_eq!(body(&got), "to phone");
    assert_eq!(got.attr("from"), Some(bob.jid().to_string().as_str()));
    let got = tablet.recv().await.expect("tablet receives");
    assert_eq!(body(&got), "to tablet");
    assert!(phone.recv_timeout(QUIET).await.expect("phone").is_none());
    assert!(tablet.recv_timeout(QUIET).await.expect("tablet").is_none());
    t.stop().await;
}

#[tokio::test]
async fn device_second_login_replaces_the_first() {
    let t = TestServer::start().await.expect("server");
    t.add_device("lamp1", "light").await.expect("lamp1");
    let mut first = t.login("lamp1").await.expect("first login");
    let mut second = t.login("lamp1").await.expect("second login");
    // First the reason, as a transient push (14543-5-8 §12 forced logout), then the error.
    conversation::assert_forced_out(&mut first, "replaced", StreamError::Conflict).await;
    second.ping().await.expect("second still served");
    assert_eq!(
        t.server
            .irsp
            .directory
            .sessions_of(&second.jid().to_bare())
            .len(),
        1,
        "a device holds one connection"
    );
    t.stop().await;
}

#[tokio::test]
async fn user_session_limit_is_resource_constraint() {
    let t = TestServer::start_with(|cfg| cfg.c2s.max_user_sessions = 2)
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    let mut one = bind(&t, "alice", None).await;
    let _two = bind(&t, "alice", None).await;
    let third = t
        .connect()
        .await
        .expect("connect")
        .authenticate("alice", PASSWORD)
        .await
        .expect("authenticated")
        .bind(None)
        .await
        .err()
        .expect("third bind refused");
    assert_eq!(
        third.stanza_condition(),
        Some(StanzaErrorCondition::ResourceConstraint),
        "{third}"
    );
    one.ping().await.expect("existing connections unaffected");
    t.stop().await;
}

#[tokio::test]
async fn reused_user_id_replaces_the_old_connection() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut old = bind(&t, "alice", Some("phone")).await;
    let mut new = bind(&t, "alice", Some("phone")).await;
    assert_eq!(new.jid().to_string(), "alice@localhost/phone");
    conversation::assert_forced_out(&mut old, "replaced", StreamError::Conflict).await;
    let mut bob = t.login("bob").await.expect("bob");
    bob.send(&chat("alice@localhost/phone", "hi"))
        .await
        .expect("send");
    assert_eq!(
        body(&new.recv().await.expect("new connection receives")),
        "hi"
    );
    t.stop().await;
}
