//! XEP-0092 software version of the IRSP: name "Hestia" and the crate version.

mod conversation;

use conversation::*;
use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn version_names_hestia() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let domain = t.domain();
    let answer = alice
        .iq(iq(
            "get",
            "v",
            Some(&domain),
            Element::new("query", ns::VERSION),
        ))
        .await
        .expect("version");
    let query = answer.get_child("query", ns::VERSION).expect("query");
    let field = |name| query.get_child(name, ns::VERSION).map(Element::text);
    assert_eq!(field("name").as_deref(), Some("Hestia"));
    assert!(
        field("version").is_some_and(|v| !v.trim().is_empty()),
        "{answer}"
    );
    assert_quiet(&mut alice).await;
    t.stop().await;
}
