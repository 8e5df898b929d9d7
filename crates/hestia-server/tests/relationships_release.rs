//! Release (14543-5-8 §10, Fig. 7), transfer of ownership, verification code management
//! (§10.5) and account deletion: every one removes rights and presence subscriptions on every
//! connection of both sides, and tells the party who did not act.

// Test helpers outside #[test] functions fail loudly too.
#![allow(clippy::expect_used)]

mod relations;

use std::time::Duration;

use hestia_proto::StanzaErrorCondition;
use hestia_proto::igrs::RelationRefusal;
use hestia_store::{AccessRight, RelationKind};
use hestia_testkit::TestServer;
use relations::*;

/// Alice owns lamp-1; Bob has `control` on it.
async fn shared_lamp() -> TestServer {
    let t = TestServer::start().await.expect("server");
    for name in ["alice", "bob"] {
        t.add_user(name).await.expect("user");
    }
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    t.own("alice", "lamp-1").await.expect("own");
    t.relate(
        "bob",
        "lamp-1",
        RelationKind::Shared,
        Some(AccessRight::Control),
    )
    .await
    .expect("share");
    t
}

#[tokio::test]
async fn alice_releases_bob_from_the_lamp_on_every_connection_of_both_sides() {
    let t = shared_lamp().await;
    let (lamp, bob_jid) = (jid(&t, "lamp-1"), jid(&t, "bob"));
    let (mut lamp_conn, _) = online(&t, "lamp-1").await;
    let (mut alice, _) = online(&t, "alice").await;
    let (mut bob_phone, got) = online(&t, "bob").await;
    assert!(
        got.iter().any(|e| is_presence(e, &lamp, None)),
        "probe answered at login: {got:?}"
    );
    let (mut bob_laptop, _) = online(&t, "bob").await;

    relation_iq(
        &t,
        &mut alice,
        "release",
        &[("device", &lamp), ("user", &bob_jid)],
    )
    .await
    .expect("released");
    for bob in [&mut bob_phone, &mut bob_laptop] {
        expect(bob, "removal push", |e| {
            is_roster_push(e, &lamp) && pushed_item(e, &lamp).attr("subscription") == Some("remove")
        })
        .await;
        expect(bob, "the lamp looks gone", |e| {
            is_presence(e, &lamp, Some("unavailable"))
        })
        .await;
        expect(bob, "told by push", |e| is_push(e, "released")).await;
    }
    expect(&mut lamp_conn, "lamp's removal push", |e| {
        is_roster_push(e, &bob_jid)
            && pushed_item(e, &bob_jid).attr("subscription") == Some("remove")
    })
    .await;
    // Bob's rights are gone: his command now gets what a missing address gets.
    let answer = bob_phone
        .iq(request("set", &lamp_conn.jid().to_string()))
        .await;
    assert_eq!(condition(answer), StanzaErrorCondition::ServiceUnavailable);
    let (_, grants) = rights(&t, &mut alice, &lamp).await.expect("rights");
    assert_eq!(grants, vec![(jid(&t, "alice"), "owner".to_owned())]);
    t.stop().await;
}

#[tokio::test]
async fn a_release_while_the_other_side_is_offline_reaches_it_at_login() {
    let t = shared_lamp().await;
    let lamp = jid(&t, "lamp-1");
    let (mut bob, _) = online(&t, "bob").await;
    roster_remove(&mut bob, &lamp).await.expect("bob leaves");
    expect(&mut bob, "removal push", |e| is_roster_push(e, &lamp)).await;
    // The lamp was offline; at its next login its roster no longer holds Bob.
    let (mut lamp_conn, _) = online(&t, "lamp-1").await;
    let now = roster(&mut lamp_conn, None).await.expect("roster");
    assert!(item(&now, &jid(&t, "bob")).is_none());
    assert!(item(&now, &jid(&t, "alice")).is_some());
    let rights_now = t
        .server
        .irsp
        .store
        .device_access("lamp-1")
        .await
        .expect("acl")
        .expect("device");
    assert_eq!(
        rights_now.grants,
        vec![("alice".to_owned(), AccessRight::Owner)]
    );
    t.stop().await;
}

