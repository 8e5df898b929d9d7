//! With `registration.policy = "invitation"` an in-band registration needs an unused invitation
//! token in the query (`<invitation xmlns='urn:igrs:ra:0:register'/>`): without one, or with a
//! spent one, it is `not-allowed` with IGRS status 5.

mod conversation;

use conversation::*;
use hestia_features::registration::RegistrationPolicy;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_proto::igrs::RegistrationStatus as Status;
use hestia_testkit::TestServer;

/// 2100-01-01, unix seconds.
const FAR_FUTURE: i64 = 4_102_444_800;

#[tokio::test]
async fn an_invitation_admits_exactly_one_registration() {
    let t = TestServer::start_with(|c| c.registration.policy = RegistrationPolicy::Invitation)
        .await
        .expect("server");
    let token = "invite-7f3a9c";
    t.server
        .irsp
        .store
        .create_invitation(token, FAR_FUTURE)
        .await
        .expect("invitation");

    let uninvited = register_in_band(&t, "alice", GOOD_PASSWORD, Vec::new()).await;
    assert_refused(uninvited, Cond::NotAllowed, Status::NotAllowed);
    let unknown = register_in_band(
        &t,
        "alice",
        GOOD_PASSWORD,
        vec![invitation("no-such-token")],
    )
    .await;
    assert_refused(unknown, Cond::NotAllowed, Status::NotAllowed);

    let invited = register_in_band(&t, "alice", GOOD_PASSWORD, vec![invitation(token)])
        .await
        .expect("invited registration");
    assert_eq!(
        Status::find_in(&invited),
        Some(Status::Success),
        "{invited}"
    );

    let reused = register_in_band(&t, "bob", GOOD_PASSWORD, vec![invitation(token)]).await;
    assert_refused(reused, Cond::NotAllowed, Status::NotAllowed);
    let bob = t.server.irsp.store.account("bob").await.expect("store");
    assert!(bob.is_none());

    login_with(&t, "alice", GOOD_PASSWORD)
        .await
        .expect("invited user logs in");
    t.stop().await;
}
