//! An ID that violates the address rules (RFC 7622 localpart) is `jid-malformed` with IGRS
//! status 3.

mod conversation;

use conversation::*;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_proto::igrs::RegistrationStatus as Status;
use hestia_testkit::TestServer;

#[tokio::test]
async fn an_invalid_localpart_is_jid_malformed_with_status_3() {
    let t = TestServer::start().await.expect("server");
    let too_long = "x".repeat(1100);
    for name in ["a b", "x@y", "a/b", "a:b", "<a>", too_long.as_str()] {
        let mut c = connect_from(&t, None).await;
        let answer = c.register(name, GOOD_PASSWORD, Vec::new()).await;
        assert_refused(answer, Cond::JidMalformed, Status::IdViolatesAddressRules);
    }
    t.stop().await;
}
