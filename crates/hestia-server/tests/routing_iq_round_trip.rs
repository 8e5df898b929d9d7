//! Request/response between two users' connections (14543-5-8 §11): an IQ get with a custom
//! payload to a full JID reaches the receiver with `from` stamped; the receiver's result is
//! routed back to the requester, again with `from` stamped.

mod conversation;

use conversation::*;
use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;

const NS_STATUS: &str = "urn:example:status";

#[tokio::test]
async fn an_iq_to_a_full_jid_is_answered_by_its_connection() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let alice_jid = alice.jid().to_string();
    let bob_jid = bob.jid().to_string();

    let request = iq(
        "get",
        "status-1",
        Some(&bob_jid),
        Element::new("query", NS_STATUS),
    );
    let (answer, ()) = tokio::join!(alice.iq(request), async {
        let got = bob.recv().await.expect("bob receives the request");
        assert_eq!(got.name(), "iq");
        assert_eq!(got.attr("type"), Some("get"));
        assert_eq!(got.attr("id"), Some("status-1"));
        assert_eq!(got.attr("from"), Some(alice_jid.as_str()));
        assert!(got.get_child("query", NS_STATUS).is_some(), "{got}");
        let reply = Element::new("iq", ns::CLIENT)
            .with_attr("type", "result")
            .with_attr("id", "status-1")
            .with_attr("to", alice_jid.as_str())
            .with_child(
                Element::new("query", NS_STATUS)
                    .with_child(Element::new("state", NS_STATUS).with_text("on")),
            );
        bob.send(&reply).await.expect("bob answers");
    });
    let result = answer.expect("alice gets the result");
    assert_eq!(result.attr("type"), Some("result"));
    assert_eq!(result.attr("from"), Some(bob_jid.as_str()));
    let state = result
        .get_child("query", NS_STATUS)
        .and_then(|q| q.get_child("state", NS_STATUS))
        .map(Element::text);
    assert_eq!(state.as_deref(), Some("on"));

    assert_quiet(&mut alice).await;
    assert_quiet(&mut bob).await;
    t.stop().await;
}
