#![allow(clippy::expect_used)]
//! XMPP over WebSocket (RFC 7395) at `/xmpp-websocket`: the `xmpp` subprotocol is required
//! (§3.3.1); `<open/>` is answered with `<open/>` and features (§3.4); a login over a
//! loopback WebSocket (secure by default) reaches TCP clients and back, one element per
//! message (§3.3.3); `<close/>` is answered with `<close/>` (§3.6); malformed XML, oversize
//! messages and shutdown end with stream errors, then `<close/>`.

#![cfg(test)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hestia_proto::{StreamError, ns};
use hestia_testkit::TestServer;
use hestia_xml::{Element, parse_element};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
const OPEN: &str =
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";
const CLOSE: &str = "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>";
/// SASL PLAIN for alice with the testkit password.
const AUTH_ALICE: &str = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAGNvcnJlY3QgaG9yc2U=</auth>";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn url(t: &TestServer) -> String {
    format!(
        "{}/xmpp-websocket",
        t.http_base().replacen("http://", "ws://", 1)
    )
}

async fn connect(t: &TestServer) -> Ws {
    let mut req = url(t).into_client_request().expect("request");
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "xmpp".parse().expect("header"));
    let (ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    assert_eq!(
        resp.headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok()),
        Some("xmpp"),
        "the subprotocol is echoed"
    );
    ws
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

