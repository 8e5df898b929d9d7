//! The admin API requires `Authorization: Bearer <token>`: none, a wrong one or an empty one is
//! 401 with the stable code `unauthorized`, and the request does nothing.

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn missing_or_wrong_token_is_401() {
    let t = TestServer::start().await.expect("server");
    let admin = Admin::of(&t);
    for token in [None, Some("wrong-token"), Some("")] {
        let api = admin.with_token(token);
        let listed = api.get("/admin/v1/accounts").await;
        assert_eq!(listed.status, 401, "{token:?}: {listed:?}");
        assert_eq!(listed.json()["code"], "unauthorized", "{listed:?}");
        let created = api
            .post(
                "/admin/v1/users",
                json!({ "username": "mallory", "password": GOOD_PASSWORD }),
            )
            .await;
        assert_eq!(created.status, 401, "{created:?}");
    }
    let mallory = t.server.irsp.store.account("mallory").await.expect("store");
    assert!(mallory.is_none(), "unauthorised requests change nothing");

    let listed = admin.get("/admin/v1/accounts").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    t.stop().await;
}
