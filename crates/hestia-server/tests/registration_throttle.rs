//! In-band registrations are throttled per source address: with `throttle_max = 2` and loopback
//! not exempt, the third from 127.0.0.2 is `resource-constraint` with IGRS status 6, while
//! 127.0.0.3 still registers.

mod conversation;

use std::net::{IpAddr, Ipv4Addr};

use conversation::*;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_proto::igrs::RegistrationStatus as Status;
use hestia_testkit::TestServer;

#[tokio::test]
async fn the_third_registration_from_one_address_is_throttled() {
    let t = TestServer::start_with(|c| {
        c.registration.throttle_exempt_loopback = false;
        c.registration.throttle_max = 2;
    })
    .await
    .expect("server");
    let busy = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

    for name in ["u1", "u2"] {
        let mut c = connect_from(&t, Some(busy)).await;
        c.register(name, GOOD_PASSWORD, Vec::new())
            .await
            .expect("within the limit");
    }
    let mut c = connect_from(&t, Some(busy)).await;
    let third = c.register("u3", GOOD_PASSWORD, Vec::new()).await;
    assert_refused(third, Cond::ResourceConstraint, Status::TooManyAttempts);
    let account = t.server.irsp.store.account("u3").await.expect("store");
    assert!(account.is_none());

    let mut c = connect_from(&t, Some(other)).await;
    c.register("u4", GOOD_PASSWORD, Vec::new())
        .await
        .expect("another address is not throttled");
    t.stop().await;
}
