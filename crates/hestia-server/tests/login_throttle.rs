//! Failed-login throttling (RFC 6120 §13.9 brute force; RFC 6120 §6.5 `temporary-auth-failure`):
//! after `max_failed_logins_per_address` failures from one address, further attempts from it —
//! even with the right password — fail until the window passes; other addresses are unaffected.
//! The per-account throttle works the same way for one account from any address.

#![cfg(test)]

use std::net::{IpAddr, Ipv4Addr};

use hestia_testkit::{PASSWORD, TestServer};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn attempt(t: &TestServer, from: IpAddr, user: &str, password: &str) -> Result<(), String> {
    let opts = t.options().with_local_addr(from);
    let connected = hestia_client::Connected::connect(&opts)
        .await
        .expect("connect");
    match connected.authenticate(user, password).await {
        Ok(_) => Ok(()),
        Err(e) => Err(e
            .sasl_condition()
            .unwrap_or_else(|| panic!("SASL failure expected, got {e}"))
            .to_owned()),
    }
}

#[tokio::test]
async fn per_address_throttle() {
    let t = TestServer::start_with(|cfg| {
        cfg.c2s.loopback_exempt = false;
        cfg.c2s.max_failed_logins_per_address = 3;
    })
    .await
    .expect("server");
    t.add_user("alice").await.expect("alice");
    for _ in 0..3 {
        assert_eq!(
            attempt(&t, ip(2), "alice", "wrong horse").await,
            Err("not-authorized".into())
        );
    }
    assert_eq!(
        attempt(&t, ip(2), "alice", PASSWORD).await,
        Err("temporary-auth-failure".into()),
        "throttled even with the right password"
    );
    assert_eq!(attempt(&t, ip(3), "alice", PASSWORD).await, Ok(()));
    t.stop().await;
}

#[tokio::test]
async fn per_account_throttle() {
    let t = TestServer::start_with(|cfg| cfg.c2s.max_failed_logins_per_account = 3)
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    for from in [ip(2), ip(3), ip(4)] {
        assert_eq!(
            attempt(&t, from, "bob", "wrong horse").await,
            Err("not-authorized".into())
        );
    }
    assert_eq!(
        attempt(&t, ip(5), "bob", PASSWORD).await,
        Err("temporary-auth-failure".into()),
        "throttled from a fresh address too"
    );
    assert_eq!(attempt(&t, ip(2), "alice", PASSWORD).await, Ok(()));
    t.stop().await;
}