#[tokio::test]
async fn nobody_but_the_owner_removes_the_owner_and_transfer_hands_it_over() {
    let t = shared_lamp().await;
    t.add_user("erin").await.expect("erin");
    t.relate(
        "erin",
        "lamp-1",
        RelationKind::Shared,
        Some(AccessRight::Admin),
    )
    .await
    .expect("admin");
    let (lamp, alice_jid, bob_jid) = (jid(&t, "lamp-1"), jid(&t, "alice"), jid(&t, "bob"));
    let (mut erin, _) = online(&t, "erin").await;
    let (mut alice, _) = online(&t, "alice").await;
    let answer = relation_iq(
        &t,
        &mut erin,
        "release",
        &[("device", &lamp), ("user", &alice_jid)],
    )
    .await;
    assert_eq!(refusal(answer), RelationRefusal::OwnerProtected);
    let answer = set_rights(&t, &mut erin, &lamp, None, &[(&alice_jid, "view")]).await;
    assert_eq!(refusal(answer), RelationRefusal::OwnerProtected);
    let answer = set_rights(&t, &mut erin, &lamp, None, &[(&bob_jid, "admin")]).await;
    assert_eq!(refusal(answer), RelationRefusal::InsufficientRight);
    set_rights(&t, &mut erin, &lamp, None, &[(&bob_jid, "view")])
        .await
        .expect("admin lowers bob");
    let answer = relation_iq(
        &t,
        &mut erin,
        "transfer",
        &[("device", &lamp), ("to", &bob_jid)],
    )
    .await;
    assert_eq!(refusal(answer), RelationRefusal::InsufficientRight);

    relation_iq(
        &t,
        &mut alice,
        "transfer",
        &[("device", &lamp), ("to", &bob_jid)],
    )
    .await
    .expect("transferred");
    let (_, grants) = rights(&t, &mut alice, &lamp).await.expect("rights");
    assert!(
        grants.contains(&(bob_jid.clone(), "owner".into())),
        "{grants:?}"
    );
    assert!(
        grants.contains(&(alice_jid.clone(), "admin".into())),
        "{grants:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn rights_changes_are_pushed_and_stored_for_an_offline_user() {
    let t = shared_lamp().await;
    let (lamp, bob_jid) = (jid(&t, "lamp-1"), jid(&t, "bob"));
    let (mut alice, _) = online(&t, "alice").await;
    set_rights(&t, &mut alice, &lamp, None, &[(&bob_jid, "view")])
        .await
        .expect("lower");
    let (_bob, got) = online(&t, "bob").await;
    let change = got
        .iter()
        .find_map(|e| push_payload(e, "rights-changed"))
        .unwrap_or_else(|| panic!("stored rights change, got {got:?}"));
    assert_eq!(change.attr("right"), Some("view"));
    let missing = set_rights(
        &t,
        &mut alice,
        &lamp,
        None,
        &[(&jid(&t, "stranger"), "view")],
    )
    .await;
    assert_eq!(refusal(missing), RelationRefusal::NotRelated);
    t.stop().await;
}

#[tokio::test]
async fn the_owner_resets_the_code_and_the_lamp_is_told() {
    let t = shared_lamp().await;
    t.add_user("carol").await.expect("carol");
    let lamp = jid(&t, "lamp-1");
    let (mut lamp_conn, _) = online(&t, "lamp-1").await;
    let (mut alice, _) = online(&t, "alice").await;
    let (mut bob, _) = online(&t, "bob").await;
    let by_bob = reset_code(&t, &mut bob, Some(&lamp), None, false).await;
    assert_eq!(refusal(by_bob), RelationRefusal::InsufficientRight);

    let result = reset_code(&t, &mut alice, Some(&lamp), None, false)
        .await
        .expect("reset");
    let new_code = result
        .children()
        .next()
        .and_then(|r| r.children().next())
        .map(hestia_xml::Element::text)
        .expect("generated code returned");
    assert_eq!(new_code.len(), 8);
    expect(&mut lamp_conn, "code-reset push", |e| {
        is_push(e, "code-reset")
    })
    .await;
    // The old code is void, the new one works.
    let (mut carol, _) = online(&t, "carol").await;
    let old = relate_by_code(&t, &mut carol, &lamp, "123456").await;
    assert_eq!(refusal(old), RelationRefusal::WrongCode);
    relate_by_code(&t, &mut carol, &lamp, &new_code)
        .await
        .expect("new code");
    // A code under the length policy is refused.
    let short = reset_code(&t, &mut alice, Some(&lamp), Some("12"), false).await;
    assert_eq!(refusal(short), RelationRefusal::BadRequest);
    t.stop().await;
}

#[tokio::test]
async fn a_factory_reset_releases_everything_and_tells_the_former_owner() {
    let t = shared_lamp().await;
    let lamp = jid(&t, "lamp-1");
    let (mut alice, _) = online(&t, "alice").await;
    let (mut lamp_conn, _) = online(&t, "lamp-1").await;
    reset_code(&t, &mut lamp_conn, None, Some("654321"), true)
        .await
        .expect("factory reset");
    let removal = |e: &hestia_xml::Element| {
        is_roster_push(e, &lamp) && pushed_item(e, &lamp).attr("subscription") == Some("remove")
    };
    expect_each(
        &mut alice,
        &[
            ("code-reset push", &|e| is_push(e, "code-reset")),
            ("released push", &|e| is_push(e, "released")),
            ("removal", &removal),
        ],
    )
    .await;
    let acl = t
        .server
        .irsp
        .store
        .device_access("lamp-1")
        .await
        .expect("acl")
        .expect("device");
    assert!(acl.grants.is_empty(), "{:?}", acl.grants);
    // Bob, offline, learns it at his next login.
    let (_bob, got) = online(&t, "bob").await;
    assert!(got.iter().any(|e| is_push(e, "released")), "{got:?}");
    // The new code makes a new owner.
    let result = relate_by_code(&t, &mut alice, &lamp, "654321")
        .await
        .expect("rebind");
    assert_eq!(
        result.children().next().and_then(|r| r.attr("right")),
        Some("owner")
    );
    t.stop().await;
}

#[tokio::test]
async fn deleting_an_account_removes_it_from_every_roster_and_rights_table() {
    let t = shared_lamp().await;
    let (lamp, bob_jid) = (jid(&t, "lamp-1"), jid(&t, "bob"));
    t.befriend("alice", "bob").await.expect("friends");
    let (mut alice, _) = online(&t, "alice").await;
    let (mut lamp_conn, _) = online(&t, "lamp-1").await;
    let (_bob, _) = online(&t, "bob").await;
    drain(&mut alice, Duration::from_millis(300)).await;
    hestia_features::registration::accounts::delete_account(&t.server.irsp, "bob")
        .await
        .expect("deleted");
    expect(&mut alice, "bob goes offline", |e| {
        is_presence(e, &bob_jid, Some("unavailable"))
    })
    .await;
    expect(&mut alice, "bob leaves alice's roster", |e| {
        is_roster_push(e, &bob_jid)
            && pushed_item(e, &bob_jid).attr("subscription") == Some("remove")
    })
    .await;
    expect(&mut lamp_conn, "bob leaves the lamp's roster", |e| {
        is_roster_push(e, &bob_jid)
    })
    .await;
    assert!(
        t.server
            .irsp
            .store
            .rosters_containing("bob")
            .await
            .expect("rosters")
            .is_empty()
    );
    let (_, grants) = rights(&t, &mut alice, &lamp).await.expect("rights");
    assert_eq!(grants.len(), 1);
    t.stop().await;
}
