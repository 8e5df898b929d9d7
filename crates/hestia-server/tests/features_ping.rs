//! XEP-0199 ping: to the domain and (no `to`) to the server on the account's behalf, each an
//! empty result.

mod conversation;

use conversation::*;
use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn ping_is_answered_with_an_empty_result() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let domain = t.domain();
    for to in [Some(domain.as_str()), None] {
        let answer = alice
            .iq(iq("get", "ping-1", to, Element::new("ping", ns::PING)))
            .await
            .expect("pong");
        assert_eq!(answer.attr("type"), Some("result"));
        assert_eq!(answer.attr("id"), Some("ping-1"));
        assert_eq!(answer.children().count(), 0, "{answer}");
    }
    assert_quiet(&mut alice).await;
    t.stop().await;
}
