//! XEP-0198 stream management: `<sm/>` offered after authentication, `<enable/>` only once and
//! only after bind, `<r/>`/`<a/>` counting both ways, an impossible `h` as a stream error, and
//! resumption — a dropped session hibernates (still routable, contacts see nothing), a new stream
//! of the same account resumes it and gets what it missed exactly once, a half-alive old
//! connection is taken over, wrong ids and other accounts fail. A session that ends for good
//! returns what it never acknowledged: messages to offline storage (then `unavailable` is
//! broadcast), IQ requests bounced `recipient-unavailable`.

#![allow(clippy::expect_used)]

mod conversation;

use std::time::Duration;

use conversation::*;
use hestia_client::{Authenticated, Bound, ClientError, Resumption};
use hestia_proto::{StanzaErrorCondition as Cond, StreamError, ns};
use hestia_testkit::{PASSWORD, TestServer};
use hestia_xml::Element;

async fn friends() -> TestServer {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    t
}

fn enable(resume: bool, max: Option<u32>) -> Element {
    let mut el = Element::new("enable", ns::SM);
    if resume {
        el.set_attr("resume", "true");
    }
    if let Some(max) = max {
        el.set_attr("max", max.to_string());
    }
    el
}

fn ack(h: u32) -> Element {
    Element::new("a", ns::SM).with_attr("h", h.to_string())
}

fn request() -> Element {
    Element::new("r", ns::SM)
}

fn ping(id: &str) -> Element {
    iq("get", id, Some("localhost"), Element::new("ping", ns::PING))
}

fn is_stanza(el: &Element) -> bool {
    el.ns() == ns::CLIENT && matches!(el.name(), "message" | "presence" | "iq")
}

async fn authenticate(t: &TestServer, name: &str) -> Authenticated {
    t.connect()
        .await
        .expect("connect")
        .authenticate(name, PASSWORD)
        .await
        .expect("authenticate")
}

/// Logs in, enables stream management and returns the `<enabled/>` answer.
async fn sm_login(t: &TestServer, name: &str, enable_with: Element) -> (Bound, Element) {
    let mut b = t.login(name).await.expect("login");
    b.send(&enable_with).await.expect("enable");
    let enabled = b.recv().await.expect("enabled");
    assert!(enabled.is("enabled", ns::SM), "{enabled}");
    (b, enabled)
}

/// As [`sm_login`] with resumption, then initial presence (its echo is the first stanza the
/// server sends: h = 1 once it is acknowledged). Returns the resumption id.
async fn sm_available(t: &TestServer, name: &str, max: Option<u32>) -> (Bound, String) {
    let (mut b, enabled) = sm_login(t, name, enable(true, max)).await;
    let id = enabled.attr("id").expect("resumption id").to_owned();
    b.send_presence().await.expect("presence");
    let echo = b.recv().await.expect("own presence");
    assert_eq!(echo.name(), "presence", "{echo}");
    (b, id)
}

/// Everything that arrives until things go quiet for `quiet`.
async fn drain(b: &mut Bound, quiet: Duration) -> Vec<Element> {
    let mut got = Vec::new();
    while let Some(el) = b.recv_timeout(quiet).await.expect("stream") {
        got.push(el);
    }
    got
}

fn count_stanzas(els: &[Element]) -> u32 {
    u32::try_from(els.iter().filter(|e| is_stanza(e)).count()).expect("few")
}

fn bodies(els: &[Element]) -> Vec<String> {
    els.iter()
        .filter(|e| e.name() == "message")
        .filter_map(body)
        .collect()
}

async fn stored(t: &TestServer, account: &str) -> u64 {
    t.server
        .irsp
        .store
        .count_offline(account)
        .await
        .expect("store")
}