/// The next text message; None once the WebSocket closed.
async fn recv_text(ws: &mut Ws) -> Option<String> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message in time");
        match msg {
            Some(Ok(Message::Text(t))) => return Some(t.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// The next message, which must be one complete element.
async fn recv(ws: &mut Ws) -> Element {
    let text = recv_text(ws).await.expect("a message");
    parse_element(&text, "").unwrap_or_else(|e| panic!("not one element ({e}): {text}"))
}

/// Sends `<open/>`; returns the features after checking the answering `<open/>`.
async fn open(ws: &mut Ws) -> Element {
    send(ws, OPEN).await;
    let open = recv(ws).await;
    assert_eq!((open.name(), open.ns()), ("open", FRAMING), "{open:?}");
    assert_eq!(open.attr("from"), Some("localhost"));
    assert_eq!(open.attr("version"), Some("1.0"));
    assert!(open.attr("id").is_some_and(|id| !id.is_empty()));
    let features = recv(ws).await;
    assert_eq!(
        (features.name(), features.ns()),
        ("features", ns::STREAM),
        "{features:?}"
    );
    features
}

/// A WebSocket to `t` with the stream opened (its features read and dropped).
async fn opened(t: &TestServer) -> Ws {
    let mut ws = connect(t).await;
    open(&mut ws).await;
    ws
}

/// The next message must be `<close/>`.
async fn expect_close(ws: &mut Ws) {
    let close = recv(ws).await;
    assert_eq!((close.name(), close.ns()), ("close", FRAMING), "{close:?}");
}

fn mechanisms(features: &Element) -> Vec<String> {
    features
        .get_child("mechanisms", ns::SASL)
        .map(|m| m.children().map(Element::text).collect())
        .unwrap_or_default()
}

/// The stream error, then `<close/>`, then the end of the WebSocket.
async fn expect_stream_error(ws: &mut Ws, condition: StreamError) {
    let err = recv(ws).await;
    assert_eq!((err.name(), err.ns()), ("error", ns::STREAM), "{err:?}");
    assert!(
        err.get_child(condition.condition(), ns::STREAM_ERRORS)
            .is_some(),
        "{condition:?} expected: {err:?}"
    );
    expect_close(ws).await;
    assert_eq!(recv_text(ws).await, None, "the WebSocket closes");
}

/// Logs alice in over `ws` and binds; returns her full JID.
async fn login_alice(ws: &mut Ws) -> String {
    let features = open(ws).await;
    assert!(mechanisms(&features).iter().any(|m| m == "PLAIN"));
    send(ws, AUTH_ALICE).await;
    let success = recv(ws).await;
    assert_eq!(success.name(), "success", "{success:?}");
    let features = open(ws).await;
    assert!(features.get_child("bind", ns::BIND).is_some());
    send(ws, "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>").await;
    let bound = recv(ws).await;
    assert_eq!(
        (bound.name(), bound.ns(), bound.attr("type")),
        ("iq", ns::CLIENT, Some("result")),
        "{bound:?}"
    );
    bound
        .get_child("bind", ns::BIND)
        .and_then(|b| b.get_child("jid", ns::BIND))
        .map(Element::text)
        .expect("bound jid")
}

#[tokio::test]
async fn upgrade_without_the_xmpp_subprotocol_is_refused() {
    let t = TestServer::start().await.expect("server");
    let err = tokio_tungstenite::connect_async(url(&t))
        .await
        .expect_err("refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 400),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
    t.stop().await;
}

#[tokio::test]
async fn open_is_answered_with_open_and_features_without_starttls() {
    let t = TestServer::start().await.expect("server");
    let mut ws = connect(&t).await;
    let features = open(&mut ws).await;
    assert!(features.get_child("starttls", ns::TLS).is_none());
    let offered = mechanisms(&features);
    assert!(
        offered.iter().any(|m| m == "SCRAM-SHA-256") && offered.iter().any(|m| m == "PLAIN"),
        "a loopback WebSocket counts as secure: {offered:?}"
    );
    assert!(
        !offered.iter().any(|m| m.ends_with("-PLUS")),
        "no channel binding"
    );
    t.stop().await;
}

#[tokio::test]
async fn login_bind_and_messages_with_a_tcp_client() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let mut bob = t.login_available("bob").await.expect("bob");
    let mut ws = connect(&t).await;
    let alice = login_alice(&mut ws).await;
    assert!(alice.starts_with("alice@localhost/"), "{alice}");

    send(&mut ws, "<message xmlns='jabber:client' to='bob@localhost' type='chat' id='m1'><body>over WebSocket</body></message>").await;
    let got = bob.recv().await.expect("bob receives");
    assert_eq!(got.attr("from"), Some(alice.as_str()));
    assert_eq!(
        got.get_child("body", ns::CLIENT).map(Element::text),
        Some("over WebSocket".into())
    );

    let reply = Element::new("message", ns::CLIENT)
        .with_attr("to", alice.as_str())
        .with_attr("type", "chat")
        .with_child(Element::new("body", ns::CLIENT).with_text("over TCP"));
    bob.send(&reply).await.expect("reply");
    let text = recv_text(&mut ws).await.expect("a message");
    assert!(
        text.starts_with("<message xmlns='jabber:client'"),
        "a standalone stanza declares its namespace: {text}"
    );
    let got = parse_element(&text, "").expect("one element");
    assert_eq!(got.attr("from"), Some(bob.jid().to_string().as_str()));
    assert_eq!(
        got.get_child("body", ns::CLIENT).map(Element::text),
        Some("over TCP".into())
    );

    send(&mut ws, CLOSE).await;
    expect_close(&mut ws).await;
    t.stop().await;
}

#[tokio::test]
async fn close_is_answered_with_close() {
    let t = TestServer::start().await.expect("server");
    let mut ws = opened(&t).await;
    send(&mut ws, CLOSE).await;
    expect_close(&mut ws).await;
    assert_eq!(recv_text(&mut ws).await, None, "the WebSocket closes");
    t.stop().await;
}

#[tokio::test]
async fn malformed_xml_is_not_well_formed() {
    let t = TestServer::start().await.expect("server");
    let mut ws = opened(&t).await;
    send(&mut ws, "<message><body>oops</message>").await;
    expect_stream_error(&mut ws, StreamError::NotWellFormed).await;
    t.stop().await;
}

#[tokio::test]
async fn an_oversize_message_is_a_policy_violation() {
    let t = TestServer::start().await.expect("server");
    let mut ws = opened(&t).await;
    let big = format!(
        "<iq xmlns='jabber:client' type='get' id='x'><query xmlns='jabber:iq:register'>{}</query></iq>",
        "a".repeat(64 * 1024)
    );
    send(&mut ws, &big).await;
    expect_stream_error(&mut ws, StreamError::PolicyViolation).await;
    t.stop().await;
}

#[tokio::test]
async fn shutdown_closes_with_system_shutdown() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    let mut ws = connect(&t).await;
    login_alice(&mut ws).await;
    t.stop().await;
    expect_stream_error(&mut ws, StreamError::SystemShutdown).await;
}

#[tokio::test]
async fn an_insecure_websocket_cannot_log_in_while_tls_is_required() {
    let t = TestServer::start_with(|c| {
        c.websocket.consider_secure = hestia_server::config::ConsiderSecure::Never;
    })
    .await
    .expect("server");
    t.add_user("alice").await.expect("alice");
    let mut ws = connect(&t).await;
    let features = open(&mut ws).await;
    assert!(mechanisms(&features).is_empty(), "{features:?}");
    assert!(features.get_child("starttls", ns::TLS).is_none());
    send(&mut ws, AUTH_ALICE).await;
    let failure = recv(&mut ws).await;
    assert_eq!(failure.name(), "failure", "{failure:?}");
    assert!(failure.get_child("encryption-required", ns::SASL).is_some());
    expect_stream_error(&mut ws, StreamError::PolicyViolation).await;
    t.stop().await;
}

#[tokio::test]
async fn disabled_websocket_is_not_found() {
    let t = TestServer::start_with(|c| c.websocket.enabled = false)
        .await
        .expect("server");
    let mut req = url(&t).into_client_request().expect("request");
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "xmpp".parse().expect("header"));
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 404)
        }
        other => panic!("expected 404, got {other:?}"),
    }
    t.stop().await;
}
