//! A burst queued for one connection arrives whole and in order: the connection writes its
//! outbound queue in batches, and the stanza after a full batch stays queued for the next one
//! (it was once taken off the queue and dropped: one message in every 65 was lost).

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;

#[tokio::test]
async fn three_hundred_queued_messages_arrive_in_order() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login("bob").await.expect("bob");
    let to = bob.jid().to_string();
    for i in 0..300 {
        alice
            .send(&chat(&to, &format!("m{i}")))
            .await
            .expect("send");
    }
    // The ping's answer means the server routed all 300 into bob's queue.
    alice.ping().await.expect("ping");
    let mut got = Vec::new();
    while got.len() < 300 {
        let el = bob.recv().await.expect("bob receives");
        got.extend(body(&el));
    }
    let expected: Vec<_> = (0..300).map(|i| format!("m{i}")).collect();
    assert_eq!(got, expected);
    assert_quiet(&mut bob).await;
    t.stop().await;
}