/// Drops the TCP connection without closing the stream (a phone losing its network), then
/// gives the server a moment to read the end of it.
async fn drop_connection(b: Bound) {
    drop(b);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Waits for `from`'s unavailable presence on `b`, failing on anything else but presence.
async fn expect_unavailable(b: &mut Bound, from: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let el = b
            .recv_timeout(left)
            .await
            .expect("stream")
            .unwrap_or_else(|| panic!("no unavailable from {from} within {within:?}"));
        if el.name() == "presence"
            && el.attr("type") == Some("unavailable")
            && el.attr("from") == Some(from)
        {
            return;
        }
        assert_eq!(el.name(), "presence", "unexpected {el}");
    }
}

#[tokio::test]
async fn enable_is_offered_after_authentication_and_accepted_once_after_bind() {
    let t = friends().await;
    let mut auth = authenticate(&t, "alice").await;
    assert!(
        auth.features().get_child("sm", ns::SM).is_some(),
        "{}",
        auth.features()
    );
    auth.send_raw(enable(true, None).to_xml(ns::CLIENT).as_bytes())
        .await
        .expect("send");
    let failed = auth.recv().await.expect("answer");
    assert!(failed.is("failed", ns::SM), "{failed}");
    assert!(
        failed
            .get_child("unexpected-request", ns::STANZA_ERRORS)
            .is_some(),
        "{failed}"
    );

    let mut b = auth.bind(None).await.expect("bind after a refused enable");
    b.send(&enable(true, Some(600))).await.expect("enable");
    let enabled = b.recv().await.expect("enabled");
    assert!(enabled.is("enabled", ns::SM), "{enabled}");
    assert_eq!(enabled.attr("resume"), Some("true"));
    assert_eq!(
        enabled.attr("max"),
        Some("300"),
        "capped at c2s.resume_timeout"
    );
    assert!(
        enabled.attr("id").is_some_and(|id| id.len() >= 16),
        "{enabled}"
    );

    for again in [
        enable(false, None),
        Element::new("resume", ns::SM)
            .with_attr("previd", "x")
            .with_attr("h", "0"),
    ] {
        b.send(&again).await.expect("send");
        let failed = b.recv().await.expect("answer");
        assert!(failed.is("failed", ns::SM), "{failed}");
        assert!(
            failed
                .get_child("unexpected-request", ns::STANZA_ERRORS)
                .is_some(),
            "{failed}"
        );
    }
    // Without resume='true' there is no id to resume with.
    let (_plain, enabled) = sm_login(&t, "bob", enable(false, None)).await;
    assert_eq!(enabled.attr("id"), None, "{enabled}");
    assert_eq!(enabled.attr("resume"), None, "{enabled}");
    t.stop().await;
}

#[tokio::test]
async fn handled_stanzas_are_counted_both_ways_and_acks_are_requested() {
    let t = friends().await;
    let (mut alice, _) = sm_login(&t, "alice", enable(false, None)).await;
    // `<r/>` before anything: nothing handled yet, and nonzas never count.
    alice.send(&request()).await.expect("r");
    let a = alice.recv().await.expect("a");
    assert!(a.is("a", ns::SM) && a.attr("h") == Some("0"), "{a}");

    for id in ["p1", "p2", "p3"] {
        alice.send(&ping(id)).await.expect("ping");
    }
    for id in ["p1", "p2", "p3"] {
        let result = alice.recv().await.expect("result");
        assert_eq!(result.attr("id"), Some(id), "{result}");
    }
    alice.send(&request()).await.expect("r");
    let a = alice.recv().await.expect("a");
    assert_eq!(a.attr("h"), Some("3"), "{a}");

    // Three unacknowledged results: the server asks after its short delay (2 s) …
    let r = alice.recv().await.expect("delayed r");
    assert!(r.is("r", ns::SM), "{r}");
    alice.send(&ack(3)).await.expect("a");
    assert_quiet(&mut alice).await;

    // … and at once when five are outstanding.
    for i in 0..5 {
        alice.send(&ping(&format!("q{i}"))).await.expect("ping");
    }
    let got = drain(&mut alice, QUIET).await;
    assert_eq!(got.iter().filter(|e| is_stanza(e)).count(), 5, "{got:?}");
    assert_eq!(
        got.iter().filter(|e| e.is("r", ns::SM)).count(),
        1,
        "{got:?}"
    );
    alice.send(&ack(8)).await.expect("a");
    alice.send(&request()).await.expect("r");
    let a = alice.recv().await.expect("a");
    assert_eq!(a.attr("h"), Some("8"), "{a}");
    t.stop().await;
}

