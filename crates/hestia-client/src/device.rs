//! The device SDK: everything a device needs to live on an IRSP (ISO/IEC 14543-5-8) in a loop
//! of a few lines — registering once, logging in, describing its properties and events,
//! answering `get`/`set` (already checked against its description), publishing events,
//! answering the server's keep-alive pings, and reconnecting by itself with back-off when the
//! connection drops.
//!
//! ```no_run
//! # async fn demo(opts: hestia_client::ConnectOptions) -> Result<(), hestia_client::ClientError> {
//! use hestia_client::device::{
//!     Access, Description, Device, DeviceIdentity, Property, PropertyType, Request, Value,
//! };
//!
//! let description = Description::new()
//!     .with_property(Property::new("on", PropertyType::Boolean, Access::ReadWrite))
//!     .with_event("button");
//! let identity = DeviceIdentity::new("lamp-1", "lamp-secret");
//! let mut lamp = Device::start(opts, identity, description).await?;
//! let mut on = false;
//! loop {
//!     match lamp.next().await? {
//!         Request::Get(get) => get.reply(Ok(vec![("on".into(), Value::Boolean(on))])),
//!         Request::Set(set) => {
//!             for (_, value) in set.changes() {
//!                 on = *value == Value::Boolean(true);
//!             }
//!             set.reply(Ok(()))
//!         }
//!         Request::Stanza(_) => {}
//!     }
//! }
//! # }
//! ```

use std::collections::VecDeque;
use std::time::Duration;

pub use hestia_proto::device::{Access, Description, EventSpec, Property, PropertyType, Value};
pub use hestia_proto::igrs::{DeviceRefusal, DeviceRegistration};

use hestia_proto::device::{self, event_node};
use hestia_proto::igrs::NS_DEVICE;
use hestia_proto::stanza::{error_reply, iq_payload, iq_result, new_id};
use hestia_proto::{IqType, Jid, StanzaError, StanzaErrorCondition, StreamError, ns};
use hestia_xml::Element;
use tokio::sync::mpsc;

use crate::stream_management::{self as sm, StreamManagement};
use crate::{Bound, ClientError, ConnectOptions, Connected, Resumption};

/// How a device logs in, and how it registers if its account does not exist yet.
#[derive(Debug, Clone)]
pub struct DeviceIdentity {
    pub id: String,
    pub password: String,
    /// Register in-band with these fields when the login is refused as `not-authorized`.
    pub registration: Option<DeviceRegistration>,
}

impl DeviceIdentity {
    pub fn new(id: &str, password: &str) -> DeviceIdentity {
        DeviceIdentity {
            id: id.to_owned(),
            password: password.to_owned(),
            registration: None,
        }
    }

    pub fn registering(mut self, registration: DeviceRegistration) -> DeviceIdentity {
        self.registration = Some(registration);
        self
    }
}

/// Reconnection back-off: doubling from `initial` to `max`, each wait jittered by ±25% so a
/// house full of devices does not reconnect in step after the server restarts.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// Give up after this many failed attempts in a row (None: never).
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The wait before attempt `n` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        use rand::Rng;
        let exp = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(16)));
        let base = exp.min(self.max);
        base.mul_f64(rand::thread_rng().gen_range(0.75..1.25))
    }
}

/// What the device's loop is asked to do.
#[derive(Debug)]
pub enum Request {
    /// Read properties (already checked: each exists and is readable).
    Get(GetRequest),
    /// Set properties (already checked: each exists, is writable, and its value is in range).
    Set(SetRequest),
    /// Any other stanza: messages, presence, pushes from the IRSP.
    Stanza(Element),
}

/// The way back to the requester, usable from any task (a slow device answers later).
#[derive(Debug, Clone)]
struct Replier {
    tx: mpsc::UnboundedSender<Element>,
    request: Element,
}

impl Replier {
    fn send(self, result: Result<Option<Element>, DeviceRefusal>) {
        let reply = match result {
            Ok(payload) => iq_result(&self.request, payload),
            Err(refusal) => error_reply(&self.request, &refusal.to_error()),
        };
        // The device loop is gone: there is nobody left to answer through.
        let _ = self.tx.send(reply);
    }
}

