//! GET /admin/v1/accounts lists users and devices with their kinds; `?kind=device` and
//! `?kind=user` filter; GET /admin/v1/accounts/{id} shows one account.

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;
use serde_json::Value;

fn kinds(listing: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = listing["accounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                    (s("localpart"), s("kind"))
                })
                .collect()
        })
        .unwrap_or_default();
    rows.sort();
    rows
}

fn pair(id: &str, kind: &str) -> (String, String) {
    (id.to_owned(), kind.to_owned())
}

#[tokio::test]
async fn accounts_are_listed_with_kinds_and_filtered() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    let admin = Admin::of(&t);

    let all = admin.get("/admin/v1/accounts").await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(
        kinds(&all.json()),
        vec![pair("alice", "user"), pair("lamp-1", "device")]
    );
    let devices = admin.get("/admin/v1/accounts?kind=device").await;
    assert_eq!(kinds(&devices.json()), vec![pair("lamp-1", "device")]);
    let users = admin.get("/admin/v1/accounts?kind=user").await;
    assert_eq!(kinds(&users.json()), vec![pair("alice", "user")]);

    let one = admin.get("/admin/v1/accounts/lamp-1").await;
    assert_eq!(one.status, 200, "{one:?}");
    let one = one.json();
    assert_eq!(one["kind"], "device");
    assert_eq!(one["device"]["device_type"], "lamp");
    assert_eq!(one["has_verification_code"], true);
    let missing = admin.get("/admin/v1/accounts/nobody").await;
    assert_eq!(missing.status, 404, "{missing:?}");
    t.stop().await;
}