#[tokio::test]
async fn an_ack_beyond_what_was_sent_is_a_stream_error() {
    let t = friends().await;
    let (mut alice, _) = sm_login(&t, "alice", enable(false, None)).await;
    alice.send(&ping("p1")).await.expect("ping");
    alice.recv().await.expect("result");
    alice.send(&ack(2)).await.expect("a");
    let end = alice.recv().await.expect_err("stream error");
    assert_eq!(
        end.stream_error(),
        Some(StreamError::UndefinedCondition),
        "{end}"
    );
    let error = alice.stream_error().expect("stream error element");
    let detail = error
        .get_child("handled-count-too-high", ns::SM)
        .unwrap_or_else(|| panic!("no handled-count-too-high: {error}"));
    assert_eq!(detail.attr("h"), Some("2"));
    assert_eq!(detail.attr("send-count"), Some("1"));
    t.stop().await;
}

#[tokio::test]
async fn a_resumed_session_gets_what_arrived_while_dropped_exactly_once() {
    let t = friends().await;
    let (mut alice, previd) = sm_available(&t, "alice", None).await;
    let alice_jid = alice.jid().clone();
    let mut bob = t.login_available("bob").await.expect("bob");
    drain(&mut bob, QUIET).await;
    // Her presence echo, then bob's presence (and perhaps an ack request, not a stanza).
    let mut h = 1 + count_stanzas(&drain(&mut alice, QUIET).await);

    bob.send(&chat(&alice_jid.to_string(), "one"))
        .await
        .expect("send");
    let one = alice.recv().await.expect("one");
    assert_eq!(body(&one).as_deref(), Some("one"));
    h += 1;
    // alice acknowledges everything up to "one" before her network goes.
    alice.send(&ack(h)).await.expect("a");
    alice.send(&request()).await.expect("r");
    let a = drain(&mut alice, QUIET).await;
    assert!(
        a.iter()
            .any(|e| e.is("a", ns::SM) && e.attr("h") == Some("1")),
        "{a:?}"
    );
    let address = |t: &TestServer| {
        t.server
            .irsp
            .directory
            .get(&alice_jid)
            .map(|s| s.info.remote_addr)
    };
    let old_address = address(&t);
    drop_connection(alice).await;

    for text in ["two", "three"] {
        bob.send(&chat(&alice_jid.to_string(), text))
            .await
            .expect("send");
    }
    // Still routable, still online for bob: no bounce, no unavailable, nothing stored.
    assert_quiet(&mut bob).await;
    assert_eq!(stored(&t, "alice").await, 0);
    assert_eq!(
        t.server
            .irsp
            .directory
            .get(&alice_jid)
            .map(|s| s.is_available()),
        Some(true)
    );

    let auth = authenticate(&t, "alice").await;
    let Resumption::Resumed {
        session: mut alice,
        answer,
    } = auth
        .resume(alice_jid.clone(), &previd, h)
        .await
        .expect("resume")
    else {
        panic!("resume failed");
    };
    assert_eq!(answer.attr("previd"), Some(previd.as_str()));
    assert_eq!(
        answer.attr("h"),
        Some("1"),
        "the server handled alice's presence: {answer}"
    );
    let new_address = address(&t);
    assert!(
        new_address.is_some() && new_address != old_address,
        "listed at its new connection"
    );
    let got = drain(&mut alice, QUIET).await;
    assert_eq!(bodies(&got), ["two", "three"], "{got:?}");
    for m in got.iter().filter(|e| e.name() == "message") {
        assert_eq!(m.attr("to"), Some(alice_jid.to_string().as_str()), "{m}");
    }

    // The session carries on under the same full JID: no new bind, nothing lost or doubled.
    bob.send(&chat(&alice_jid.to_string(), "four"))
        .await
        .expect("send");
    let got = drain(&mut alice, QUIET).await;
    assert_eq!(bodies(&got), ["four"], "{got:?}");
    alice.send(&ack(h + 3)).await.expect("a");
    alice.send(&request()).await.expect("r");
    let a = alice.recv().await.expect("a");
    assert_eq!(a.attr("h"), Some("1"), "{a}");
    assert_quiet(&mut bob).await;
    assert_eq!(stored(&t, "alice").await, 0);
    t.stop().await;
}

