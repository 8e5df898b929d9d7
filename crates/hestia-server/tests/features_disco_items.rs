//! XEP-0030 disco#items of the IRSP domain: no hosted services yet, so an empty list.

mod conversation;

use conversation::*;
use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn disco_items_is_an_empty_list() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let domain = t.domain();
    let items = alice
        .iq(iq(
            "get",
            "items",
            Some(&domain),
            Element::new("query", ns::DISCO_ITEMS),
        ))
        .await
        .expect("disco#items");
    let query = items.get_child("query", ns::DISCO_ITEMS).expect("query");
    assert_eq!(query.children().count(), 0, "{items}");
    assert_quiet(&mut alice).await;
    t.stop().await;
}
