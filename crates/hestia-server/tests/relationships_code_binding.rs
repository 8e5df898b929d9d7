//! Establishment without approval (14543-5-8 §10, Fig. 5): a user binds a device by its
//! verification code. The first becomes the owner at once, both rosters show it, and the user
//! sees the device online; wrong codes are counted per device and per requester and lock out
//! with back-off; the device policy decides whether a later code holder is admitted.

// Test helpers outside #[test] functions fail loudly too.
#![allow(clippy::expect_used)]

mod relations;

use hestia_proto::igrs::RelationRefusal;
use hestia_testkit::TestServer;
use relations::*;

#[tokio::test]
async fn alice_binds_her_lamp_by_its_code_and_sees_it_online() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    let (mut lamp, _) = online(&t, "lamp-1").await;
    let (mut alice, _) = online(&t, "alice").await;
    let lamp_jid = jid(&t, "lamp-1");
    let alice_jid = jid(&t, "alice");

    let result = relate_by_code(&t, &mut alice, &lamp_jid, "123456")
        .await
        .expect("code accepted");
    let relate = result.children().next().expect("relate payload").clone();
    assert_eq!(relate.attr("kind"), Some("owner"));
    assert_eq!(relate.attr("right"), Some("owner"));

    // Both rosters show the relationship: pushed to the connections, and on a fresh get.
    let push = expect(&mut alice, "alice's roster push", |e| {
        is_roster_push(e, &lamp_jid)
    })
    .await;
    assert_eq!(
        item_state(pushed_item(&push, &lamp_jid)),
        (
            "both".into(),
            None,
            Some("owner".into()),
            Some("owner".into())
        )
    );
    let push = expect(&mut lamp, "lamp's roster push", |e| {
        is_roster_push(e, &alice_jid)
    })
    .await;
    assert_eq!(
        pushed_item(&push, &alice_jid).attr("subscription"),
        Some("both")
    );
    let roster_now = roster(&mut alice, None).await.expect("roster");
    let lamp_item = item(&roster_now, &lamp_jid).expect("lamp in alice's roster");
    assert_eq!(item_state(lamp_item).2.as_deref(), Some("owner"));

    // Alice sees the lamp online, with its IGRS type stamped by the server.
    let seen = expect(&mut alice, "lamp's presence", |e| {
        is_presence(e, &lamp_jid, None)
    })
    .await;
    let device = seen
        .get_child("device", hestia_proto::igrs::NS_DEVICE)
        .expect("device type in presence");
    assert_eq!(device.attr("type"), Some("lamp"));

    // The owner's rights list says so.
    let (policy, grants) = rights(&t, &mut alice, &lamp_jid).await.expect("rights");
    assert_eq!(policy, "code");
    assert_eq!(grants, vec![(alice_jid.clone(), "owner".to_owned())]);

    // And the lamp now takes Alice's commands.
    alice
        .send(&request(
            "set",
            &format!("{lamp_jid}/{}", lamp.jid().resource().unwrap_or_default()),
        ))
        .await
        .expect("send");
    let command = expect(&mut lamp, "alice's command", |e| e.name() == "iq").await;
    assert_eq!(command.attr("type"), Some("set"));
    t.stop().await;
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_an_unknown_device_looks_the_same() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    let (mut alice, _) = online(&t, "alice").await;
    let wrong = relate_by_code(&t, &mut alice, &jid(&t, "lamp-1"), "999999").await;
    assert_eq!(refusal(wrong), RelationRefusal::WrongCode);
    let unknown = relate_by_code(&t, &mut alice, &jid(&t, "no-such-lamp"), "123456").await;
    assert_eq!(refusal(unknown), RelationRefusal::WrongCode);
    let roster_now = roster(&mut alice, None).await.expect("roster");
    assert_eq!(roster_now.children().count(), 0, "nothing was related");
    t.stop().await;
}

#[tokio::test]
async fn wrong_codes_lock_out_the_device_even_for_the_right_code_and_another_requester() {
    let t = TestServer::start_with(|c| {
        c.relationships.code_failures_before_lockout = 3;
    })
    .await
    .expect("server");
    for name in ["mallory", "alice"] {
        t.add_user(name).await.expect("user");
    }
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    let lamp = jid(&t, "lamp-1");
    let (mut mallory, _) = online(&t, "mallory").await;
    for guess in ["000001", "000002", "000003"] {
        let answer = relate_by_code(&t, &mut mallory, &lamp, guess).await;
        assert_eq!(refusal(answer), RelationRefusal::WrongCode);
    }
    // Mallory is locked out, even with the right code.
    let answer = relate_by_code(&t, &mut mallory, &lamp, "123456").await;
    assert_eq!(refusal(answer), RelationRefusal::CodeLockedOut);
    // So is the device, for everyone, until the back-off passes.
    let (mut alice, _) = online(&t, "alice").await;
    let answer = relate_by_code(&t, &mut alice, &lamp, "123456").await;
    assert_eq!(refusal(answer), RelationRefusal::CodeLockedOut);
    t.stop().await;
}

#[tokio::test]
async fn a_later_code_holder_gets_control_unless_the_policy_asks_the_owner() {
    let t = TestServer::start().await.expect("server");
    for name in ["alice", "bob", "carol"] {
        t.add_user(name).await.expect("user");
    }
    t.add_device("lamp-1", "lamp").await.expect("lamp");
    let lamp = jid(&t, "lamp-1");
    let (mut alice, _) = online(&t, "alice").await;
    relate_by_code(&t, &mut alice, &lamp, "123456")
        .await
        .expect("owner");

    let (mut bob, _) = online(&t, "bob").await;
    let result = relate_by_code(&t, &mut bob, &lamp, "123456")
        .await
        .expect("bob");
    let relate = result.children().next().expect("payload").clone();
    assert_eq!(relate.attr("kind"), Some("shared"));
    assert_eq!(relate.attr("right"), Some("control"));
    // The owner hears that someone bound her lamp with its code.
    let told = expect(&mut alice, "related push", |e| is_push(e, "related")).await;
    assert_eq!(
        push_payload(&told, "related").and_then(|p| p.attr("user")),
        Some(jid(&t, "bob").as_str())
    );

    // Under `approval`, a code no longer suffices once the device has an owner.
    set_rights(&t, &mut alice, &lamp, Some("approval"), &[])
        .await
        .expect("policy");
    let (mut carol, _) = online(&t, "carol").await;
    let answer = relate_by_code(&t, &mut carol, &lamp, "123456").await;
    assert_eq!(refusal(answer), RelationRefusal::PolicyRefuses);
    // Under `closed`, nobody new gets in.
    set_rights(&t, &mut alice, &lamp, Some("closed"), &[])
        .await
        .expect("policy");
    let answer = relate_by_code(&t, &mut carol, &lamp, "123456").await;
    assert_eq!(refusal(answer), RelationRefusal::PolicyRefuses);
    t.stop().await;
}
