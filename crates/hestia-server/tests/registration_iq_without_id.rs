//! RFC 6120 §8.1.3: an IQ must carry an id, also before authentication. A registration IQ without
//! one is `bad-request` and creates nothing; the stream stays usable.

mod conversation;

use conversation::*;
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn a_registration_iq_without_id_is_bad_request() {
    let t = TestServer::start().await.expect("server");
    let mut c = connect_from(&t, None).await;
    let no_id = Element::new("iq", ns::CLIENT)
        .with_attr("type", "set")
        .with_child(register_query("alice", GOOD_PASSWORD));
    c.send_raw(no_id.to_xml(ns::CLIENT).as_bytes())
        .await
        .expect("send");
    let answer = c.recv().await.expect("answer");
    assert_eq!(answer.attr("id"), None);
    assert_bounce(&answer, Cond::BadRequest);
    let alice = t.server.irsp.store.account("alice").await.expect("store");
    assert!(alice.is_none(), "nothing was created");

    c.register("alice", GOOD_PASSWORD, Vec::new())
        .await
        .expect("a proper registration on the same stream");
    t.stop().await;
}
