//! TLS 1.2 and TLS 1.3 are both accepted on the direct-TLS port (XEP-0368), and the stream that
//! follows offers SASL: a client limited to either version gets a working XMPP stream.

#![cfg(test)]

use std::sync::Arc;

use hestia_testkit::TestServer;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn stream_over(
    t: &TestServer,
    version: &'static rustls::SupportedProtocolVersion,
) -> (rustls::ProtocolVersion, String) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&t.ca_pem) {
        roots
            .add(cert.expect("CA certificate"))
            .expect("trust anchor");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .expect("version")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(t.direct_tls_addr())
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let negotiated = tls
        .get_ref()
        .1
        .protocol_version()
        .expect("negotiated version");
    tls.write_all(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
        .await
        .expect("header");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("</stream:features>") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), tls.read(&mut buf))
            .await
            .expect("features in time")
            .expect("read");
        assert!(
            n > 0,
            "stream closed early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    (negotiated, String::from_utf8_lossy(&seen).into_owned())
}

#[tokio::test]
async fn tls_1_2_and_1_3_both_carry_a_stream() {
    let t = TestServer::start().await.expect("server");
    for (version, want) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let (negotiated, features) = stream_over(&t, version).await;
        assert_eq!(negotiated, want);
        assert!(
            features.contains("<mechanism>SCRAM-SHA-256-PLUS</mechanism>"),
            "{features}"
        );
        assert!(
            features.contains("<mechanism>PLAIN</mechanism>"),
            "{features}"
        );
    }
    t.stop().await;
}
