//! XEP-0077 §3.1 over STARTTLS before authentication: the form lists username, password and the
//! IGRS device template; a user registers (status 0) and then logs in with the new password.

mod conversation;

use conversation::*;
use hestia_proto::igrs::{NS_REGISTER, RegistrationStatus, device_field};
use hestia_proto::ns;
use hestia_store::AccountKind;
use hestia_testkit::TestServer;
use hestia_xml::Element;

#[tokio::test]
async fn a_user_registers_in_band_and_logs_in() {
    let t = TestServer::start().await.expect("server");
    let mut c = connect_from(&t, None).await;
    assert!(c.is_tls(), "registration happens after STARTTLS");
    assert!(
        c.features()
            .get_child("register", ns::REGISTER_FEATURE)
            .is_some(),
        "open registration is advertised: {}",
        c.features()
    );

    // The anonymous client asks for the form.
    let get = iq("get", "form-1", None, Element::new("query", ns::REGISTER));
    c.send_raw(get.to_xml(ns::CLIENT).as_bytes())
        .await
        .expect("send");
    let form = c.recv().await.expect("form");
    assert_eq!(form.attr("type"), Some("result"), "{form}");
    assert_eq!(form.attr("id"), Some("form-1"));
    let query = form.get_child("query", ns::REGISTER).expect("query");
    assert!(query.get_child("username", ns::REGISTER).is_some());
    assert!(query.get_child("password", ns::REGISTER).is_some());
    let device = query
        .get_child("device", NS_REGISTER)
        .expect("device template");
    for field in device_field::ALL {
        assert!(
            device.get_child(field, NS_REGISTER).is_some(),
            "template lacks {field}: {device}"
        );
    }

    // It registers on the same stream.
    let result = c
        .register("alice", GOOD_PASSWORD, Vec::new())
        .await
        .expect("registered");
    assert_eq!(result.attr("type"), Some("result"));
    assert_eq!(
        RegistrationStatus::find_in(&result),
        Some(RegistrationStatus::Success),
        "{result}"
    );

    let account = t
        .server
        .irsp
        .store
        .account("alice")
        .await
        .expect("store")
        .expect("account stored");
    assert_eq!(account.kind, AccountKind::User);
    assert!(account.device.is_none());

    let mut alice = login_with(&t, "alice", GOOD_PASSWORD)
        .await
        .expect("login with the registered password");
    assert_eq!(
        alice.jid().to_bare().to_string(),
        format!("alice@{}", t.domain())
    );
    alice.ping().await.expect("ping");
    t.stop().await;
}
