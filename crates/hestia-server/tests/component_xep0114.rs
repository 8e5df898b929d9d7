#![allow(clippy::expect_used)]
//! The XEP-0114 component port of the application-server interface: the handshake and its
//! refusals, stanzas sent on behalf of granting accounts with their rights (and refused for the
//! others, and after a revoke), stanzas to the component's domain, the handshake timeout and
//! shutdown.

mod conversation;

use std::time::Duration;

use conversation::*;
use hestia_proto::{StanzaErrorCondition as Cond, StreamError, device, ns};
use hestia_router::appserver::AppServer;
use hestia_server::component::digest;
use hestia_testkit::TestServer;
use hestia_testkit::raw::{REPLY_TIMEOUT, RawStream, assert_stream_error, elements};
use hestia_xml::Element;
use tokio::task::JoinSet;

const SECRET: &str = "gateway-secret";

async fn server() -> TestServer {
    let t = TestServer::start_with(|c| {
        c.tls.required = false;
        c.component
            .secrets
            .insert("gateway".into(), hestia_config::Secret::new(SECRET));
        c.component.auth_timeout = hestia_config::Duration::millis(300);
    })
    .await
    .expect("server");
    for u in ["alice", "bob", "carol"] {
        t.add_user(u).await.expect("user");
    }
    t.befriend("alice", "bob").await.expect("friends");
    t
}

/// As [`server`], with alice's lamp running on the device SDK (answering `on=true` to every
/// get) and a heater nobody here is related to.
async fn home(tasks: &mut JoinSet<()>) -> TestServer {
    let t = server().await;
    t.add_device("lamp", "lamp").await.expect("lamp");
    t.own("alice", "lamp").await.expect("own");
    t.add_device("heater", "heater").await.expect("heater");
    t.spawn_sdk_lamp("lamp", tasks).await.expect("lamp");
    t
}

/// The stanza error condition of a refused stanza the component received.
fn condition(refused: &Element) -> Option<Cond> {
    assert_eq!(refused.attr("type"), Some("error"), "{refused:?}");
    let error = refused.get_child("error", ns::COMPONENT)?;
    error
        .children()
        .find(|c| c.ns() == ns::STANZA_ERRORS)
        .and_then(|c| Cond::from_name(c.name()))
}

fn header(to: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}' to='{to}'>",
        ns::COMPONENT,
        ns::STREAM
    )
}

/// Opens a stream to `to` and returns the connection and the stream id the server gave.
async fn open(t: &TestServer, to: &str) -> (RawStream, String) {
    let (raw, id, _) = open_with_header(t, to).await;
    (raw, id)
}

/// As [`open`], also returning the server's header (and whatever came with it).
async fn open_with_header(t: &TestServer, to: &str) -> (RawStream, String, String) {
    let mut raw = RawStream::connect(t.component_addr())
        .await
        .expect("connect");
    raw.send(header(to).as_bytes()).await.expect("header");
    let reply = raw.read_until(">", REPLY_TIMEOUT).await.expect("header");
    assert!(reply.contains(ns::COMPONENT), "{reply}");
    let id = reply
        .split("id='")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("stream id")
        .to_owned();
    (raw, id, reply)
}

/// Opens a stream as `gateway.<domain>` and sends the handshake digest made with `secret`.
async fn handshake(t: &TestServer, secret: &str) -> RawStream {
    let (mut raw, id) = open(t, &format!("gateway.{}", t.domain())).await;
    let handshake = format!("<handshake>{}</handshake>", digest(&id, secret));
    raw.send(handshake.as_bytes()).await.expect("handshake");
    raw
}

/// Reads until the server closes the stream, which it must close with `condition`.
async fn assert_closed_with(raw: &mut RawStream, condition: StreamError) {
    let reply = raw.read_to_close(REPLY_TIMEOUT).await.expect("closed");
    assert_stream_error(&reply, condition);
}

/// A component connected and authenticated as `gateway.<domain>`.
async fn connected(t: &TestServer) -> RawStream {
    let mut raw = handshake(t, SECRET).await;
    let reply = raw
        .read_until("<handshake", REPLY_TIMEOUT)
        .await
        .expect("handshake reply");
    assert!(reply.contains("<handshake/>"), "{reply}");
    raw
}

/// Sends a stanza and returns the first top-level element that arrives.
async fn exchange(raw: &mut RawStream, stanza: &str, until: &str) -> Element {
    raw.send(stanza.as_bytes()).await.expect("send");
    let text = raw.read_until(until, REPLY_TIMEOUT).await.expect("reply");
    parse(&text)
}