/// A `get` of some properties; an empty list asks for every readable one.
#[derive(Debug)]
pub struct GetRequest {
    from: Option<Jid>,
    names: Vec<String>,
    replier: Replier,
}

impl GetRequest {
    /// Who asks.
    pub fn from(&self) -> Option<&Jid> {
        self.from.as_ref()
    }

    /// The names asked for (empty: all readable).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Answers with the values, or refuses (a fault: [`DeviceRefusal::DeviceFailed`]).
    pub fn reply(self, result: Result<Vec<(String, Value)>, DeviceRefusal>) {
        let payload = result.map(|values| {
            Some(device::with_values(
                device::GET,
                values.iter().map(|(n, v)| (n.as_str(), v.to_string())),
            ))
        });
        self.replier.send(payload);
    }
}

/// A `set` of one or more properties.
#[derive(Debug)]
pub struct SetRequest {
    from: Option<Jid>,
    changes: Vec<(String, Value)>,
    replier: Replier,
}

impl SetRequest {
    pub fn from(&self) -> Option<&Jid> {
        self.from.as_ref()
    }

    /// The checked, typed new values.
    pub fn changes(&self) -> &[(String, Value)] {
        &self.changes
    }

    pub fn reply(self, result: Result<(), DeviceRefusal>) {
        self.replier.send(result.map(|()| None));
    }
}

/// A handle for other tasks: publish events, or send any stanza, through the device's
/// connection. Cheap to clone; sends made while reconnecting wait for the new connection.
#[derive(Debug, Clone)]
pub struct DeviceHandle {
    tx: mpsc::UnboundedSender<Element>,
}

impl DeviceHandle {
    /// Publishes an item to the device's event `event` (PEP, XEP-0163).
    pub fn publish(&self, event: &str, payload: Element) -> Result<(), ClientError> {
        self.send(publish_iq(event, payload))
    }

    pub fn send(&self, stanza: Element) -> Result<(), ClientError> {
        self.tx.send(stanza).map_err(|_| ClientError::Closed)
    }
}

fn publish_iq(event: &str, payload: Element) -> Element {
    let item = Element::new("item", ns::PUBSUB)
        .with_attr("id", new_id())
        .with_child(payload);
    let publish = Element::new("publish", ns::PUBSUB)
        .with_attr("node", event_node(event))
        .with_child(item);
    Element::new("iq", ns::CLIENT)
        .with_attr("type", "set")
        .with_attr("id", new_id())
        .with_child(Element::new("pubsub", ns::PUBSUB).with_child(publish))
}

/// A device connected to its IRSP; see the [module docs](self).
pub struct Device {
    opts: ConnectOptions,
    identity: DeviceIdentity,
    description: Description,
    session: Option<Bound>,
    backoff: Backoff,
    /// How long the connection may stay silent before the device pings the server itself; a
    /// second silent period means the connection is dead.
    keepalive: Duration,
    tx: mpsc::UnboundedSender<Element>,
    rx: mpsc::UnboundedReceiver<Element>,
    reconnects: u64,
    resumptions: u64,
    /// XEP-0198 state of the current session, kept across a drop so it can be resumed.
    sm: Option<StreamManagement>,
    /// The full JID of the session to resume.
    last_jid: Option<Jid>,
    /// Stanzas that arrived while the SDK waited for something else.
    backlog: VecDeque<Element>,
}

/// What one wait of [`Device::next`] produced.
enum Wake {
    Inbound(Result<Option<Element>, ClientError>),
    Outbound(Element),
}

impl Device {
    /// Logs in (registering first if the identity says so and the account does not exist),
    /// publishes the description and sends initial presence.
    pub async fn start(
        opts: ConnectOptions,
        identity: DeviceIdentity,
        description: Description,
    ) -> Result<Device, ClientError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut device = Device {
            opts,
            identity,
            description,
            session: None,
            backoff: Backoff::default(),
            keepalive: Duration::from_secs(45),
            tx,
            rx,
            reconnects: 0,
            resumptions: 0,
            sm: None,
            last_jid: None,
            backlog: VecDeque::new(),
        };
        let session = device.login().await?;
        device.session = Some(session);
        Ok(device)
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Device {
        self.backoff = backoff;
        self
    }

    pub fn with_keepalive(mut self, keepalive: Duration) -> Device {
        self.keepalive = keepalive;
        self
    }

