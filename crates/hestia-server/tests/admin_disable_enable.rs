//! POST /admin/v1/accounts/{id}/disable ends the live session with the stream error
//! `not-authorized`, and login then fails with SASL `account-disabled`; enable restores login.

mod conversation;

use conversation::*;
use hestia_testkit::{PASSWORD, TestServer};

#[tokio::test]
async fn disabling_ends_sessions_and_refuses_login_until_enabled() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut alice = t.login_available("alice").await.expect("alice");
    let admin = Admin::of(&t);

    let disabled = admin
        .post("/admin/v1/accounts/alice/disable", serde_json::json!({}))
        .await;
    assert_eq!(disabled.status, 200, "{disabled:?}");
    assert_eq!(disabled.json()["disabled"], true);
    assert_eq!(stream_end(&mut alice).await, Some("not-authorized"));
    assert_sasl_failure(login_with(&t, "alice", PASSWORD).await, "account-disabled");
    let listed = admin.get("/admin/v1/accounts/alice").await;
    assert_eq!(listed.json()["disabled"], true);

    let enabled = admin
        .post("/admin/v1/accounts/alice/enable", serde_json::json!({}))
        .await;
    assert_eq!(enabled.status, 200, "{enabled:?}");
    assert_eq!(enabled.json()["disabled"], false);
    let mut alice = t.login("alice").await.expect("login after enable");
    alice.ping().await.expect("ping");

    let missing = admin
        .post("/admin/v1/accounts/nobody/disable", serde_json::json!({}))
        .await;
    assert_eq!(missing.status, 404, "{missing:?}");
    t.stop().await;
}
