//! Messages to a user with no connections and to an account that does not exist bounce with the
//! same `service-unavailable` (no existence leak); an IQ to an offline full JID is
//! `service-unavailable` too.

mod conversation;

use conversation::*;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn offline_and_unknown_recipients_look_the_same() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob (offline)");
    let mut alice = t.login("alice").await.expect("alice");
    let domain = t.domain();

    let mut bounces = Vec::new();
    for to in [format!("bob@{domain}"), format!("nobody@{domain}")] {
        alice
            .send(&chat(&to, "are you there?"))
            .await
            .expect("send");
        let bounce = alice.recv().await.expect("bounce");
        assert_eq!(bounce.attr("from"), Some(to.as_str()), "{bounce}");
        assert_eq!(body(&bounce).as_deref(), Some("are you there?"));
        let error = assert_bounce(&bounce, Cond::ServiceUnavailable);
        bounces.push(error);
    }
    assert_eq!(
        bounces[0].to_element(),
        bounces[1].to_element(),
        "offline and non-existent accounts get the identical error"
    );

    // A full JID of each: the message falls back to the bare JID (RFC 6121 §8.5.3.2.1).
    for to in [
        format!("bob@{domain}/gone"),
        format!("nobody@{domain}/gone"),
    ] {
        alice.send(&chat(&to, "hello?")).await.expect("send");
        let bounce = alice.recv().await.expect("bounce");
        assert_bounce(&bounce, Cond::ServiceUnavailable);
    }

    for to in [
        format!("bob@{domain}/gone"),
        format!("nobody@{domain}/gone"),
    ] {
        let payload = Element::new("query", "urn:example:status");
        let answer = alice
            .iq(iq("get", &format!("q-{to}"), Some(&to), payload))
            .await;
        assert_condition(answer, Cond::ServiceUnavailable);
    }
    assert_quiet(&mut alice).await;
    t.stop().await;
}
