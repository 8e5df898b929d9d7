//! Forced logout (14543-5-8 §12): when the IRSP ends a session itself it first tells the client
//! why, in a transient `<logout reason/>` push, then closes the stream with the matching error:
//! account deleted or disabled (`not-authorized`), ended by an operator (`policy-violation`).
//! (A device replaced by its own new login: `login_connection_id`.)

#![allow(clippy::expect_used)]

mod conversation;

use conversation::*;
use hestia_proto::StreamError;
use hestia_testkit::TestServer;

#[tokio::test]
async fn each_forced_logout_names_its_reason_before_the_stream_error() {
    let t = TestServer::start().await.expect("server");
    for u in ["deleted", "disabled", "ended"] {
        t.add_user(u).await.expect("user");
    }
    let admin = Admin::of(&t);
    let mut deleted = t.login("deleted").await.expect("login");
    let mut disabled = t.login("disabled").await.expect("login");
    let mut ended = t.login("ended").await.expect("login");

    assert_eq!(admin.delete("/admin/v1/accounts/deleted").await.status, 200);
    assert_forced_out(&mut deleted, "account-deleted", StreamError::NotAuthorized).await;

    let reply = admin
        .post("/admin/v1/accounts/disabled/disable", serde_json::json!({}))
        .await;
    assert!(reply.status < 300, "{reply:?}");
    assert_forced_out(
        &mut disabled,
        "account-disabled",
        StreamError::NotAuthorized,
    )
    .await;

    let path = format!(
        "/admin/v1/sessions/{}",
        ended.jid().to_string().replace('/', "%2F")
    );
    let reply = admin.delete(&path).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_forced_out(
        &mut ended,
        "ended-by-operator",
        StreamError::PolicyViolation,
    )
    .await;
    t.stop().await;
}