    /// The full JID of the current connection (None while reconnecting).
    pub fn jid(&self) -> Option<&Jid> {
        self.session.as_ref().map(Bound::jid)
    }

    pub fn description(&self) -> &Description {
        &self.description
    }

    /// How many times the device has reconnected since it started.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// How many of those reconnections resumed the session (XEP-0198) rather than starting a
    /// new one: a resumption keeps the JID and delivers what was sent meanwhile.
    pub fn resumptions(&self) -> u64 {
        self.resumptions
    }

    pub fn handle(&self) -> DeviceHandle {
        DeviceHandle {
            tx: self.tx.clone(),
        }
    }

    /// Publishes an item to event `event`; the IRSP's answer is read by [`Self::next`].
    pub fn publish(&self, event: &str, payload: Element) -> Result<(), ClientError> {
        self.handle().publish(event, payload)
    }

    /// The next request for the device's code. Meanwhile it answers pings and `describe`,
    /// refuses what the description does not allow, writes replies and publishes queued by
    /// handles, and reconnects with back-off when the connection is lost. Errors only when it
    /// must not reconnect: the account was deleted, another login replaced this one, or the
    /// back-off gave up.
    pub async fn next(&mut self) -> Result<Request, ClientError> {
        loop {
            if self.session.is_some()
                && let Some(stanza) = self.backlog.pop_front()
            {
                match self.handle_inbound(stanza).await {
                    Ok(Some(request)) => return Ok(request),
                    Ok(None) => continue,
                    Err(e) => {
                        self.lost(e)?;
                        continue;
                    }
                }
            }
            let Some(session) = self.session.as_mut() else {
                self.reconnect().await?;
                continue;
            };
            let wake = tokio::select! {
                inbound = session.recv_timeout(self.keepalive) => Wake::Inbound(inbound),
                Some(out) = self.rx.recv() => Wake::Outbound(out),
            };
            let outcome = match wake {
                Wake::Outbound(stanza) => self.send_stanza(stanza).await.map(|()| None),
                Wake::Inbound(Ok(Some(el))) => self.on_element(el).await,
                Wake::Inbound(Ok(None)) => self.on_silence().await,
                Wake::Inbound(Err(e)) => Err(e),
            };
            match outcome {
                Ok(Some(request)) => return Ok(request),
                Ok(None) => {}
                Err(e) => self.lost(e)?,
            }
        }
    }

    /// The connection failed: forget it (to reconnect), unless the error says not to.
    fn lost(&mut self, e: ClientError) -> Result<(), ClientError> {
        if must_stop(&e) {
            return Err(e);
        }
        tracing::info!(device = %self.identity.id, error = %e, "connection lost; reconnecting");
        self.session = None;
        Ok(())
    }

    /// Sends a stanza, counting it for XEP-0198 and asking for an ack when enough wait.
    async fn send_stanza(&mut self, stanza: Element) -> Result<(), ClientError> {
        let Some(session) = self.session.as_mut() else {
            return Err(ClientError::Closed);
        };
        session.send(&stanza).await?;
        if let Some(sm) = self.sm.as_mut() {
            sm.on_sent(&stanza);
            if sm.wants_ack() {
                session.send(&sm::request()).await?;
            }
        }
        Ok(())
    }

    /// One element from the server: stream-management nonzas are answered here, stanzas are
    /// counted and handled.
    async fn on_element(&mut self, el: Element) -> Result<Option<Request>, ClientError> {
        if el.ns() == ns::SM {
            match (el.name(), self.sm.as_mut(), self.session.as_mut()) {
                ("r", Some(sm), Some(session)) => session.send(&sm::ack(sm.handled)).await?,
                ("a", Some(sm), _) => sm.on_ack(sm::h_of(&el).unwrap_or(0)),
                _ => {}
            }
            return Ok(None);
        }
        if let Some(sm) = self.sm.as_mut() {
            sm.on_received(&el);
        }
        self.handle_inbound(el).await
    }

    /// Sends unavailable presence and closes the stream.
    pub async fn close(mut self) -> Result<(), ClientError> {
        match self.session.take() {
            Some(mut session) => {
                let unavailable =
                    Element::new("presence", ns::CLIENT).with_attr("type", "unavailable");
                session.send(&unavailable).await?;
                session.close().await
            }
            None => Ok(()),
        }
    }

