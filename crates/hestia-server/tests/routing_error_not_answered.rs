//! RFC 6120 §8.3.1: an error stanza is never answered with an error — a message of type error to a
//! non-existent account, to another domain or with a malformed `to` comes back as nothing.

mod conversation;

use conversation::*;
use hestia_proto::{StanzaError, StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn an_error_stanza_is_never_bounced() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let domain = t.domain();

    let error = StanzaError::new(Cond::ServiceUnavailable).to_element();
    for to in [
        format!("nobody@{domain}"),
        "x@elsewhere.example".into(),
        "@".into(),
    ] {
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("to", to.as_str())
            .with_attr("type", "error")
            .with_child(error.clone());
        alice.send(&msg).await.expect("send");
        assert_quiet(&mut alice).await;
    }
    let iq_error = Element::new("iq", ns::CLIENT)
        .with_attr("to", format!("nobody@{domain}/x"))
        .with_attr("type", "error")
        .with_attr("id", "e1")
        .with_child(error);
    alice.send(&iq_error).await.expect("send");
    assert_quiet(&mut alice).await;
    alice.ping().await.expect("still connected");
    t.stop().await;
}
