//! Establishment needing approval (14543-5-8 §10, Fig. 4) and the IRSP's rules for acceptance
//! responses (Table 2): a request for a device reaches its owner on every connection (or at the
//! next login); the owner approves with a right or rejects; answers without a pending request,
//! duplicate and expired requests, and requests to deleted accounts each have one outcome.
//! The rights granted are enforced on every stanza: an unrelated entity gets exactly what a
//! non-existent address gets.

// Test helpers outside #[test] functions fail loudly too.
#![allow(clippy::expect_used)]

mod relations;

use std::time::Duration;

use hestia_proto::StanzaErrorCondition;
use hestia_proto::igrs::RelationRefusal;
use hestia_testkit::TestServer;
use relations::*;

/// Alice owns lamp-1 (bound by code); returns the server.
async fn alice_owns_a_lamp(extra_users: &[&str]) -> TestServer {
    let t = TestServer::start_with(|c| {
        c.relationships.request_ttl = hestia_config::Duration::secs(3600);
    })
    .await
    .expect("server");
    t.add_user("alice").await.expect("alice");
    for name in extra_users {
        t.add_user(name).await.expect("user");
    }
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    t.own("alice", "lamp-1").await.expect("own");
    t
}

#[tokio::test]
async fn bob_asks_alice_approves_with_control_and_bob_can_switch_but_not_administer() {
    let t = alice_owns_a_lamp(&["bob"]).await;
    let lamp = jid(&t, "lamp-1");
    let bob_jid = jid(&t, "bob");
    let (mut phone, _) = online(&t, "alice").await;
    let (mut laptop, _) = online(&t, "alice").await;
    let (mut lamp_conn, _) = online(&t, "lamp-1").await;
    let (mut bob, _) = online(&t, "bob").await;

    bob.send(&subscribe_for(&lamp, "control"))
        .await
        .expect("ask");
    // Bob's roster shows the request pending.
    let push = expect(&mut bob, "bob's pending item", |e| is_roster_push(e, &lamp)).await;
    assert_eq!(pushed_item(&push, &lamp).attr("ask"), Some("subscribe"));
    // Alice is asked on every connection she has.
    for alice in [&mut phone, &mut laptop] {
        let asked = expect(alice, "relation request", |e| {
            is_push(e, "relation-request")
        })
        .await;
        let request = push_payload(&asked, "relation-request").expect("payload");
        assert_eq!(request.attr("requester"), Some(bob_jid.as_str()));
        assert_eq!(request.attr("device"), Some(lamp.as_str()));
        assert_eq!(request.attr("right"), Some("control"));
    }

    relation_iq(
        &t,
        &mut phone,
        "approve",
        &[
            ("device", &lamp),
            ("requester", &bob_jid),
            ("right", "control"),
        ],
    )
    .await
    .expect("approved");
    let push = expect(&mut bob, "bob's item now both", |e| {
        is_roster_push(e, &lamp) && pushed_item(e, &lamp).attr("subscription") == Some("both")
    })
    .await;
    assert_eq!(
        item_state(pushed_item(&push, &lamp)),
        (
            "both".into(),
            None,
            Some("shared".into()),
            Some("control".into())
        )
    );
    expect(&mut bob, "subscribed from the lamp", |e| {
        e.name() == "presence" && e.attr("type") == Some("subscribed")
    })
    .await;
    expect(&mut bob, "the lamp's presence", |e| {
        is_presence(e, &lamp, None)
    })
    .await;
    let told = expect(&mut bob, "result push", |e| is_push(e, "relation-result")).await;
    assert_eq!(
        push_payload(&told, "relation-result").and_then(|p| p.attr("result")),
        Some("approved")
    );
    expect(&mut lamp_conn, "the device is told", |e| {
        is_roster_push(e, &bob_jid)
    })
    .await;

    // Bob switches the lamp…
    let lamp_full = lamp_conn.jid().to_string();
    bob.send(&request("set", &lamp_full)).await.expect("send");
    expect(&mut lamp_conn, "bob's command", |e| {
        e.name() == "iq" && e.attr("type") == Some("set")
    })
    .await;
    // …but cannot change its access rights.
    let answer = set_rights(&t, &mut bob, &lamp, Some("open"), &[]).await;
    assert_eq!(refusal(answer), RelationRefusal::InsufficientRight);
    let (_, grants) = rights(&t, &mut bob, &lamp).await.expect("own grant");
    assert_eq!(grants, vec![(bob_jid.clone(), "control".to_owned())]);
    t.stop().await;
}