#[tokio::test]
async fn a_resume_takes_over_a_connection_that_is_still_half_alive() {
    let t = friends().await;
    let (mut old, previd) = sm_available(&t, "alice", None).await;
    let alice_jid = old.jid().clone();
    let mut bob = t.login_available("bob").await.expect("bob");
    drain(&mut bob, QUIET).await;

    let auth = authenticate(&t, "alice").await;
    let Resumption::Resumed {
        session: mut alice, ..
    } = auth
        .resume(alice_jid.clone(), &previd, 1)
        .await
        .expect("resume")
    else {
        panic!("resume failed");
    };
    let end = loop {
        match old.recv().await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(end.stream_error(), Some(StreamError::Conflict), "{end}");

    bob.send(&chat(&alice_jid.to_string(), "hi"))
        .await
        .expect("send");
    let got = drain(&mut alice, QUIET).await;
    assert_eq!(bodies(&got), ["hi"], "{got:?}");
    assert_quiet(&mut bob).await;
    t.stop().await;
}

#[tokio::test]
async fn resuming_an_unknown_id_or_another_accounts_session_fails() {
    let t = friends().await;
    let (_alice, previd) = sm_available(&t, "alice", None).await;
    let alice_jid = format!("alice@{}/x", t.domain());
    for (user, id) in [("bob", previd.as_str()), ("alice", "no-such-session")] {
        let auth = authenticate(&t, user).await;
        let jid = hestia_proto::Jid::parse(&alice_jid).expect("jid");
        let Resumption::Failed { stream, answer } = auth.resume(jid, id, 0).await.expect("answer")
        else {
            panic!("{user} resumed {id}");
        };
        assert!(
            answer
                .get_child("item-not-found", ns::STANZA_ERRORS)
                .is_some(),
            "{answer}"
        );
        assert_eq!(
            answer.attr("h"),
            None,
            "nothing said about an unknown session"
        );
        // The stream is still good for a fresh session.
        stream.bind(None).await.expect("bind after a failed resume");
    }
    t.stop().await;
}

#[tokio::test]
async fn a_session_not_resumed_in_time_is_logged_out_and_its_unacked_messages_stored() {
    let t = friends().await;
    // The client asks for a 1 s window (the server's is 300 s).
    let (mut alice, _) = sm_available(&t, "alice", Some(1)).await;
    let alice_jid = alice.jid().to_string();
    let mut bob = t.login_available("bob").await.expect("bob");
    drain(&mut bob, QUIET).await;
    drain(&mut alice, QUIET).await;

    bob.send(&chat(&alice_jid, "lost")).await.expect("send");
    assert_eq!(bodies(&[alice.recv().await.expect("lost")]), ["lost"]);
    drop_connection(alice).await;
    bob.send(&chat(&alice_jid, "queued")).await.expect("send");
    assert_quiet(&mut bob).await;
    assert_eq!(stored(&t, "alice").await, 0, "hibernating, not offline yet");

    expect_unavailable(&mut bob, &alice_jid, Duration::from_secs(5)).await;
    assert_eq!(stored(&t, "alice").await, 2, "both unacknowledged messages");
    assert_quiet(&mut bob).await;

    let mut again = t.login("alice").await.expect("alice again");
    again.send_presence().await.expect("presence");
    let got = drain(&mut again, QUIET).await;
    let messages: Vec<_> = got.iter().filter(|e| e.name() == "message").collect();
    assert_eq!(bodies(&got), ["lost", "queued"], "{got:?}");
    for m in messages {
        let delays = m.children().filter(|c| c.is("delay", ns::DELAY)).count();
        assert_eq!(delays, 1, "one XEP-0203 stamp: {m}");
    }
    t.stop().await;
}

#[tokio::test]
async fn a_closed_sm_session_bounces_unacked_iq_requests_and_stores_unacked_messages() {
    let t = friends().await;
    let (mut alice, _) = sm_login(&t, "alice", enable(false, None)).await;
    let alice_jid = alice.jid().to_string();
    let mut bob = t.login_available("bob").await.expect("bob");
    let query = Element::new("query", "urn:example:sm");
    bob.send(&iq("get", "q1", Some(&alice_jid), query))
        .await
        .expect("iq");
    bob.send(&chat(&alice_jid, "unread")).await.expect("send");
    let got = drain(&mut alice, QUIET).await;
    assert_eq!(got.iter().filter(|e| is_stanza(e)).count(), 2, "{got:?}");
    // alice never acknowledges: her client closes the stream.
    alice.close().await.expect("close");

    let bounce = bob.recv().await.expect("bounce");
    assert_eq!(bounce.attr("id"), Some("q1"), "{bounce}");
    assert_eq!(bounce.attr("from"), Some(alice_jid.as_str()), "{bounce}");
    assert_bounce(&bounce, Cond::RecipientUnavailable);
    assert_quiet(&mut bob).await;
    assert_eq!(
        stored(&t, "alice").await,
        1,
        "the message waits for the next login"
    );
    t.stop().await;
}

#[tokio::test]
async fn stored_messages_fetched_at_login_come_back_if_never_acknowledged() {
    let t = friends().await;
    let mut bob = t.login_available("bob").await.expect("bob");
    bob.send(&chat(&format!("alice@{}", t.domain()), "while away"))
        .await
        .expect("send");
    assert_quiet(&mut bob).await;
    assert_eq!(stored(&t, "alice").await, 1);

    // Enabled before initial presence, so the stored message is an unacknowledged stanza.
    let (mut alice, _) = sm_login(&t, "alice", enable(false, None)).await;
    alice.send_presence().await.expect("presence");
    let got = drain(&mut alice, QUIET).await;
    assert_eq!(bodies(&got), ["while away"], "{got:?}");
    let stamp = |els: &[Element]| {
        els.iter()
            .find(|e| e.name() == "message")
            .and_then(|m| m.get_child("delay", ns::DELAY))
            .and_then(|d| d.attr("stamp").map(str::to_owned))
    };
    let first_stamp = stamp(&got);
    assert_eq!(stored(&t, "alice").await, 0, "taken from the store");
    drop_connection(alice).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stored(&t, "alice").await, 1, "back in the store");

    let mut again = t.login("alice").await.expect("alice again");
    again.send_presence().await.expect("presence");
    let got = drain(&mut again, QUIET).await;
    assert_eq!(bodies(&got), ["while away"], "{got:?}");
    assert_eq!(stamp(&got), first_stamp, "the original delay stamp is kept");
    t.stop().await;
}

