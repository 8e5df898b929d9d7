//! In-band registration of a device (14543-5-8 §7): the IGRS device element stores the account
//! as kind device with its type, model, manufacturer and serial; the verification code is stored
//! hashed, never as given.

mod conversation;

use conversation::*;
use hestia_features::registration::proto::device_element;
use hestia_proto::igrs::RegistrationStatus;
use hestia_store::{AccountKind, DeviceInfo};
use hestia_testkit::TestServer;

#[tokio::test]
async fn a_device_registers_in_band_with_its_information() {
    let t = TestServer::start().await.expect("server");
    let info = DeviceInfo {
        device_type: "lamp".into(),
        model: "L-200".into(),
        manufacturer: "Acme".into(),
        serial: "SN-0042".into(),
    };
    let code = "739251";
    let result = register_in_band(
        &t,
        "lamp-1",
        GOOD_PASSWORD,
        vec![device_element(&info, code)],
    )
    .await
    .expect("registered");
    assert_eq!(
        RegistrationStatus::find_in(&result),
        Some(RegistrationStatus::Success),
        "{result}"
    );

    let account = t
        .server
        .irsp
        .store
        .account("lamp-1")
        .await
        .expect("store")
        .expect("account stored");
    assert_eq!(account.kind, AccountKind::Device);
    assert_eq!(account.device.as_ref(), Some(&info));
    let stored = account.verification_code.expect("verification code stored");
    assert!(!stored.hash.is_empty() && !stored.salt.is_empty());
    assert_ne!(stored.hash, code.as_bytes(), "the code is stored hashed");
    assert!(
        !stored
            .hash
            .windows(code.len())
            .any(|w| w == code.as_bytes()),
        "the code does not appear in the stored hash"
    );

    let mut lamp = login_with(&t, "lamp-1", GOOD_PASSWORD)
        .await
        .expect("device login");
    lamp.ping().await.expect("ping");
    t.stop().await;
}
