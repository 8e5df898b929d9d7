//! End-to-end with slixmpp (PyPI): each test starts a fresh in-process server (TLS required)
//! and runs one script of `e2e/slixmpp/` with the interpreter `scripts/test` installed
//! (`HESTIA_E2E_PYTHON`). A script prints PASS/FAIL per check and exits non-zero on a failure.

// Test helpers outside #[test] functions fail loudly too.
#![allow(clippy::expect_used)]

mod conversation;
mod e2e;

use std::time::Duration;

use hestia_testkit::TestServer;

/// Runs `e2e/slixmpp/<script>.py` against a server holding the accounts `users`, all friends
/// of each other (stanzas flow only between related accounts).
async fn slixmpp(script: &str, users: &[&str]) {
    run(script, users, true).await;
}

/// As [`slixmpp`], with accounts that start unrelated (the relationship scenarios).
async fn slixmpp_strangers(script: &str, users: &[&str]) {
    run(script, users, false).await;
}

async fn run(script: &str, users: &[&str], are_friends: bool) {
    let Some(python) = e2e::tool("HESTIA_E2E_PYTHON", "Python with slixmpp") else {
        return;
    };
    let t = TestServer::start().await.expect("server");
    for u in users {
        t.add_user(u).await.expect("user");
    }
    for (i, a) in users.iter().enumerate() {
        for b in users.iter().skip(i + 1).filter(|_| are_friends) {
            t.befriend(a, b).await.expect("friends");
        }
    }
    let path = e2e::repo_root().join(format!("e2e/slixmpp/{script}.py"));
    let extra = [("PYTHONDONTWRITEBYTECODE", "1".to_owned())];
    e2e::run_client(
        &t,
        &python,
        &[path.display().to_string()],
        &extra,
        Duration::from_secs(300),
    )
    .await;
    t.stop().await;
}

#[tokio::test]
async fn in_band_registration_then_login() {
    slixmpp("register_then_login", &[]).await;
}

#[tokio::test]
async fn duplicate_registration_is_a_conflict() {
    slixmpp("register_conflict", &["slix_taken"]).await;
}

#[tokio::test]
async fn login_with_each_mechanism() {
    slixmpp("login_mechanisms", &["slix_mechs"]).await;
}

#[tokio::test]
async fn wrong_password_is_not_authorized() {
    slixmpp("wrong_password", &["slix_victim"]).await;
}

#[tokio::test]
async fn two_connections_of_one_user_are_addressable() {
    slixmpp("two_connections", &["slix_multi", "slix_peer"]).await;
}

#[tokio::test]
async fn message_and_iq_round_trips_and_server_ping() {
    slixmpp("message_and_iq", &["slix_alice", "slix_bob"]).await;
}

#[tokio::test]
async fn a_file_through_the_bytestream_proxy() {
    slixmpp("bytestreams_proxy", &["slix_alice", "slix_bob"]).await;
}

#[tokio::test]
async fn password_change() {
    slixmpp("change_password", &["slix_changer"]).await;
}

#[tokio::test]
async fn cancel_registration_then_login_fails() {
    slixmpp("cancel_registration", &["slix_leaver"]).await;
}

#[tokio::test]
async fn malformed_xml_closes_only_that_stream() {
    slixmpp("malformed_xml", &["slix_sloppy", "slix_steady"]).await;
}

#[tokio::test]
async fn oversize_stanza_is_a_policy_violation() {
    slixmpp(
        "oversize_stanza",
        &["slix_big", "slix_target", "slix_marker"],
    )
    .await;
}

#[tokio::test]
async fn stanza_before_authentication_is_not_authorized() {
    slixmpp("pre_auth_stanza", &[]).await;
}

#[tokio::test]
async fn forged_from_never_reaches_the_receiver() {
    slixmpp(
        "forged_from",
        &["slix_mallory", "slix_receiver", "slix_carol"],
    )
    .await;
}

#[tokio::test]
async fn two_hundred_concurrent_logins() {
    slixmpp("concurrent_logins", &[]).await;
}

#[tokio::test]
async fn stream_management_resumes_after_a_dropped_connection_without_loss_or_duplicates() {
    slixmpp("stream_management", &["slix_sm_alice", "slix_sm_bob"]).await;
}

#[tokio::test]
async fn roster_subscriptions_approval_denial_presence_and_probes() {
    slixmpp_strangers(
        "roster_subscriptions",
        &["slix_alice", "slix_bob", "slix_carol", "slix_dave"],
    )
    .await;
}

/// The README's walk-through, as a newcomer runs it: `examples/slixmpp_newcomer.py` registers
/// alice in-band, the admin API adds lamp-1 with the code printed on it, and
/// `examples/slixmpp_bind_lamp.py` binds the lamp by that code and sees it online.
#[tokio::test]
async fn readme_walkthrough_examples_register_alice_and_bind_the_lamp() {
    let Some(python) = e2e::tool("HESTIA_E2E_PYTHON", "Python with slixmpp") else {
        return;
    };
    let t = TestServer::start().await.expect("server");
    let ca = t
        .server
        .ca_file
        .as_ref()
        .expect("generated CA")
        .display()
        .to_string();
    let port = t.c2s_addr().port().to_string();
    let example = |name: &str| {
        let path = e2e::repo_root().join(format!("examples/{name}.py"));
        vec![path.display().to_string(), ca.clone(), port.clone()]
    };
    let limit = Duration::from_secs(60);
    e2e::run_client(&t, &python, &example("slixmpp_newcomer"), &[], limit).await;
    let created = conversation::Admin::of(&t)
        .post(
            "/admin/v1/devices",
            serde_json::json!({
                "id": "lamp-1", "password": "lamp-secret-1", "type": "lamp", "model": "L1",
                "manufacturer": "Acme", "serial": "SN-0001", "verification_code": "493817",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    e2e::run_client(&t, &python, &example("slixmpp_bind_lamp"), &[], limit).await;
    let lamp = t.server.irsp.store.roster("lamp-1").await.expect("store").1;
    assert!(
        lamp.iter().any(|i| i.contact == "alice"
            && i.relation == Some(hestia_store::RelationKind::Owner)
            && i.subscription == hestia_store::Subscription::Both),
        "{lamp:?}"
    );
    t.stop().await;
}
