//! The shortest end-to-end path: two users log in over STARTTLS with SCRAM, exchange a
//! message and an IQ, and ping the server.

use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn two_users_exchange_a_message_and_ping() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login_available("alice").await.expect("alice login");
    let mut bob = t.login_available("bob").await.expect("bob login");
    let msg = Element::new("message", ns::CLIENT)
        .with_attr("to", bob.jid().to_string())
        .with_attr("type", "chat")
        .with_child(Element::new("body", ns::CLIENT).with_text("hello"));
    alice.send(&msg).await.expect("send");
    // Alice's presence (they are friends) may come first.
    let got = loop {
        let stanza = bob.recv().await.expect("recv");
        if stanza.name() == "message" {
            break stanza;
        }
        assert_eq!(stanza.name(), "presence", "{stanza}");
    };
    assert_eq!(got.attr("from"), Some(alice.jid().to_string().as_str()));
    assert_eq!(
        got.get_child("body", ns::CLIENT).map(|b| b.text()),
        Some("hello".into())
    );
    alice.ping().await.expect("ping");
    t.stop().await;
}