    /// Drops the TCP connection without a word, as a lost network would (tests use it to
    /// exercise reconnection).
    pub fn drop_connection(&mut self) {
        self.session = None;
    }

    /// A new session: log in (registering first if need be), bind, enable stream management,
    /// describe, and send initial presence (after enabling, so what the server stored for the
    /// device counts as unacknowledged until the device acks it).
    async fn login(&mut self) -> Result<Bound, ClientError> {
        let stream = match self.authenticate().await {
            Err(ClientError::Sasl(c))
                if c == "not-authorized" && self.identity.registration.is_some() =>
            {
                self.register().await?;
                self.authenticate().await?
            }
            other => other?,
        };
        self.start_session(stream.bind(None).await?).await
    }

    async fn start_session(&mut self, mut session: Bound) -> Result<Bound, ClientError> {
        self.backlog.clear();
        self.sm = self.enable_sm(&mut session).await?;
        self.last_jid = Some(session.jid().clone());
        let describe = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", new_id())
            .with_child(self.description.to_element());
        session.iq(describe.clone()).await?;
        let presence = Element::new("presence", ns::CLIENT);
        session.send(&presence).await?;
        if let Some(sm) = self.sm.as_mut() {
            // The answer `iq` consumed was a stanza the server counted as sent to us.
            sm.on_sent(&describe);
            sm.on_received(&describe);
            sm.on_sent(&presence);
        }
        Ok(session)
    }

    /// `<enable resume='true'/>`; None when the server has no stream management.
    async fn enable_sm(
        &mut self,
        session: &mut Bound,
    ) -> Result<Option<StreamManagement>, ClientError> {
        let enable = Element::new("enable", ns::SM).with_attr("resume", "true");
        session.send(&enable).await?;
        loop {
            let el = session.recv().await?;
            if el.is("enabled", ns::SM) {
                let id = (el.attr("resume") == Some("true"))
                    .then(|| el.attr("id").map(str::to_owned))
                    .flatten();
                return Ok(Some(StreamManagement::new(id)));
            }
            if el.is("failed", ns::SM) {
                return Ok(None);
            }
            self.backlog.push_back(el);
        }
    }

    async fn authenticate(&self) -> Result<crate::Authenticated, ClientError> {
        Connected::connect(&self.opts)
            .await?
            .authenticate(&self.identity.id, &self.identity.password)
            .await
    }

    /// After a drop: resume the old session if the server still holds it (what it queued
    /// meanwhile follows, and the device resends what the server never handled), else log in
    /// anew.
    async fn resume_or_login(&mut self) -> Result<Bound, ClientError> {
        let previous = self
            .sm
            .as_ref()
            .and_then(|sm| Some((sm.id.clone()?, sm.handled)))
            .zip(self.last_jid.clone());
        let Some(((id, handled), jid)) = previous else {
            return self.login().await;
        };
        let stream = self.authenticate().await?;
        match stream.resume(jid, &id, handled).await? {
            Resumption::Resumed {
                mut session,
                answer,
            } => {
                let resend = self
                    .sm
                    .as_mut()
                    .map(|sm| sm.unhandled_after(sm::h_of(&answer).unwrap_or(0)))
                    .unwrap_or_default();
                for stanza in &resend {
                    session.send(stanza).await?;
                }
                self.resumptions += 1;
                Ok(session)
            }
            Resumption::Failed { stream, .. } => {
                self.sm = None;
                self.start_session(stream.bind(None).await?).await
            }
        }
    }

    async fn register(&self) -> Result<(), ClientError> {
        let Some(registration) = &self.identity.registration else {
            return Ok(());
        };
        let mut conn = Connected::connect(&self.opts).await?;
        conn.register(
            &self.identity.id,
            &self.identity.password,
            vec![registration.to_element()],
        )
        .await?;
        tracing::info!(device = %self.identity.id, "registered");
        Ok(())
    }

