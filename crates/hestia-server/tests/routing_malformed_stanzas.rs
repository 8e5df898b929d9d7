//! Malformed stanzas bounce with their exact RFC 6120 condition and the stream stays up: a
//! malformed `to` is `jid-malformed`; an IQ without id, an IQ get with two payload children, an
//! IQ get with no payload and an IQ with an unknown type are `bad-request`.

mod conversation;

use conversation::*;
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn malformed_stanzas_get_their_exact_condition() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let domain = t.domain();

    alice.send(&chat("@", "hi")).await.expect("send");
    let bounce = alice.recv().await.expect("bounce");
    assert_eq!(bounce.name(), "message");
    assert_bounce(&bounce, Cond::JidMalformed);

    let ping = || Element::new("ping", ns::PING);
    let no_id = Element::new("iq", ns::CLIENT)
        .with_attr("type", "get")
        .with_attr("to", domain.as_str())
        .with_child(ping());
    let two_payloads = iq("get", "two", Some(&domain), ping()).with_child(ping());
    let no_payload = Element::new("iq", ns::CLIENT)
        .with_attr("type", "get")
        .with_attr("id", "none")
        .with_attr("to", domain.as_str());
    let bad_type = iq("fetch", "odd", Some(&domain), ping());
    let cases = [
        ("no id", no_id, None),
        ("two payloads", two_payloads, Some("two")),
        ("no payload", no_payload, Some("none")),
        ("unknown type", bad_type, Some("odd")),
    ];
    for (what, stanza, id) in cases {
        alice.send(&stanza).await.expect("send");
        let bounce = alice.recv().await.expect("bounce");
        assert_eq!(bounce.name(), "iq", "{what}");
        assert_eq!(bounce.attr("id"), id, "{what}: {bounce}");
        assert_bounce(&bounce, Cond::BadRequest);
    }

    alice.ping().await.expect("the stream is still up");
    assert_quiet(&mut alice).await;
    t.stop().await;
}
