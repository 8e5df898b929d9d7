//! DELETE /admin/v1/accounts/{id}: the account is gone from the store, its live session is closed
//! with `not-authorized`, login fails; deleting it again is 404.

mod conversation;

use conversation::*;
use hestia_testkit::{PASSWORD, TestServer};

#[tokio::test]
async fn deleting_an_account_removes_it_and_its_sessions() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    let admin = Admin::of(&t);

    let deleted = admin.delete("/admin/v1/accounts/alice").await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    let account = t.server.irsp.store.account("alice").await.expect("store");
    assert!(account.is_none());
    assert_eq!(stream_end(&mut alice).await, Some("not-authorized"));
    assert_sasl_failure(login_with(&t, "alice", PASSWORD).await, "not-authorized");
    let listed = admin.get("/admin/v1/accounts").await;
    assert_eq!(listed.json()["accounts"], serde_json::json!([]));

    let again = admin.delete("/admin/v1/accounts/alice").await;
    assert_eq!(again.status, 404, "{again:?}");
    t.stop().await;
}
