//! With `registration.policy = "closed"` the register stream feature is not advertised and an
//! in-band registration is `not-allowed` with IGRS status 5; admin-made accounts still work.

mod conversation;

use conversation::*;
use hestia_features::registration::RegistrationPolicy;
use hestia_proto::igrs::RegistrationStatus as Status;
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;

#[tokio::test]
async fn closed_registration_is_not_allowed_with_status_5() {
    let t = TestServer::start_with(|c| c.registration.policy = RegistrationPolicy::Closed)
        .await
        .expect("server");
    let mut c = connect_from(&t, None).await;
    assert!(
        c.features()
            .get_child("register", ns::REGISTER_FEATURE)
            .is_none(),
        "closed registration is not advertised: {}",
        c.features()
    );
    let answer = c.register("mallory", GOOD_PASSWORD, Vec::new()).await;
    assert_refused(answer, Cond::NotAllowed, Status::NotAllowed);
    let account = t.server.irsp.store.account("mallory").await.expect("store");
    assert!(account.is_none());

    t.add_user("alice").await.expect("admin-made account");
    t.login("alice").await.expect("login");
    t.stop().await;
}
