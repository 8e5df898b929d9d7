//! The HTTP port over TLS (`http.tls = "on"`): the gateway's CUI answers over HTTPS with the
//! certificate the XMPP server uses, and plain HTTP to that port gets no answer.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use hestia_server::config::HttpTls;
use hestia_testkit::TestServer;

#[tokio::test]
async fn the_cui_is_served_over_https_with_the_servers_certificate() {
    let t = TestServer::start_with(|c| c.http.tls = HttpTls::On)
        .await
        .expect("server");
    assert!(t.server.is_http_tls);
    let addr = t.server.http_addr.expect("http port");
    let ca = reqwest::Certificate::from_pem(&t.ca_pem).expect("CA");
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let r = client
        .get(format!("https://{addr}/cui/v1/openapi.json"))
        .send()
        .await
        .expect("HTTPS answers");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let doc: serde_json::Value =
        serde_json::from_str(&r.text().await.expect("body")).expect("json");
    assert!(doc["openapi"].is_string(), "{doc}");
    let plain = client
        .get(format!("http://{addr}/cui/v1/openapi.json"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP to the HTTPS port: {plain:?}");
    let untrusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");
    let refused = untrusting
        .get(format!("https://{addr}/health"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client not trusting the CA: {refused:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_loopback_port_serves_plain_http_by_default() {
    let t = TestServer::start().await.expect("server");
    assert!(!t.server.is_http_tls);
    let r = reqwest::get(format!("{}/health", t.http_base()))
        .await
        .expect("plain HTTP");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    t.stop().await;
}
