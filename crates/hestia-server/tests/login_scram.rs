//! Login (ISO/IEC 14543-5-8 §8, RFC 6120 §6) with each SCRAM mechanism the server offers over
//! STARTTLS: SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 7677, RFC 5802) and their channel-binding
//! `-PLUS` variants with tls-exporter (RFC 9266). Each logs in, binds and pings.

#![cfg(test)]

use hestia_client::{Connected, Mechanism};
use hestia_testkit::{PASSWORD, TestServer};

async fn logs_in_with(mechanism: Mechanism) {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let connected = Connected::connect(&t.options().with_mechanism(mechanism))
        .await
        .expect("connect");
    assert!(connected.is_tls());
    assert!(
        connected.mechanisms().iter().any(|m| m == mechanism.name()),
        "{} offered: {:?}",
        mechanism.name(),
        connected.mechanisms()
    );
    let authed = connected
        .authenticate("alice", PASSWORD)
        .await
        .expect("authenticated");
    assert_eq!(authed.mechanism(), mechanism);
    let mut alice = authed.bind(None).await.expect("bound");
    assert_eq!(alice.jid().to_bare().to_string(), "alice@localhost");
    alice.ping().await.expect("ping");
    t.stop().await;
}

#[tokio::test]
async fn scram_sha_256() {
    logs_in_with(Mechanism::ScramSha256).await;
}

#[tokio::test]
async fn scram_sha_1() {
    logs_in_with(Mechanism::ScramSha1).await;
}

#[tokio::test]
async fn scram_sha_256_plus() {
    logs_in_with(Mechanism::ScramSha256Plus).await;
}

#[tokio::test]
async fn scram_sha_1_plus() {
    logs_in_with(Mechanism::ScramSha1Plus).await;
}
