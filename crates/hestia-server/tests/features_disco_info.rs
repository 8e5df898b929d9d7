//! XEP-0030 disco#info of the IRSP domain: identity server/im and exactly the features the
//! registered modules declare; a node the server does not have is `item-not-found`.

mod conversation;

use std::collections::BTreeSet;

use conversation::*;
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn disco_info_lists_identity_and_exactly_the_registered_features() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let domain = t.domain();

    let info = alice
        .iq(iq(
            "get",
            "info",
            Some(&domain),
            Element::new("query", ns::DISCO_INFO),
        ))
        .await
        .expect("disco#info");
    assert_eq!(info.attr("from"), Some(domain.as_str()));
    let query = info.get_child("query", ns::DISCO_INFO).expect("query");
    let identities: Vec<(Option<&str>, Option<&str>)> = query
        .children()
        .filter(|c| c.is("identity", ns::DISCO_INFO))
        .map(|i| (i.attr("category"), i.attr("type")))
        .collect();
    assert_eq!(identities, vec![(Some("server"), Some("im"))]);

    let features: BTreeSet<&str> = query
        .children()
        .filter(|c| c.is("feature", ns::DISCO_INFO))
        .filter_map(|f| f.attr("var"))
        .collect();
    for var in [
        ns::PING,
        ns::VERSION,
        ns::TIME,
        ns::REGISTER,
        ns::DISCO_INFO,
        ns::DISCO_ITEMS,
    ] {
        assert!(features.contains(var), "{var} missing from {features:?}");
    }
    let registered: BTreeSet<&str> = t
        .server
        .irsp
        .registry
        .disco_features()
        .into_iter()
        .collect();
    assert_eq!(features, registered, "exactly the registered features");

    let with_node =
        Element::new("query", ns::DISCO_INFO).with_attr("node", "urn:example:no-such-node");
    let answer = alice.iq(iq("get", "node", Some(&domain), with_node)).await;
    assert_condition(answer, Cond::ItemNotFound);
    assert_quiet(&mut alice).await;
    t.stop().await;
}
