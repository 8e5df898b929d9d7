//! GET /admin/v1/sessions lists live sessions; DELETE /admin/v1/sessions/{full jid} ends exactly
//! that one (the client sees a stream error) and an unknown session is 404.

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;
use serde_json::Value;

fn session_jids(listing: &Value) -> Vec<String> {
    let mut jids: Vec<String> = listing["sessions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["jid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    jids.sort();
    jids
}

/// A full JID as one URL path segment.
fn segment(jid: &str) -> String {
    jid.replace('%', "%25")
        .replace('/', "%2F")
        .replace('@', "%40")
}

#[tokio::test]
async fn sessions_are_listed_and_ended() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut phone = t.login_available("alice").await.expect("phone");
    let mut laptop = t.login("alice").await.expect("laptop");
    let phone_jid = phone.jid().to_string();
    let laptop_jid = laptop.jid().to_string();
    let admin = Admin::of(&t);

    let listed = admin.get("/admin/v1/sessions").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let mut want = vec![phone_jid.clone(), laptop_jid.clone()];
    want.sort();
    assert_eq!(session_jids(&listed.json()), want);
    let phone_row = listed.json()["sessions"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["jid"] == phone_jid.as_str()).cloned())
        .expect("phone row");
    assert_eq!(phone_row["kind"], "user");
    assert_eq!(phone_row["available"], true);
    assert_eq!(phone_row["tls"], true);

    let ended = admin
        .delete(&format!("/admin/v1/sessions/{}", segment(&laptop_jid)))
        .await;
    assert_eq!(ended.status, 200, "{ended:?}");
    assert_eq!(ended.json()["ended"], 1);
    assert_eq!(stream_end(&mut laptop).await, Some("policy-violation"));
    assert_quiet(&mut phone).await;

    // The directory forgets the session once its task has ended.
    let mut remaining = Vec::new();
    for _ in 0..50 {
        remaining = session_jids(&admin.get("/admin/v1/sessions").await.json());
        if remaining.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(remaining, vec![phone_jid]);

    let unknown = admin
        .delete(&format!(
            "/admin/v1/sessions/{}",
            segment(&format!("alice@{}/nope", t.domain()))
        ))
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    t.stop().await;
}
