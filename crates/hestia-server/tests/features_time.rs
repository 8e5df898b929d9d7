//! XEP-0202 entity time of the IRSP: `utc` (an RFC 3339 UTC timestamp) and `tzo`.

mod conversation;

use conversation::*;
use hestia_proto::ns;
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn time_returns_utc_and_tzo() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let domain = t.domain();
    let answer = alice
        .iq(iq(
            "get",
            "t",
            Some(&domain),
            Element::new("time", ns::TIME),
        ))
        .await
        .expect("time");
    let time = answer.get_child("time", ns::TIME).expect("time");
    let tzo = time.get_child("tzo", ns::TIME).map(Element::text);
    assert_eq!(tzo.as_deref(), Some("+00:00"));
    let utc = time
        .get_child("utc", ns::TIME)
        .map(Element::text)
        .expect("utc");
    // e.g. 2025-01-31T12:34:56Z or with fractional seconds.
    assert!(utc.len() >= 20 && utc.ends_with('Z'), "utc {utc:?}");
    assert_eq!(&utc[4..5], "-");
    assert_eq!(&utc[10..11], "T");
    assert_quiet(&mut alice).await;
    t.stop().await;
}
