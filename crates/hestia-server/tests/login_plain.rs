//! PLAIN (RFC 4616) is offered only on an encrypted stream (RFC 6120 §6.4.1, §13.8): it works
//! over STARTTLS and over direct TLS (XEP-0368), and is absent from the mechanisms of a plain
//! TCP stream even when TLS is not required.

#![cfg(test)]

use hestia_client::{ConnectOptions, Connected, Mechanism, Transport};
use hestia_testkit::{PASSWORD, TestServer};

#[tokio::test]
async fn plain_over_starttls() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let connected = Connected::connect(&t.options().with_mechanism(Mechanism::Plain))
        .await
        .expect("connect");
    assert!(connected.mechanisms().iter().any(|m| m == "PLAIN"));
    let authed = connected
        .authenticate("alice", PASSWORD)
        .await
        .expect("auth");
    assert_eq!(authed.mechanism(), Mechanism::Plain);
    let mut alice = authed.bind(None).await.expect("bound");
    alice.ping().await.expect("ping");
    t.stop().await;
}

#[tokio::test]
async fn plain_over_direct_tls() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let opts = ConnectOptions::new(t.direct_tls_addr(), t.domain())
        .with_ca_pem(t.ca_pem.clone())
        .with_transport(Transport::DirectTls)
        .with_mechanism(Mechanism::Plain);
    let connected = Connected::connect(&opts).await.expect("connect");
    assert!(connected.is_tls());
    let authed = connected
        .authenticate("alice", PASSWORD)
        .await
        .expect("auth");
    assert_eq!(authed.mechanism(), Mechanism::Plain);
    let mut alice = authed.bind(None).await.expect("bound");
    alice.ping().await.expect("ping");
    t.stop().await;
}

#[tokio::test]
async fn plain_is_not_offered_without_tls() {
    let t = TestServer::start_with(|cfg| cfg.tls.required = false)
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    let opts = t.options().with_transport(Transport::Plain);
    let connected = Connected::connect(&opts).await.expect("connect");
    assert!(!connected.is_tls());
    let offered = connected.mechanisms();
    assert!(!offered.is_empty(), "SCRAM is offered in the clear");
    assert!(!offered.iter().any(|m| m == "PLAIN"), "{offered:?}");
    // Forcing it anyway is refused as an unoffered mechanism.
    let forced = Connected::connect(&opts.with_mechanism(Mechanism::Plain))
        .await
        .expect("connect");
    let err = forced
        .authenticate("alice", PASSWORD)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.sasl_condition(), Some("invalid-mechanism"), "{err}");
    t.stop().await;
}
