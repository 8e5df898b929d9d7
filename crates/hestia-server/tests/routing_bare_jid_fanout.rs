//! A message to a bare user JID goes to every available connection of the user (14543-5-8 §3,
//! non-uniqueness of user addressing); a connection that has not sent initial presence is not
//! available and gets nothing.

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;

#[tokio::test]
async fn a_message_to_a_bare_jid_reaches_all_available_connections() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob_phone = t.login_available("bob").await.expect("bob phone");
    let mut bob_laptop = t.login_available("bob").await.expect("bob laptop");
    let mut bob_idle = t.login("bob").await.expect("bob, no presence");
    let laptop_presence = bob_phone.recv().await.expect("phone sees laptop");
    assert_eq!(
        laptop_presence.attr("from"),
        Some(bob_laptop.jid().to_string().as_str())
    );

    let bob = format!("bob@{}", t.domain());
    alice
        .send(&chat(&bob, "to all of you"))
        .await
        .expect("send");
    for conn in [&mut bob_phone, &mut bob_laptop] {
        let got = conn.recv().await.expect("receives");
        assert_eq!(got.attr("from"), Some(alice.jid().to_string().as_str()));
        assert_eq!(body(&got).as_deref(), Some("to all of you"));
    }
    assert_quiet(&mut bob_phone).await;
    assert_quiet(&mut bob_laptop).await;
    assert_quiet(&mut bob_idle).await;
    assert_quiet(&mut alice).await;
    t.stop().await;
}
