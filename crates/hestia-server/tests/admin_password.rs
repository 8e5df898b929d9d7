//! PATCH /admin/v1/accounts/{id} with a password replaces the credentials: the new password logs
//! in, the old one fails; an unknown account is 404.

mod conversation;

use conversation::*;
use hestia_testkit::{PASSWORD, TestServer};
use serde_json::json;

#[tokio::test]
async fn admin_changes_a_password() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let admin = Admin::of(&t);
    let new_password = "set-by-the-admin";
    let patched = admin
        .patch(
            "/admin/v1/accounts/alice",
            json!({ "password": new_password }),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.json()["status"], 0);

    login_with(&t, "alice", new_password)
        .await
        .expect("new password");
    assert_sasl_failure(login_with(&t, "alice", PASSWORD).await, "not-authorized");

    let missing = admin
        .patch(
            "/admin/v1/accounts/nobody",
            json!({ "password": new_password }),
        )
        .await;
    assert_eq!(missing.status, 404, "{missing:?}");
    t.stop().await;
}
