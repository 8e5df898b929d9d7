//! A password shorter than the policy (8) or a device verification code shorter than the policy
//! (6) is `not-acceptable` with IGRS status 4, and nothing is created.

mod conversation;

use conversation::*;
use hestia_features::registration::proto::device_element;
use hestia_proto::StanzaErrorCondition as Cond;
use hestia_proto::igrs::RegistrationStatus as Status;
use hestia_store::DeviceInfo;
use hestia_testkit::TestServer;

#[tokio::test]
async fn short_password_or_code_is_not_acceptable_with_status_4() {
    let t = TestServer::start().await.expect("server");
    let short = register_in_band(&t, "bob", "1234567", Vec::new()).await;
    assert_refused(short, Cond::NotAcceptable, Status::PolicyFailed);

    let info = DeviceInfo {
        device_type: "plug".into(),
        model: "P1".into(),
        manufacturer: "Acme".into(),
        serial: "SN-9".into(),
    };
    let short_code = register_in_band(
        &t,
        "plug-1",
        GOOD_PASSWORD,
        vec![device_element(&info, "123")],
    )
    .await;
    assert_refused(short_code, Cond::NotAcceptable, Status::PolicyFailed);

    for name in ["bob", "plug-1"] {
        let account = t.server.irsp.store.account(name).await.expect("store");
        assert!(account.is_none(), "{name} was not created");
    }
    // Exactly the minimum is enough.
    register_in_band(&t, "bob", "12345678", Vec::new())
        .await
        .expect("8 characters pass");
    t.stop().await;
}
