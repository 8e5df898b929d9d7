//! RFC 6121 §4.2.2: initial presence is echoed to the sender's own connection and to the
//! account's other available connections; a connection without presence gets nothing.

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;

#[tokio::test]
async fn initial_presence_reaches_own_and_sibling_connections() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut phone = t.login_available("alice").await.expect("phone");
    let mut idle = t.login("alice").await.expect("idle, no presence");
    let mut laptop = t.login("alice").await.expect("laptop");
    let laptop_jid = laptop.jid().to_string();

    laptop.send_presence().await.expect("initial presence");
    for conn in [&mut laptop, &mut phone] {
        let got = conn.recv().await.expect("presence");
        assert_eq!(got.name(), "presence", "{got}");
        assert_eq!(got.attr("type"), None, "available: {got}");
        assert_eq!(got.attr("from"), Some(laptop_jid.as_str()));
    }
    assert_quiet(&mut phone).await;
    assert_quiet(&mut laptop).await;
    assert_quiet(&mut idle).await;
    t.stop().await;
}
