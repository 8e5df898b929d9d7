//! Registering an ID that exists is refused with `conflict` and IGRS status 1, whatever the case
//! of the requested name (localparts are case-folded).

mod conversation;

use conversation::*;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_proto::igrs::RegistrationStatus as Status;
use hestia_testkit::TestServer;

#[tokio::test]
async fn a_taken_id_is_a_conflict_with_status_1() {
    let t = TestServer::start().await.expect("server");
    register_in_band(&t, "alice", GOOD_PASSWORD, Vec::new())
        .await
        .expect("first registration");
    for name in ["alice", "Alice"] {
        let again = register_in_band(&t, name, "another-password", Vec::new()).await;
        assert_refused(again, Cond::Conflict, Status::IdExists);
    }
    // The first password still works: the refused attempts changed nothing.
    login_with(&t, "alice", GOOD_PASSWORD)
        .await
        .expect("original password");
    t.stop().await;
}
