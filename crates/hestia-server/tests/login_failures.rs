//! Failed logins name their RFC 6120 §6.5 condition: a wrong password and an unknown user are
//! both `not-authorized` (indistinguishable, so accounts cannot be probed), a disabled account
//! is `account-disabled`.

#![cfg(test)]

use hestia_client::Mechanism;
use hestia_testkit::{PASSWORD, TestServer};

async fn failure(t: &TestServer, mechanism: Mechanism, user: &str, password: &str) -> String {
    let connected = hestia_client::Connected::connect(&t.options().with_mechanism(mechanism))
        .await
        .expect("connect");
    let err = connected
        .authenticate(user, password)
        .await
        .err()
        .expect("login must fail");
    err.sasl_condition()
        .unwrap_or_else(|| panic!("SASL failure expected, got {err}"))
        .to_owned()
}

#[tokio::test]
async fn wrong_password_is_not_authorized() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    for mechanism in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1Plus,
        Mechanism::Plain,
    ] {
        assert_eq!(
            failure(&t, mechanism, "alice", "wrong horse").await,
            "not-authorized",
            "{}",
            mechanism.name()
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn unknown_user_is_not_authorized() {
    let t = TestServer::start().await.expect("server");
    for mechanism in [Mechanism::ScramSha256, Mechanism::Plain] {
        assert_eq!(
            failure(&t, mechanism, "nobody", PASSWORD).await,
            "not-authorized",
            "{}",
            mechanism.name()
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn disabled_account_is_account_disabled() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    hestia_features::registration::accounts::set_disabled(&t.server.irsp, "alice", true)
        .await
        .expect("disable");
    for mechanism in [Mechanism::ScramSha256, Mechanism::Plain] {
        assert_eq!(
            failure(&t, mechanism, "alice", PASSWORD).await,
            "account-disabled",
            "{}",
            mechanism.name()
        );
    }
    t.stop().await;
}
