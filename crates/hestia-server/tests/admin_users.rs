//! POST /admin/v1/users creates a user (201, status 0) who can then log in; the same ID again is
//! 409 `conflict` with IGRS status 1; a short password is 422 with status 4.

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn admin_creates_a_user_who_logs_in() {
    let t = TestServer::start().await.expect("server");
    let admin = Admin::of(&t);
    let body = json!({ "username": "alice", "password": GOOD_PASSWORD, "name": "Alice" });
    let created = admin.post("/admin/v1/users", body.clone()).await;
    assert_eq!(created.status, 201, "{created:?}");
    let created = created.json();
    assert_eq!(created["status"], 0);
    assert_eq!(created["jid"], format!("alice@{}", t.domain()));

    let mut alice = login_with(&t, "alice", GOOD_PASSWORD).await.expect("login");
    alice.ping().await.expect("ping");

    let again = admin.post("/admin/v1/users", body).await;
    assert_eq!(again.status, 409, "{again:?}");
    assert_eq!(again.json()["code"], "conflict");
    assert_eq!(again.json()["status"], 1);

    let weak = admin
        .post(
            "/admin/v1/users",
            json!({ "username": "bob", "password": "short" }),
        )
        .await;
    assert_eq!(weak.status, 422, "{weak:?}");
    assert_eq!(weak.json()["status"], 4);
    t.stop().await;
}
