//! XEP-0077 §3.2 cancel (`<remove/>`) after login: the result comes back, the account is gone from
//! the store, the cancelling connection and the account's other connection are closed with
//! `not-authorized`, and logging in afterwards fails.

mod conversation;

use conversation::*;
use hestia_proto::ns;
use hestia_testkit::{PASSWORD, TestServer};
use hestia_xml::Element;

#[tokio::test]
async fn cancelling_deletes_the_account_and_ends_its_sessions() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut phone = t.login_available("alice").await.expect("phone");
    let mut laptop = t.login_available("alice").await.expect("laptop");
    // The phone sees the laptop come online.
    let seen = phone.recv().await.expect("laptop presence");
    assert_eq!(seen.attr("from"), Some(laptop.jid().to_string().as_str()));

    let remove = Element::new("iq", ns::CLIENT)
        .with_attr("type", "set")
        .with_child(
            Element::new("query", ns::REGISTER).with_child(Element::new("remove", ns::REGISTER)),
        );
    let result = phone.iq(remove).await.expect("cancel result");
    assert_eq!(result.attr("type"), Some("result"), "{result}");

    let account = t.server.irsp.store.account("alice").await.expect("store");
    assert!(account.is_none(), "the account is gone");
    assert_eq!(stream_end(&mut phone).await, Some("not-authorized"));
    assert_eq!(stream_end(&mut laptop).await, Some("not-authorized"));

    assert_sasl_failure(login_with(&t, "alice", PASSWORD).await, "not-authorized");
    t.stop().await;
}
