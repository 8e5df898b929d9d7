//! A device registered through the admin API with `issue_certificate` receives an X.509 client
//! certificate from the IRSP's CA (XEP-0178) and logs in with SASL EXTERNAL using it; a user
//! account is refused a certificate.

mod conversation;

use conversation::*;
use hestia_client::Connected;
use hestia_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn a_device_registered_with_a_certificate_logs_in_with_external() {
    let t = TestServer::start().await.expect("server");
    let admin = Admin::of(&t);
    let created = admin
        .post(
            "/admin/v1/devices",
            json!({
                "id": "cam-7", "password": GOOD_PASSWORD, "type": "camera",
                "verification_code": "830142", "issue_certificate": true,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let body = created.json();
    let cert = body["certificate_pem"]
        .as_str()
        .expect("certificate")
        .as_bytes()
        .to_vec();
    let key = body["key_pem"].as_str().expect("key").as_bytes().to_vec();

    let connected = Connected::connect(&t.options().with_client_cert(cert, key))
        .await
        .expect("connect with the certificate");
    assert!(connected.mechanisms().iter().any(|m| m == "EXTERNAL"));
    let bound = connected
        .authenticate_external()
        .await
        .expect("EXTERNAL")
        .bind(None)
        .await
        .expect("bind");
    assert_eq!(
        bound.jid().to_bare().to_string(),
        format!("cam-7@{}", t.domain())
    );

    t.add_user("alice").await.expect("alice");
    let refused = admin
        .post("/admin/v1/devices/alice/certificate", json!({}))
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    t.stop().await;
}
