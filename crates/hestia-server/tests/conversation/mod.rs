//! The shared vocabulary of the registration, routing, features and admin conversations: stanza
//! builders ("Alice sends"), expectations ("Bob receives", "nothing else arrives"), the IGRS
//! status of an answer, and a small blocking HTTP client for the admin API.
//!
//! Each test binary uses only part of it. Like the tests themselves, the helpers panic on failure.
#![allow(dead_code, clippy::expect_used)]

use std::net::IpAddr;
use std::time::Duration;

use hestia_client::{Bound, ClientError, Connected};
use hestia_proto::igrs::{NS_REGISTER, RegistrationStatus};
use hestia_proto::{StanzaError, StanzaErrorCondition, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;
use serde_json::Value;

/// How long "nothing else arrives" waits.
pub const QUIET: Duration = Duration::from_millis(300);

/// A password that satisfies the default policy (at least 8 characters).
pub const GOOD_PASSWORD: &str = "s3cret-enough";

/// `<message type='chat' to=…><body>…</body></message>`.
pub fn chat(to: &str, body: &str) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", "chat")
        .with_child(Element::new("body", ns::CLIENT).with_text(body))
}

/// An IQ request with an explicit id (the SDK's `iq` would add one) and an optional `to`.
pub fn iq(iq_type: &str, id: &str, to: Option<&str>, payload: Element) -> Element {
    let mut iq = Element::new("iq", ns::CLIENT)
        .with_attr("type", iq_type)
        .with_attr("id", id)
        .with_child(payload);
    if let Some(to) = to {
        iq.set_attr("to", to);
    }
    iq
}

/// `<query xmlns='jabber:iq:register'>` with username and password.
pub fn register_query(username: &str, password: &str) -> Element {
    Element::new("query", ns::REGISTER)
        .with_child(Element::new("username", ns::REGISTER).with_text(username))
        .with_child(Element::new("password", ns::REGISTER).with_text(password))
}

/// `<invitation xmlns='urn:igrs:ra:0:register'>TOKEN</invitation>`.
pub fn invitation(token: &str) -> Element {
    Element::new("invitation", NS_REGISTER).with_text(token)
}

/// The body text of a message.
pub fn body(stanza: &Element) -> Option<String> {
    stanza.get_child("body", ns::CLIENT).map(Element::text)
}

/// The IGRS status carried by a stanza error's application child.
pub fn app_status(error: &StanzaError) -> Option<RegistrationStatus> {
    let app = error.app.as_ref()?;
    RegistrationStatus::find_in(&Element::new("error", ns::CLIENT).with_child(app.clone()))
}

/// Asserts that an IQ answer was an error with this condition and IGRS status.
#[track_caller]
pub fn assert_refused(
    answer: Result<Element, ClientError>,
    condition: StanzaErrorCondition,
    status: RegistrationStatus,
) {
    let err = match answer {
        Ok(el) => panic!("expected {condition:?} + status {status:?}, got result {el}"),
        Err(e) => e,
    };
    let stanza_error = err
        .stanza_error()
        .unwrap_or_else(|| panic!("expected a stanza error, got {err}"));
    assert_eq!(stanza_error.condition, condition, "{stanza_error}");
    assert_eq!(app_status(stanza_error), Some(status), "{stanza_error}");
}

/// Asserts that an IQ answer was an error with this condition (no IGRS status expected).
#[track_caller]
pub fn assert_condition(answer: Result<Element, ClientError>, condition: StanzaErrorCondition) {
    match answer {
        Ok(el) => panic!("expected {condition:?}, got result {el}"),
        Err(e) => assert_eq!(e.stanza_condition(), Some(condition), "{e}"),
    }
}

/// Asserts that a received stanza is an error bounce with this condition; returns the error.
#[track_caller]
pub fn assert_bounce(stanza: &Element, condition: StanzaErrorCondition) -> StanzaError {
    assert_eq!(stanza.attr("type"), Some("error"), "{stanza}");
    let error = StanzaError::from_stanza(stanza).unwrap_or_else(|| panic!("no <error/>: {stanza}"));
    assert_eq!(error.condition, condition, "{stanza}");
    error
}