#[tokio::test]
async fn carol_whom_nobody_approved_gets_nothing_from_the_lamp() {
    let t = alice_owns_a_lamp(&["carol"]).await;
    let lamp = jid(&t, "lamp-1");
    let (mut lamp_conn, _) = online(&t, "lamp-1").await;
    let (mut carol, _) = online(&t, "carol").await;
    let lamp_full = lamp_conn.jid().to_string();

    // Her IQs get exactly what an address with nobody behind it gets.
    let to_lamp = carol.iq(request("get", &lamp_full)).await;
    let to_nobody = carol
        .iq(request(
            "get",
            &format!("{}/nothing", jid(&t, "no-such-device")),
        ))
        .await;
    assert_eq!(condition(to_lamp), StanzaErrorCondition::ServiceUnavailable);
    assert_eq!(
        condition(to_nobody),
        StanzaErrorCondition::ServiceUnavailable
    );
    // She cannot probe its presence nor learn anything from disco.
    carol.send(&presence(&lamp, "probe")).await.expect("probe");
    let disco = hestia_xml::Element::new("iq", hestia_proto::ns::CLIENT)
        .with_attr("type", "get")
        .with_attr("to", lamp.as_str())
        .with_child(hestia_xml::Element::new(
            "query",
            hestia_proto::ns::DISCO_INFO,
        ));
    assert_eq!(
        condition(carol.iq(disco).await),
        StanzaErrorCondition::ServiceUnavailable
    );
    let heard = drain(&mut carol, Duration::from_millis(400)).await;
    assert!(
        heard
            .iter()
            .all(|e| !is_presence(e, &lamp, None) && !is_presence(e, &lamp, Some("unavailable"))),
        "carol learned the lamp's presence: {heard:?}"
    );
    // Nothing reached the lamp.
    let lamp_heard = drain(&mut lamp_conn, Duration::from_millis(300)).await;
    assert!(
        lamp_heard.iter().all(|e| e.name() != "iq"),
        "{lamp_heard:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_view_user_may_read_but_a_set_is_refused_like_a_missing_address() {
    let t = alice_owns_a_lamp(&["dan"]).await;
    t.relate(
        "dan",
        "lamp-1",
        hestia_store::RelationKind::Shared,
        Some(hestia_store::AccessRight::View),
    )
    .await
    .expect("view");
    let (mut lamp_conn, _) = online(&t, "lamp-1").await;
    let (mut dan, _) = online(&t, "dan").await;
    let lamp_full = lamp_conn.jid().to_string();
    let answer = dan.iq(request("set", &lamp_full)).await;
    assert_eq!(condition(answer), StanzaErrorCondition::ServiceUnavailable);
    dan.send(&request("get", &lamp_full)).await.expect("get");
    let got = expect(&mut lamp_conn, "dan's read", |e| e.name() == "iq").await;
    assert_eq!(
        got.attr("type"),
        Some("get"),
        "the set never reached the lamp"
    );
    t.stop().await;
}

#[tokio::test]
async fn an_offline_owner_is_asked_at_her_next_login() {
    let t = alice_owns_a_lamp(&["bob"]).await;
    let lamp = jid(&t, "lamp-1");
    let (mut bob, _) = online(&t, "bob").await;
    bob.send(&subscribe_for(&lamp, "view")).await.expect("ask");
    expect(&mut bob, "pending", |e| is_roster_push(e, &lamp)).await;
    let (_alice, got) = online(&t, "alice").await;
    assert!(
        got.iter().any(|e| is_push(e, "relation-request")
            && e.get_child("delay", hestia_proto::ns::DELAY).is_some()),
        "stored request with a delay stamp, got {got:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn rejection_tells_the_requester_and_leaks_no_presence() {
    let t = alice_owns_a_lamp(&["bob"]).await;
    let lamp = jid(&t, "lamp-1");
    let bob_jid = jid(&t, "bob");
    let (_lamp_conn, _) = online(&t, "lamp-1").await;
    let (mut alice, _) = online(&t, "alice").await;
    let (mut bob, _) = online(&t, "bob").await;
    bob.send(&subscribe_for(&lamp, "view")).await.expect("ask");
    expect(&mut alice, "request", |e| is_push(e, "relation-request")).await;
    relation_iq(
        &t,
        &mut alice,
        "reject",
        &[("device", &lamp), ("requester", &bob_jid)],
    )
    .await
    .expect("rejected");
    let got = drain(&mut bob, Duration::from_millis(500)).await;
    assert!(
        got.iter()
            .any(|e| e.name() == "presence" && e.attr("type") == Some("unsubscribed"))
    );
    assert!(got.iter().any(
        |e| push_payload(e, "relation-result").and_then(|p| p.attr("result")) == Some("rejected")
    ));
    assert!(
        !got.iter().any(|e| is_presence(e, &lamp, None)),
        "no presence leak: {got:?}"
    );
    let roster_now = roster(&mut bob, None).await.expect("roster");
    let left = item(&roster_now, &lamp).map(item_state);
    assert!(
        left.as_ref().is_none_or(|s| s.0 == "none" && s.1.is_none()),
        "{left:?}"
    );
    // Table 2: an answer with no pending request is ignored (and said so to the IQ).
    let again = relation_iq(
        &t,
        &mut alice,
        "approve",
        &[("device", &lamp), ("requester", &bob_jid)],
    )
    .await;
    assert_eq!(refusal(again), RelationRefusal::NoPendingRequest);
    t.stop().await;
}

#[tokio::test]
async fn a_duplicate_request_leaves_one_pending_item_and_one_question() {
    let t = alice_owns_a_lamp(&["bob"]).await;
    let lamp = jid(&t, "lamp-1");
    let (mut alice, _) = online(&t, "alice").await;
    let (mut bob, _) = online(&t, "bob").await;
    bob.send(&subscribe_for(&lamp, "view")).await.expect("ask");
    bob.send(&subscribe_for(&lamp, "view"))
        .await
        .expect("ask again");
    let got = drain(&mut alice, Duration::from_millis(600)).await;
    let questions = got
        .iter()
        .filter(|e| is_push(e, "relation-request"))
        .count();
    assert_eq!(questions, 1, "{got:?}");
    let pending = t
        .server
        .irsp
        .store
        .roster("lamp-1")
        .await
        .expect("roster")
        .1;
    assert_eq!(pending.iter().filter(|i| i.pending_in.is_some()).count(), 1);
    t.stop().await;
}

#[tokio::test]
async fn only_the_owner_or_an_admin_answers_and_an_admin_cannot_grant_admin() {
    let t = alice_owns_a_lamp(&["bob", "erin", "frank"]).await;
    t.relate(
        "erin",
        "lamp-1",
        hestia_store::RelationKind::Shared,
        Some(hestia_store::AccessRight::Admin),
    )
    .await
    .expect("erin admin");
    t.relate(
        "frank",
        "lamp-1",
        hestia_store::RelationKind::Shared,
        Some(hestia_store::AccessRight::Control),
    )
    .await
    .expect("frank control");
    let lamp = jid(&t, "lamp-1");
    let bob_jid = jid(&t, "bob");
    let (mut bob, _) = online(&t, "bob").await;
    let (mut erin, _) = online(&t, "erin").await;
    let (mut frank, _) = online(&t, "frank").await;
    bob.send(&subscribe_for(&lamp, "admin")).await.expect("ask");
    expect(&mut erin, "admins are asked too", |e| {
        is_push(e, "relation-request")
    })
    .await;

    let by_control = relation_iq(
        &t,
        &mut frank,
        "approve",
        &[("device", &lamp), ("requester", &bob_jid)],
    )
    .await;
    assert_eq!(refusal(by_control), RelationRefusal::InsufficientRight);
    let admin_grants_admin = relation_iq(
        &t,
        &mut erin,
        "approve",
        &[
            ("device", &lamp),
            ("requester", &bob_jid),
            ("right", "admin"),
        ],
    )
    .await;
    assert_eq!(
        refusal(admin_grants_admin),
        RelationRefusal::InsufficientRight
    );
    let owner_right = relation_iq(
        &t,
        &mut erin,
        "approve",
        &[
            ("device", &lamp),
            ("requester", &bob_jid),
            ("right", "owner"),
        ],
    )
    .await;
    assert_eq!(refusal(owner_right), RelationRefusal::OwnerProtected);
    relation_iq(
        &t,
        &mut erin,
        "approve",
        &[
            ("device", &lamp),
            ("requester", &bob_jid),
            ("right", "view"),
        ],
    )
    .await
    .expect("an admin grants view");
    t.stop().await;
}

#[tokio::test]
async fn an_expired_request_and_a_deleted_requester_are_dropped() {
    let t = TestServer::start_with(|c| {
        c.relationships.request_ttl = hestia_config::Duration::secs(1);
    })
    .await
    .expect("server");
    for name in ["alice", "bob", "gone"] {
        t.add_user(name).await.expect("user");
    }
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    t.own("alice", "lamp-1").await.expect("own");
    let lamp = jid(&t, "lamp-1");
    let (mut alice, _) = online(&t, "alice").await;
    let (mut bob, _) = online(&t, "bob").await;
    bob.send(&subscribe_for(&lamp, "view")).await.expect("ask");
    expect(&mut alice, "request", |e| is_push(e, "relation-request")).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = relation_iq(
        &t,
        &mut alice,
        "approve",
        &[("device", &lamp), ("requester", &jid(&t, "bob"))],
    )
    .await;
    assert_eq!(refusal(late), RelationRefusal::NoPendingRequest);

    let (mut gone, _) = online(&t, "gone").await;
    gone.send(&subscribe_for(&lamp, "view")).await.expect("ask");
    expect(&mut alice, "request", |e| is_push(e, "relation-request")).await;
    hestia_features::registration::accounts::delete_account(&t.server.irsp, "gone")
        .await
        .expect("deleted");
    let answer = relation_iq(
        &t,
        &mut alice,
        "approve",
        &[("device", &lamp), ("requester", &jid(&t, "gone"))],
    )
    .await;
    assert_eq!(refusal(answer), RelationRefusal::NoPendingRequest);
    t.stop().await;
}

#[tokio::test]
async fn a_request_to_a_deleted_or_unknown_account_looks_unanswered() {
    let t = TestServer::start().await.expect("server");
    t.add_user("bob").await.expect("bob");
    t.add_user("temp").await.expect("temp");
    hestia_features::registration::accounts::delete_account(&t.server.irsp, "temp")
        .await
        .expect("deleted");
    let (mut bob, _) = online(&t, "bob").await;
    for target in ["temp", "never-existed"] {
        let to = jid(&t, target);
        bob.send(&presence(&to, "subscribe")).await.expect("ask");
        let push = expect(&mut bob, "pending item", |e| is_roster_push(e, &to)).await;
        assert_eq!(pushed_item(&push, &to).attr("ask"), Some("subscribe"));
    }
    let got = drain(&mut bob, Duration::from_millis(400)).await;
    assert!(
        got.iter().all(
            |e| e.name() != "presence" || e.attr("from").is_some_and(|f| f.starts_with("bob@"))
        ),
        "{got:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn an_open_device_admits_a_user_with_view_at_once() {
    let t = alice_owns_a_lamp(&["bob"]).await;
    let lamp = jid(&t, "lamp-1");
    let (mut alice, _) = online(&t, "alice").await;
    set_rights(&t, &mut alice, &lamp, Some("open"), &[])
        .await
        .expect("open");
    let (mut bob, _) = online(&t, "bob").await;
    bob.send(&subscribe_for(&lamp, "control"))
        .await
        .expect("ask");
    let push = expect(&mut bob, "related at once", |e| {
        is_roster_push(e, &lamp) && pushed_item(e, &lamp).attr("subscription") == Some("both")
    })
    .await;
    assert_eq!(
        item_state(pushed_item(&push, &lamp)).3.as_deref(),
        Some("view")
    );
    t.stop().await;
}
