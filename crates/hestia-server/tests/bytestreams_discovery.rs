//! XEP-0065 §4 through the router: `proxy.D` answers disco#info (identity proxy/bytestreams,
//! the bytestreams feature) and the streamhost query; it is a service address, so it answers
//! nothing else, and nothing else at its domain exists. The domain itself does not take the
//! proxy's queries, and without the proxy `proxy.D` is as unknown as any other domain.

mod bytestreams;
mod conversation;

use bytestreams::*;
use conversation::*;
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn the_proxy_describes_itself() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let proxy = proxy_jid(&t);
    let info = alice
        .iq(iq_to(
            "get",
            "i",
            &proxy,
            Element::new("query", ns::DISCO_INFO),
        ))
        .await
        .expect("disco#info");
    assert_eq!(info.attr("from"), Some(proxy.as_str()));
    let query = info.get_child("query", ns::DISCO_INFO).expect("query");
    let identities: Vec<_> = query
        .children()
        .filter(|c| c.is("identity", ns::DISCO_INFO))
        .map(|i| (i.attr("category"), i.attr("type")))
        .collect();
    assert_eq!(identities, vec![(Some("proxy"), Some("bytestreams"))]);
    let features: Vec<_> = query
        .children()
        .filter(|c| c.is("feature", ns::DISCO_INFO))
        .filter_map(|f| f.attr("var"))
        .collect();
    assert_eq!(features, vec![ns::DISCO_INFO, ns::BYTESTREAMS]);
    let items = alice
        .iq(iq_to(
            "get",
            "it",
            &proxy,
            Element::new("query", ns::DISCO_ITEMS),
        ))
        .await
        .expect("disco#items");
    let query = items.get_child("query", ns::DISCO_ITEMS).expect("query");
    assert_eq!(query.children().count(), 0, "{items}");
    assert_quiet(&mut alice).await;
    t.stop().await;
}

#[tokio::test]
async fn the_streamhost_query_names_the_listener() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let proxy = proxy_jid(&t);
    let answer = alice
        .iq(iq_to("get", "sh", &proxy, query(None, vec![])))
        .await
        .expect("streamhost");
    assert_eq!(answer.attr("from"), Some(proxy.as_str()));
    let hosts: Vec<_> = answer
        .get_child("query", ns::BYTESTREAMS)
        .expect("query")
        .children()
        .map(|h| {
            assert!(h.is("streamhost", ns::BYTESTREAMS), "{answer}");
            (
                h.attr("jid"),
                h.attr("host"),
                h.attr("port").map(str::to_owned),
            )
        })
        .collect();
    let port = proxy_addr(&t).port().to_string();
    assert_eq!(
        hosts,
        vec![(Some(proxy.as_str()), Some("127.0.0.1"), Some(port))]
    );
    assert_quiet(&mut alice).await;
    t.stop().await;
}

#[tokio::test]
async fn the_proxy_address_answers_only_the_proxy_protocol() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let (proxy, domain) = (proxy_jid(&t), t.domain());

    // The domain does not answer for the proxy, nor the proxy for the domain.
    let at_domain = alice
        .iq(iq_to("get", "d", &domain, query(None, vec![])))
        .await;
    assert_condition(at_domain, Cond::ServiceUnavailable);
    for payload in [
        Element::new("query", ns::ROSTER),
        Element::new("ping", ns::PING),
        Element::new("query", ns::VERSION),
    ] {
        let answer = alice.iq(iq_to("get", "p", &proxy, payload)).await;
        assert_condition(answer, Cond::ServiceUnavailable);
    }
    // Only the domain-only address is the service.
    for other in [format!("alice@{proxy}"), format!("{proxy}/r")] {
        let answer = alice
            .iq(iq_to("get", "o", &other, query(None, vec![])))
            .await;
        assert_condition(answer, Cond::RemoteServerNotFound);
    }
    // Messages bounce as for the domain; presence is dropped.
    alice.send(&chat(&proxy, "hi")).await.expect("send");
    let bounce = alice.recv().await.expect("bounce");
    assert_bounce(&bounce, Cond::ServiceUnavailable);
    let presence = Element::new("presence", ns::CLIENT).with_attr("to", proxy.as_str());
    alice.send(&presence).await.expect("presence");
    assert_quiet(&mut alice).await;
    t.stop().await;
}

#[tokio::test]
async fn without_the_proxy_its_address_is_another_domain() {
    let t = TestServer::start_with(|c| c.proxy.enabled = false)
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let answer = alice
        .iq(iq_to("get", "sh", &proxy_jid(&t), query(None, vec![])))
        .await;
    assert_condition(answer, Cond::RemoteServerNotFound);
    assert!(t.server.proxy.is_none());
    t.stop().await;
}