/// Asserts that nothing (stray) arrives on this connection for [`QUIET`].
pub async fn assert_quiet(client: &mut Bound) {
    match client.recv_timeout(QUIET).await {
        Ok(None) => {}
        Ok(Some(el)) => panic!("{} received a stray stanza: {el}", client.jid()),
        Err(e) => panic!("{} failed while expecting silence: {e}", client.jid()),
    }
}

/// Connects (STARTTLS, not authenticated), optionally from a given loopback source address.
pub async fn connect_from(t: &TestServer, ip: Option<IpAddr>) -> Connected {
    let mut opts = t.options();
    if let Some(ip) = ip {
        opts = opts.with_local_addr(ip);
    }
    Connected::connect(&opts).await.expect("connect")
}

/// Registers in-band on a fresh connection; the answer of the registration IQ.
pub async fn register_in_band(
    t: &TestServer,
    username: &str,
    password: &str,
    extra: Vec<Element>,
) -> Result<Element, ClientError> {
    let mut c = connect_from(t, None).await;
    c.register(username, password, extra).await
}

/// Logs in with an explicit password and binds.
pub async fn login_with(t: &TestServer, user: &str, password: &str) -> Result<Bound, ClientError> {
    t.connect()
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))?
        .authenticate(user, password)
        .await?
        .bind(None)
        .await
}

/// Asserts that a login attempt fails with this SASL condition.
#[track_caller]
pub fn assert_sasl_failure(login: Result<Bound, ClientError>, condition: &str) {
    match login {
        Ok(b) => panic!("login as {} unexpectedly succeeded", b.jid()),
        Err(e) => assert_eq!(e.sasl_condition(), Some(condition), "{e}"),
    }
}

/// Receives until the stream ends and returns the stream error condition name, if any.
pub async fn stream_end(client: &mut Bound) -> Option<&'static str> {
    loop {
        match client.recv().await {
            Ok(_) => continue,
            Err(e) => return e.stream_error().map(|s| s.condition()),
        }
    }
}

/// Asserts that the IRSP forced this connection out: first a `<logout reason/>` push (a
/// headline from the domain), then the stream error.
pub async fn assert_forced_out(client: &mut Bound, reason: &str, error: hestia_proto::StreamError) {
    let push = client.recv().await.expect("the reason comes first");
    assert_eq!(push.attr("type"), Some("headline"), "{push}");
    let said = push
        .get_child("push", hestia_proto::igrs::NS_PUSH)
        .and_then(|p| p.get_child("logout", hestia_proto::igrs::NS_PUSH))
        .and_then(|l| l.attr("reason"));
    assert_eq!(said, Some(reason), "{push}");
    let err = client.recv().await.expect_err("then the stream ends");
    assert_eq!(err.stream_error(), Some(error), "{err}");
}

/// One HTTP answer of the admin API.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub text: String,
}

impl HttpReply {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// The admin API of one test server.
#[derive(Debug, Clone)]
pub struct Admin {
    pub base: String,
    pub token: Option<String>,
}

impl Admin {
    /// Authenticated with the server's token.
    pub fn of(t: &TestServer) -> Admin {
        Admin {
            base: t.http_base(),
            token: Some(t.server.admin_token.clone()),
        }
    }

    /// The same API with another (or no) token.
    pub fn with_token(&self, token: Option<&str>) -> Admin {
        Admin {
            base: self.base.clone(),
            token: token.map(str::to_owned),
        }
    }

    pub async fn get(&self, path: &str) -> HttpReply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> HttpReply {
        self.call("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> HttpReply {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> HttpReply {
        self.call("DELETE", path, None).await
    }

    /// One request on a blocking thread (ureq is synchronous).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> HttpReply {
        let url = format!("{}{path}", self.base);
        let token = self.token.clone();
        let method = method.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut req = ureq::request(&method, &url).timeout(Duration::from_secs(10));
            if let Some(token) = token {
                req = req.set("Authorization", &format!("Bearer {token}"));
            }
            let answer = match body {
                Some(b) => req.send_json(b),
                None => req.call(),
            };
            let resp = match answer {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(e) => panic!("{method} {url}: {e}"),
            };
            let status = resp.status();
            let text = resp.into_string().expect("response body");
            HttpReply { status, text }
        })
        .await
        .expect("HTTP thread")
    }
}
