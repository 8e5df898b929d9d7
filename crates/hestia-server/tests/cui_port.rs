//! The HES gateway's CUI on the server's HTTP port (ISO/IEC 10192-4-3 §6.2): `/cui/v1` is
//! nested beside the admin API, so a user signs in over live HTTP and lists their devices;
//! the error body keeps its shape there too. The router itself is tested in process in
//! `crates/hestia-gateway/tests/cui_router.rs`.

mod conversation;

use conversation::*;
use hestia_testkit::{PASSWORD, TestServer};
use serde_json::json;

#[tokio::test]
async fn a_user_signs_in_and_lists_devices_over_the_http_port() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_device("lamp", "lamp").await.expect("lamp");
    t.own("alice", "lamp").await.expect("own");
    let anonymous = Admin::of(&t).with_token(None);
    let signed = anonymous
        .post(
            "/cui/v1/sign-in",
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    let token = signed.json()["token"].as_str().expect("token").to_owned();

    let list = anonymous
        .with_token(Some(&token))
        .get("/cui/v1/users/alice/devices")
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json()["devices"][0]["id"], "igrs:lamp");
    assert_eq!(list.json()["devices"][0]["online"], false);

    let refused = anonymous.get("/cui/v1/users/alice/devices").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["code"], "unauthorized");
    assert!(refused.json()["messageId"].is_string(), "{}", refused.text);
    t.stop().await;
}
