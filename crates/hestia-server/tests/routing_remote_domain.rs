//! There is no server-to-server federation: a stanza to another domain bounces with
//! `remote-server-not-found`.

mod conversation;

use conversation::*;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn a_stanza_to_another_domain_is_remote_server_not_found() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");

    alice
        .send(&chat("bob@elsewhere.example", "hi"))
        .await
        .expect("send");
    let bounce = alice.recv().await.expect("bounce");
    assert_eq!(bounce.name(), "message");
    assert_eq!(bounce.attr("from"), Some("bob@elsewhere.example"));
    assert_bounce(&bounce, Cond::RemoteServerNotFound);

    let ping = iq(
        "get",
        "p-remote",
        Some("elsewhere.example"),
        Element::new("ping", hestia_proto::ns::PING),
    );
    assert_condition(alice.iq(ping).await, Cond::RemoteServerNotFound);
    assert_quiet(&mut alice).await;
    t.stop().await;
}