    async fn reconnect(&mut self) -> Result<(), ClientError> {
        let mut attempt = 0;
        loop {
            tokio::time::sleep(self.backoff.delay(attempt)).await;
            match self.resume_or_login().await {
                Ok(session) => {
                    self.session = Some(session);
                    self.reconnects += 1;
                    return Ok(());
                }
                Err(e) if must_stop(&e) => return Err(e),
                Err(e) => {
                    attempt += 1;
                    if self.backoff.max_attempts.is_some_and(|max| attempt >= max) {
                        return Err(e);
                    }
                    tracing::info!(device = %self.identity.id, attempt, error = %e, "reconnect failed");
                }
            }
        }
    }

    /// A silent period: ping the server and wait once more; anything at all proves the link
    /// (and a request among it is handled, not lost), a second silence means it is dead.
    async fn on_silence(&mut self) -> Result<Option<Request>, ClientError> {
        let Some(session) = self.session.as_mut() else {
            return Ok(None);
        };
        let ping = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("id", new_id())
            .with_attr("to", session.jid().domain())
            .with_child(Element::new("ping", ns::PING));
        self.send_stanza(ping).await?;
        let Some(session) = self.session.as_mut() else {
            return Ok(None);
        };
        match session.recv_timeout(self.keepalive).await? {
            Some(el) => self.on_element(el).await,
            None => Err(ClientError::Timeout),
        }
    }

    async fn handle_inbound(&mut self, stanza: Element) -> Result<Option<Request>, ClientError> {
        if stanza.name() != "iq" {
            return Ok(Some(Request::Stanza(stanza)));
        }
        let Some(iq_type) = IqType::of(&stanza) else {
            return Ok(None);
        };
        if !iq_type.is_request() {
            if iq_type == IqType::Error {
                tracing::warn!(device = %self.identity.id, %stanza, "the IRSP refused a request");
            }
            return Ok(None);
        }
        match self.answer_iq(iq_type, stanza) {
            Answer::Now(reply) => {
                self.send_stanza(reply).await?;
                Ok(None)
            }
            Answer::Later(request) => Ok(Some(request)),
        }
    }

    fn answer_iq(&self, iq_type: IqType, iq: Element) -> Answer {
        let Some(payload) = iq_payload(&iq) else {
            return Answer::Now(error_reply(&iq, &StanzaErrorCondition::BadRequest.into()));
        };
        let from = iq.attr("from").and_then(|f| Jid::parse(f).ok());
        let key = (iq_type, payload.name(), payload.ns());
        let replier = || Replier {
            tx: self.tx.clone(),
            request: iq.clone(),
        };
        match key {
            (IqType::Get, "ping", ns::PING) => Answer::Now(iq_result(&iq, None)),
            (IqType::Get, device::DESCRIBE, NS_DEVICE) => {
                Answer::Now(iq_result(&iq, Some(self.description.to_element())))
            }
            (IqType::Get, device::GET, NS_DEVICE) => match self.checked_names(payload) {
                Ok(names) => Answer::Later(Request::Get(GetRequest {
                    from,
                    names,
                    replier: replier(),
                })),
                Err(refusal) => Answer::Now(error_reply(&iq, &refusal.to_error())),
            },
            (IqType::Set, device::SET, NS_DEVICE) => match self.description.check_set(payload) {
                Ok(changes) => Answer::Later(Request::Set(SetRequest {
                    from,
                    changes,
                    replier: replier(),
                })),
                Err(refusal) => Answer::Now(error_reply(&iq, &refusal.to_error())),
            },
            // RFC 6120 §8.4: a request nobody here understands.
            _ => Answer::Now(error_reply(
                &iq,
                &StanzaError::new(StanzaErrorCondition::ServiceUnavailable),
            )),
        }
    }

    /// The device checks again what the IRSP checked: it need not trust its server either.
    fn checked_names(&self, get: &Element) -> Result<Vec<String>, DeviceRefusal> {
        self.description.check_get(get)?;
        Ok(device::requested_names(get)?
            .into_iter()
            .map(str::to_owned)
            .collect())
    }
}

enum Answer {
    Now(Element),
    Later(Request),
}

/// Errors after which reconnecting would be wrong: the account is gone or disabled, the
/// password is wrong, or another login of this device replaced this one.
fn must_stop(e: &ClientError) -> bool {
    match e {
        ClientError::Stream(s) => matches!(s, StreamError::Conflict | StreamError::NotAuthorized),
        ClientError::Sasl(_) | ClientError::Tls(_) => true,
        _ => false,
    }
}
