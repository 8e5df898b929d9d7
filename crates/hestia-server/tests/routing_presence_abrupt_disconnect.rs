//! 14543-5-8 §12 abrupt logout: when a connection's TCP drops without a stream close, the
//! server itself tells the account's other available connection `unavailable` from it.

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;

#[tokio::test]
async fn a_dropped_connection_is_announced_unavailable() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut phone = t.login_available("alice").await.expect("phone");
    let laptop = t.login_available("alice").await.expect("laptop");
    let laptop_jid = laptop.jid().to_string();
    let seen = phone.recv().await.expect("laptop presence");
    assert_eq!(seen.attr("from"), Some(laptop_jid.as_str()));

    drop(laptop);
    let gone = phone.recv().await.expect("unavailable");
    assert_eq!(gone.name(), "presence", "{gone}");
    assert_eq!(gone.attr("type"), Some("unavailable"), "{gone}");
    assert_eq!(gone.attr("from"), Some(laptop_jid.as_str()));
    assert_quiet(&mut phone).await;
    t.stop().await;
}
