//! XEP-0030 disco#items of the IRSP domain: the services it hosts — the SOCKS5 bytestream
//! proxy (XEP-0065 §4) — and nothing when the proxy is disabled.

#![allow(clippy::expect_used)]

mod conversation;

use conversation::*;
use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;

async fn items_of_domain(t: &TestServer) -> Vec<(Option<String>, Option<String>)> {
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
    let listed = query
        .children()
        .map(|i| {
            assert!(i.is("item", ns::DISCO_ITEMS), "{items}");
            (
                i.attr("jid").map(str::to_owned),
                i.attr("name").map(str::to_owned),
            )
        })
        .collect();
    assert_quiet(&mut alice).await;
    listed
}

#[tokio::test]
async fn disco_items_lists_the_bytestream_proxy() {
    let t = TestServer::start().await.expect("server");
    let items = items_of_domain(&t).await;
    let proxy = format!("proxy.{}", t.domain());
    assert_eq!(
        items,
        vec![(Some(proxy), Some("SOCKS5 bytestreams proxy".to_owned()))]
    );
    t.stop().await;
}

#[tokio::test]
async fn disco_items_is_an_empty_list_without_the_proxy() {
    let t = TestServer::start_with(|c| c.proxy.enabled = false)
        .await
        .expect("server");
    assert_eq!(items_of_domain(&t).await, vec![]);
    t.stop().await;
}
