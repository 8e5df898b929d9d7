//! A message to a full JID reaches exactly that connection, with `from` stamped as the sender's
//! full JID; the account's other connection sees nothing.

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;

#[tokio::test]
async fn a_message_to_a_full_jid_reaches_only_that_connection() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob_phone = t.login("bob").await.expect("bob phone");
    let mut bob_laptop = t.login("bob").await.expect("bob laptop");
    let alice_jid = alice.jid().to_string();
    let phone_jid = bob_phone.jid().to_string();

    alice
        .send(&chat(&phone_jid, "to the phone"))
        .await
        .expect("send");
    let got = bob_phone.recv().await.expect("phone receives");
    assert_eq!(got.name(), "message");
    assert_eq!(got.attr("from"), Some(alice_jid.as_str()));
    assert_eq!(got.attr("to"), Some(phone_jid.as_str()));
    assert_eq!(body(&got).as_deref(), Some("to the phone"));

    assert_quiet(&mut bob_laptop).await;
    assert_quiet(&mut alice).await;
    t.stop().await;
}
