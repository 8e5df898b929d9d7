//! SASL EXTERNAL with a device certificate issued by the IRSP's CA (XEP-0178, RFC 6120 §6.3.4):
//! offered only to a client that presented a certificate, and it logs the device in as the
//! JID in the certificate.

#![cfg(test)]

use hestia_client::{Connected, Mechanism};
use hestia_testkit::TestServer;

#[tokio::test]
async fn device_certificate_logs_in_with_external() {
    let t = TestServer::start().await.expect("server");
    t.add_device("lamp1", "light").await.expect("lamp1");
    let (cert, key) = t
        .server
        .pki
        .issue_device_certificate("lamp1@localhost")
        .expect("certificate");
    let connected = Connected::connect(&t.options().with_client_cert(cert, key))
        .await
        .expect("connect");
    assert!(
        connected.mechanisms().iter().any(|m| m == "EXTERNAL"),
        "{:?}",
        connected.mechanisms()
    );
    let authed = connected.authenticate_external().await.expect("EXTERNAL");
    assert_eq!(authed.mechanism(), Mechanism::External);
    let mut lamp = authed.bind(None).await.expect("bound");
    assert_eq!(lamp.jid().to_bare().to_string(), "lamp1@localhost");
    lamp.ping().await.expect("ping");
    t.stop().await;
}

#[tokio::test]
async fn no_certificate_no_external() {
    let t = TestServer::start().await.expect("server");
    let connected = t.connect().await.expect("connect");
    let offered = connected.mechanisms();
    assert!(!offered.is_empty());
    assert!(!offered.iter().any(|m| m == "EXTERNAL"), "{offered:?}");
    t.stop().await;
}
