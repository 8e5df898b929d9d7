//! An invitation is spent only by a registration that succeeds: an attempt refused for its
//! password (status 4), by the per-address throttle (status 6) or for a taken name (status 1)
//! leaves the token usable.

mod conversation;

use std::net::{IpAddr, Ipv4Addr};

use conversation::*;
use hestia_features::registration::RegistrationPolicy;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_proto::igrs::RegistrationStatus as Status;
use hestia_testkit::TestServer;

/// 2100-01-01, unix seconds.
const FAR_FUTURE: i64 = 4_102_444_800;

#[tokio::test]
async fn a_refused_attempt_does_not_spend_the_invitation() {
    let t = TestServer::start_with(|c| {
        c.registration.policy = RegistrationPolicy::Invitation;
        c.registration.throttle_exempt_loopback = false;
        c.registration.throttle_max = 1;
    })
    .await
    .expect("server");
    for token in ["token-a", "token-b"] {
        t.server
            .irsp
            .store
            .create_invitation(token, FAR_FUTURE)
            .await
            .expect("invitation");
    }
    let busy = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let other = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));

    let mut c = connect_from(&t, busy).await;
    let weak = c
        .register("alice", "short", vec![invitation("token-a")])
        .await;
    assert_refused(weak, Cond::NotAcceptable, Status::PolicyFailed);
    c.register("alice", GOOD_PASSWORD, vec![invitation("token-a")])
        .await
        .expect("token-a survived the weak password");

    let mut c = connect_from(&t, busy).await;
    let throttled = c
        .register("bob", GOOD_PASSWORD, vec![invitation("token-b")])
        .await;
    assert_refused(throttled, Cond::ResourceConstraint, Status::TooManyAttempts);
    let mut c = connect_from(&t, other).await;
    c.register("bob", GOOD_PASSWORD, vec![invitation("token-b")])
        .await
        .expect("token-b survived the throttle");
    t.stop().await;
}

#[tokio::test]
async fn a_taken_name_does_not_spend_the_invitation() {
    let t = TestServer::start_with(|c| c.registration.policy = RegistrationPolicy::Invitation)
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    t.server
        .irsp
        .store
        .create_invitation("token-c", FAR_FUTURE)
        .await
        .expect("invitation");
    let mut c = connect_from(&t, None).await;
    let taken = c
        .register("alice", GOOD_PASSWORD, vec![invitation("token-c")])
        .await;
    assert_refused(taken, Cond::Conflict, Status::IdExists);
    c.register("carol", GOOD_PASSWORD, vec![invitation("token-c")])
        .await
        .expect("token-c survived the taken name");
    t.stop().await;
}
