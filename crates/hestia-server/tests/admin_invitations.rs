//! POST /admin/v1/invitations returns a token that admits one in-band registration under
//! `registration.policy = "invitation"`.

mod conversation;

use conversation::*;
use hestia_features::registration::RegistrationPolicy;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_proto::igrs::RegistrationStatus as Status;
use hestia_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn an_admin_invitation_admits_a_registration() {
    let t = TestServer::start_with(|c| c.registration.policy = RegistrationPolicy::Invitation)
        .await
        .expect("server");
    let admin = Admin::of(&t);
    let created = admin
        .post("/admin/v1/invitations", json!({ "ttl_seconds": 600 }))
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let token = created.json()["token"].as_str().expect("token").to_owned();
    assert!(created.json()["expires_at"].as_i64().is_some());

    let result = register_in_band(&t, "carol", GOOD_PASSWORD, vec![invitation(&token)])
        .await
        .expect("invited");
    assert_eq!(Status::find_in(&result), Some(Status::Success));
    login_with(&t, "carol", GOOD_PASSWORD)
        .await
        .expect("carol logs in");
    let reused = register_in_band(&t, "dave", GOOD_PASSWORD, vec![invitation(&token)]).await;
    assert_refused(reused, Cond::NotAllowed, Status::NotAllowed);
    t.stop().await;
}