#[tokio::test]
async fn the_unacknowledged_queue_is_bounded() {
    let t = TestServer::start_with(|cfg| cfg.c2s.max_unacked_stanzas = 3)
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    let (mut alice, _) = sm_login(&t, "alice", enable(false, None)).await;
    for i in 0..4 {
        alice.send(&ping(&format!("p{i}"))).await.expect("ping");
    }
    let end = loop {
        match alice.recv().await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(end, ClientError::Stream(StreamError::ResourceConstraint)),
        "{end}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_session_silent_past_the_keepalive_hibernates_and_can_be_resumed() {
    let t = TestServer::start_with(|cfg| {
        cfg.c2s.keepalive_interval = hestia_config::Duration::secs(2);
        cfg.c2s.keepalive_timeout = hestia_config::Duration::secs(1);
    })
    .await
    .expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let (mut alice, previd) = sm_available(&t, "alice", None).await;
    let alice_jid = alice.jid().clone();
    let mut h = 1;
    alice.send(&ack(h)).await.expect("a");

    // alice's device goes silent without closing: it never answers the keep-alive ping.
    let mut silent = Vec::new();
    let end = loop {
        match alice.recv_timeout(Duration::from_secs(5)).await {
            Ok(Some(el)) => silent.push(el),
            Ok(None) => panic!("no connection-timeout; got {silent:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        end.stream_error(),
        Some(StreamError::ConnectionTimeout),
        "{end}"
    );
    let pings = silent
        .iter()
        .filter(|e| e.get_child("ping", ns::PING).is_some())
        .count();
    assert_eq!(pings, 1, "{silent:?}");
    drop(alice);
    // Hibernating, alice still looks online to a contact who logs in now (bob logs in only now
    // as his own connection would be given up by the short keep-alive too).
    let mut bob = t.login_available("bob").await.expect("bob");
    let seen = drain(&mut bob, QUIET).await;
    assert!(
        seen.iter().any(|e| e.name() == "presence"
            && e.attr("from") == Some(alice_jid.to_string().as_str())
            && e.attr("type").is_none()),
        "{seen:?}"
    );
    bob.send(&chat(&alice_jid.to_string(), "still there?"))
        .await
        .expect("send");
    assert_quiet(&mut bob).await;

    let auth = authenticate(&t, "alice").await;
    let Resumption::Resumed {
        session: mut alice, ..
    } = auth
        .resume(alice_jid.clone(), &previd, h)
        .await
        .expect("resume")
    else {
        panic!("resume failed after a keep-alive timeout");
    };
    let got = drain(&mut alice, QUIET).await;
    assert_eq!(bodies(&got), ["still there?"], "{got:?}");
    h += count_stanzas(&got);
    alice.send(&ack(h)).await.expect("a");
    assert_quiet(&mut bob).await;
    t.stop().await;
}

#[tokio::test]
async fn a_resume_acknowledging_too_much_ends_the_session_and_keeps_its_messages() {
    let t = friends().await;
    let (mut alice, previd) = sm_available(&t, "alice", None).await;
    let alice_jid = alice.jid().clone();
    let mut bob = t.login_available("bob").await.expect("bob");
    drain(&mut bob, QUIET).await;
    drain(&mut alice, QUIET).await;
    bob.send(&chat(&alice_jid.to_string(), "unacked"))
        .await
        .expect("send");
    alice.recv().await.expect("unacked");
    drop_connection(alice).await;

    let mut auth = authenticate(&t, "alice").await;
    let resume = Element::new("resume", ns::SM)
        .with_attr("previd", previd.as_str())
        .with_attr("h", "99");
    auth.send_raw(resume.to_xml(ns::CLIENT).as_bytes())
        .await
        .expect("send");
    let end = loop {
        match auth.recv().await {
            Ok(el) => assert!(!el.is("resumed", ns::SM), "{el}"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        end.stream_error(),
        Some(StreamError::UndefinedCondition),
        "{end}"
    );
    expect_unavailable(&mut bob, &alice_jid.to_string(), Duration::from_secs(5)).await;
    assert_eq!(
        stored(&t, "alice").await,
        1,
        "the unacknowledged message is kept"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_hibernating_session_holds_no_connection_of_its_address() {
    let t = TestServer::start_with(|cfg| cfg.c2s.max_connections_per_address = 1)
        .await
        .expect("server");
    t.add_user("alice").await.expect("alice");
    let (alice, previd) = sm_available(&t, "alice", None).await;
    let alice_jid = alice.jid().clone();
    drop_connection(alice).await;
    // The only connection this address may hold is free again: the resume gets through.
    let auth = authenticate(&t, "alice").await;
    let outcome = auth.resume(alice_jid, &previd, 1).await.expect("resume");
    assert!(
        matches!(outcome, Resumption::Resumed { .. }),
        "resume refused"
    );
    t.stop().await;
}
