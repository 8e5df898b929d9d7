//! RFC 6120 §8.4: an IQ get or set to the server whose payload no feature handles is
//! `service-unavailable`, also when it uses a known namespace with an unknown element.

mod conversation;

use conversation::*;
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn unhandled_iq_payloads_are_service_unavailable() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let domain = t.domain();
    let cases = [
        ("get", Element::new("query", "urn:example:unknown")),
        ("set", Element::new("query", "urn:example:unknown")),
        ("set", Element::new("ping", ns::PING)),
        ("get", Element::new("pong", ns::PING)),
        ("set", Element::new("query", ns::DISCO_INFO)),
    ];
    for (i, (iq_type, payload)) in cases.into_iter().enumerate() {
        let what = format!("{iq_type} {}", payload.to_xml(ns::CLIENT));
        let answer = alice
            .iq(iq(iq_type, &format!("u{i}"), Some(&domain), payload))
            .await;
        match answer {
            Err(e) => assert_eq!(
                e.stanza_condition(),
                Some(Cond::ServiceUnavailable),
                "{what}: {e}"
            ),
            Ok(r) => panic!("{what}: unexpected result {r}"),
        }
    }
    assert_quiet(&mut alice).await;
    t.stop().await;
}