/// The first element in what the component port wrote.
fn parse(text: &str) -> Element {
    let stream = format!(
        "<stream:stream xmlns='{}' xmlns:stream='{}'>{text}",
        ns::COMPONENT,
        ns::STREAM
    );
    elements(&stream)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no element in {text}"))
}

#[tokio::test]
async fn the_handshake_authenticates_and_wrong_ones_are_refused() {
    let t = server().await;
    let _ok = connected(&t).await;

    let mut wrong = handshake(&t, "not-the-secret").await;
    assert_closed_with(&mut wrong, StreamError::NotAuthorized).await;

    let (mut unknown, _, header) = open_with_header(&t, &format!("nobody.{}", t.domain())).await;
    let rest = unknown.read_to_close(REPLY_TIMEOUT).await.expect("closed");
    let reply = format!("{header}{rest}");
    assert_stream_error(&reply, StreamError::HostUnknown);

    // A second connection for a connected name is refused; the first keeps working.
    let mut second = handshake(&t, SECRET).await;
    assert_closed_with(&mut second, StreamError::Conflict).await;
    t.stop().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_handshake_timeout() {
    let t = server().await;
    let (mut raw, _) = open(&t, &format!("gateway.{}", t.domain())).await;
    let reply = raw
        .read_to_close(Duration::from_secs(3))
        .await
        .expect("closed");
    assert_stream_error(&reply, StreamError::ConnectionTimeout);
    t.stop().await;
}

#[tokio::test]
async fn a_granted_component_speaks_as_the_account_and_hears_the_answers() {
    let t = server().await;
    let d = t.domain();
    let app = AppServer::new(t.server.irsp.clone(), "gateway").expect("app");
    app.grant("alice").await.expect("grant");
    let mut bob = t.login("bob").await.expect("bob");
    let bob_jid = bob.jid().to_string();
    let mut component = connected(&t).await;

    // A message as alice reaches bob from alice's observer JID…
    let msg = format!(
        "<message from='alice@{d}' to='{bob_jid}' type='chat'><body>hello from the app</body></message>"
    );
    component.send(msg.as_bytes()).await.expect("send");
    let got = bob.recv().await.expect("bob receives");
    assert_eq!(body(&got).as_deref(), Some("hello from the app"));
    let observer = got.attr("from").expect("from").to_owned();
    assert!(
        observer.starts_with(&format!("alice@{d}/app-gateway-")),
        "{observer}"
    );

    // …and bob's answer comes back to the component, addressed to that JID.
    bob.send(&chat(&observer, "hi app")).await.expect("answer");
    let answer = component
        .read_until("hi app", REPLY_TIMEOUT)
        .await
        .expect("answer arrives");
    let answer = parse(&answer);
    assert!(answer.is("message", ns::COMPONENT), "{answer:?}");
    assert_eq!(answer.attr("to"), Some(observer.as_str()));
    let text = answer.get_child("body", ns::COMPONENT).map(Element::text);
    assert_eq!(text.as_deref(), Some("hi app"));

    // An IQ as alice is answered to the observer JID.
    let iq = format!(
        "<iq type='get' id='p1' from='alice@{d}' to='{d}'><ping xmlns='urn:xmpp:ping'/></iq>"
    );
    let result = exchange(&mut component, &iq, "p1").await;
    assert_eq!(result.attr("type"), Some("result"), "{result:?}");
    assert_eq!(result.attr("to"), Some(observer.as_str()));

    // The component's own address may query the IRSP.
    let own = format!(
        "<iq type='get' id='p2' from='gateway.{d}' to='{d}'><ping xmlns='urn:xmpp:ping'/></iq>"
    );
    let result = exchange(&mut component, &own, "p2").await;
    assert_eq!(result.attr("type"), Some("result"), "{result:?}");
    t.stop().await;
}

#[tokio::test]
async fn without_a_grant_or_after_a_revoke_the_stanza_is_forbidden() {
    let t = server().await;
    let d = t.domain();
    let app = AppServer::new(t.server.irsp.clone(), "gateway").expect("app");
    app.grant("alice").await.expect("grant");
    let mut component = connected(&t).await;

    let as_carol = format!(
        "<message id='m1' from='carol@{d}' to='bob@{d}' type='chat'><body>x</body></message>"
    );
    let refused = exchange(&mut component, &as_carol, "</message>").await;
    assert_eq!(condition(&refused), Some(Cond::Forbidden), "{refused:?}");
    assert_eq!(refused.attr("to"), Some(format!("carol@{d}").as_str()));

    // Neither another domain nor the component's own address towards an account passes.
    for from in ["alice@elsewhere.example".to_owned(), format!("gateway.{d}")] {
        let stanza = format!(
            "<message id='m2' from='{from}' to='bob@{d}' type='chat'><body>x</body></message>"
        );
        let refused = exchange(&mut component, &stanza, "</message>").await;
        assert_eq!(
            condition(&refused),
            Some(Cond::Forbidden),
            "{from}: {refused:?}"
        );
    }

    let ping = |id: &str| {
        format!(
            "<iq type='get' id='{id}' from='alice@{d}' to='{d}'><ping xmlns='urn:xmpp:ping'/></iq>"
        )
    };
    let ok = exchange(&mut component, &ping("p1"), "p1").await;
    assert_eq!(ok.attr("type"), Some("result"), "{ok:?}");

    app.revoke("alice").await.expect("revoke");
    // The revoke ends the observer session at once; the next stanza checks the grant again.
    let refused = exchange(&mut component, &ping("p2"), "p2").await;
    assert_eq!(condition(&refused), Some(Cond::Forbidden), "{refused:?}");
    t.stop().await;
}

#[tokio::test]
async fn the_component_reads_a_device_with_the_accounts_rights_only() {
    let mut tasks = JoinSet::new();
    let t = home(&mut tasks).await;
    let d = t.domain();
    let app = AppServer::new(t.server.irsp.clone(), "gateway").expect("app");
    app.grant("alice").await.expect("grant");
    let mut component = connected(&t).await;
    let get = |id: &str, to: &str| {
        let mut out = Vec::new();
        iq(
            "get",
            id,
            Some(&format!("{to}@{d}")),
            device::get_request(["on"]),
        )
        .with_attr("from", format!("alice@{d}/kitchen"))
        .write_to(&mut out, ns::CLIENT);
        String::from_utf8(out).expect("utf-8")
    };

    // Alice owns the lamp: the lamp's answer comes back to the observer JID named after the
    // resource the component chose.
    let read = exchange(&mut component, &get("g1", "lamp"), "g1").await;
    assert_eq!(read.attr("type"), Some("result"), "{read:?}");
    let observer = format!("alice@{d}/app-gateway-kitchen");
    assert_eq!(read.attr("to"), Some(observer.as_str()));
    assert!(
        read.attr("from")
            .is_some_and(|f| f.starts_with(&format!("lamp@{d}"))),
        "{read:?}"
    );
    let values = read
        .get_child("get", hestia_proto::igrs::NS_DEVICE)
        .map(device::assignments);
    assert!(
        matches!(values, Some(Ok(ref v)) if v == &[("on", "true")]),
        "{read:?}"
    );

    // Alice is not related to the heater: refused exactly as alice's own request would be.
    let refused = exchange(&mut component, &get("g2", "heater"), "g2").await;
    assert_eq!(
        condition(&refused),
        Some(Cond::ServiceUnavailable),
        "{refused:?}"
    );
    let mut alice = t.login("alice").await.expect("alice");
    let own = alice
        .iq(iq(
            "get",
            "g3",
            Some(&format!("heater@{d}")),
            device::get_request(["on"]),
        ))
        .await;
    assert_condition(own, Cond::ServiceUnavailable);
    tasks.abort_all();
    t.stop().await;
}

#[tokio::test]
async fn stanzas_to_the_components_domain_reach_it_and_it_answers_them() {
    let t = server().await;
    let d = t.domain();
    let mut bob = t.login("bob").await.expect("bob");
    let bob_jid = bob.jid().to_string();
    let mut component = connected(&t).await;

    bob.send(&chat(
        &format!("lamp-17@gateway.{d}"),
        "to a gatewayed device",
    ))
    .await
    .expect("send");
    let got = parse(
        &component
            .read_until("</message>", REPLY_TIMEOUT)
            .await
            .expect("message"),
    );
    assert_eq!(got.attr("from"), Some(bob_jid.as_str()));
    assert_eq!(
        got.attr("to"),
        Some(format!("lamp-17@gateway.{d}").as_str())
    );
    assert_eq!(
        got.get_child("body", ns::COMPONENT)
            .map(Element::text)
            .as_deref(),
        Some("to a gatewayed device")
    );

    // Bob's IQ request reaches the component, which answers it from its address.
    let request = iq(
        "get",
        "v1",
        Some(&format!("gateway.{d}")),
        Element::new("query", ns::VERSION),
    );
    bob.send(&request).await.expect("send");
    let got = parse(&component.read_until("v1", REPLY_TIMEOUT).await.expect("iq"));
    assert_eq!(got.attr("type"), Some("get"));
    let answer = format!("<iq type='result' id='v1' from='gateway.{d}' to='{bob_jid}'/>");
    // An answer to nothing asked is dropped; the asked one arrives.
    let unasked = format!("<iq type='result' id='zz' from='gateway.{d}' to='{bob_jid}'/>");
    component.send(unasked.as_bytes()).await.expect("send");
    component.send(answer.as_bytes()).await.expect("send");
    let result = bob.recv().await.expect("answer");
    assert_eq!(result.attr("id"), Some("v1"), "{result:?}");
    assert_eq!(result.attr("type"), Some("result"));
    assert_quiet(&mut bob).await;
    t.stop().await;
}

#[tokio::test]
async fn a_stanza_without_from_ends_the_stream_with_improper_addressing() {
    let t = server().await;
    let mut component = connected(&t).await;
    let stanza = format!("<message to='bob@{}'><body>x</body></message>", t.domain());
    component.send(stanza.as_bytes()).await.expect("send");
    assert_closed_with(&mut component, StreamError::ImproperAddressing).await;
    t.stop().await;
}

#[tokio::test]
async fn shutdown_closes_the_component_stream_with_system_shutdown() {
    let t = server().await;
    let mut component = connected(&t).await;
    let (_, reply) = tokio::join!(t.stop(), component.read_to_close(REPLY_TIMEOUT));
    assert_stream_error(&reply.expect("closed"), StreamError::SystemShutdown);
}

#[tokio::test]
async fn the_component_pushes_to_its_grantors_devices_and_is_told_the_counts() {
    let mut tasks = JoinSet::new();
    let t = home(&mut tasks).await;
    let d = t.domain();
    let app = AppServer::new(t.server.irsp.clone(), "gateway").expect("app");
    app.grant("alice").await.expect("grant");
    let mut component = connected(&t).await;
    let push = |id: &str, target: &str, payloads: &str| {
        format!(
            "<iq type='set' id='{id}' from='gateway.{d}' to='{d}'>\
             <push xmlns='urn:igrs:ra:0:push' {target}>{payloads}</push></iq>"
        )
    };
    let notice = "<notice>the lamp was left on</notice>";

    let counted = exchange(
        &mut component,
        &push(
            "p1",
            &format!("devices-of='alice@{d}' transient='true'"),
            notice,
        ),
        "p1",
    )
    .await;
    assert_eq!(counted.attr("type"), Some("result"), "{counted:?}");
    let counts = counted
        .get_child("push", "urn:igrs:ra:0:push")
        .expect("counts");
    assert_eq!(counts.attr("recipients"), Some("1"), "{counts:?}");
    assert_eq!(
        counts.attr("delivered"),
        Some("1"),
        "the lamp is online: {counts:?}"
    );

    // Stored for alice, who is offline.
    let stored = exchange(
        &mut component,
        &push("p2", &format!("to='alice@{d}'"), notice),
        "p2",
    )
    .await;
    let counts = stored
        .get_child("push", "urn:igrs:ra:0:push")
        .expect("counts");
    assert_eq!(counts.attr("stored"), Some("1"), "{counts:?}");
    assert_eq!(
        t.server
            .irsp
            .store
            .count_offline("alice")
            .await
            .expect("count"),
        1
    );

    let cases = [
        ("p3", format!("to='carol@{d}'"), notice, Cond::Forbidden),
        (
            "p4",
            format!("to='alice@{d}' device-type='lamp'"),
            notice,
            Cond::BadRequest,
        ),
        ("p5", format!("to='alice@{d}'"), "", Cond::BadRequest),
        (
            "p6",
            "to='alice@elsewhere.example'".to_owned(),
            notice,
            Cond::BadRequest,
        ),
    ];
    for (id, target, payload, want) in cases {
        let refused = exchange(&mut component, &push(id, &target, payload), id).await;
        assert_eq!(
            condition(&refused),
            Some(want),
            "{id} {target}: {refused:?}"
        );
    }
    tasks.abort_all();
    t.stop().await;
}
