//! POST /admin/v1/devices creates a device account with its IGRS information and verification
//! code (201); the device logs in; POST /admin/v1/devices/{id}/verification-code replaces the
//! stored code hash (a short code is refused with status 4).

mod conversation;

use conversation::*;
use hestia_store::AccountKind;
use hestia_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn admin_creates_a_device_and_resets_its_code() {
    let t = TestServer::start().await.expect("server");
    let admin = Admin::of(&t);
    let created = admin
        .post(
            "/admin/v1/devices",
            json!({
                "id": "lamp-1", "password": GOOD_PASSWORD, "type": "lamp", "model": "L-200",
                "manufacturer": "Acme", "serial": "SN-1", "verification_code": "482913",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json()["jid"], format!("lamp-1@{}", t.domain()));

    let account = t
        .server
        .irsp
        .store
        .account("lamp-1")
        .await
        .expect("store")
        .expect("device");
    assert_eq!(account.kind, AccountKind::Device);
    let device = account.device.expect("device info");
    assert_eq!(
        (device.device_type.as_str(), device.model.as_str()),
        ("lamp", "L-200")
    );
    assert_eq!(
        (device.manufacturer.as_str(), device.serial.as_str()),
        ("Acme", "SN-1")
    );
    let first_code = account.verification_code.expect("code hash");

    let mut lamp = login_with(&t, "lamp-1", GOOD_PASSWORD)
        .await
        .expect("device login");
    lamp.ping().await.expect("ping");

    let reset = admin
        .post(
            "/admin/v1/devices/lamp-1/verification-code",
            json!({ "code": "570284" }),
        )
        .await;
    assert_eq!(reset.status, 200, "{reset:?}");
    assert_eq!(reset.json()["status"], 0);
    let second_code = t
        .server
        .irsp
        .store
        .account("lamp-1")
        .await
        .expect("store")
        .and_then(|a| a.verification_code)
        .expect("code hash");
    assert_ne!(first_code, second_code, "the stored code changed");

    let short = admin
        .post(
            "/admin/v1/devices/lamp-1/verification-code",
            json!({ "code": "12" }),
        )
        .await;
    assert_eq!(short.status, 422, "{short:?}");
    assert_eq!(short.json()["status"], 4);
    t.stop().await;
}

#[tokio::test]
async fn admin_reads_a_devices_relationships_policy_and_grants() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    t.own("alice", "lamp-1").await.expect("own");
    t.relate(
        "bob",
        "lamp-1",
        hestia_store::RelationKind::Shared,
        Some(hestia_store::AccessRight::View),
    )
    .await
    .expect("share");
    let admin = Admin::of(&t);
    let reply = admin.get("/admin/v1/accounts/lamp-1/relationships").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["policy"], "code");
    let domain = t.domain();
    assert_eq!(
        body["grants"],
        json!([
            { "user": format!("alice@{domain}"), "right": "owner" },
            { "user": format!("bob@{domain}"), "right": "view" },
        ])
    );
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["jid"], format!("alice@{domain}"));
    assert_eq!(items[0]["relation"], "owner");
    assert_eq!(items[0]["subscription"], "both");
    assert_eq!(items[1]["right"], "view");

    let alice = admin
        .get("/admin/v1/accounts/alice/relationships")
        .await
        .json();
    assert!(alice.get("policy").is_none(), "a user has no device policy");
    assert_eq!(alice["items"][0]["right"], "owner");
    let missing = admin.get("/admin/v1/accounts/nobody/relationships").await;
    assert_eq!(missing.status, 404);
    t.stop().await;
}
