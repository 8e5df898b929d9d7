//! A component after its handshake: it acts for the accounts that granted it, talks to the
//! IRSP under its own address, and hears what is addressed to its domain.
//!
//! - `from='alice@D'` (bare) or `from='alice@D/r'`: the stanza goes through an observer session
//!   of alice ([`AppServer::act_for_as`], bound beside her connections under
//!   `alice@D/app-<name>-<id>` or `…/app-<name>-r`), opened on first use and only if alice
//!   granted this application server, so her relationships and rights apply exactly as for
//!   the in-process [`hestia_router::appserver::AppSession`]. What that session receives
//!   (answers, messages to it, the presence and events alice hears) is written to the component
//!   with `to` = the observer's full JID.
//! - `from='<name>.D'`: IQ `get` requests to the IRSP itself or a hosted service (disco, ping,
//!   version) and answers to IQ requests the component received; nothing else, so the
//!   component's own address never reaches an account outside the relationship rule.
//! - any other `from` (an account without a grant, after a revoke, another domain):
//!   `forbidden` (RFC 6120 §8.3.3.6). A stanza without `from` ends the stream with
//!   `improper-addressing` (RFC 6120 §4.9.3.7): a component must address every stanza.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use hestia_proto::stanza::new_id;
use hestia_proto::{IqType, Jid, StanzaErrorCondition as Cond, StanzaKind, StreamError, ns};
use hestia_router::appserver::{AppError, AppSender, AppServer, AppSession};
use hestia_router::route::{self, Reply, bounce};
use hestia_router::{Irsp, components};
use hestia_xml::{Element, Node, StreamEvent, StreamParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Exit, xml_exit};

/// How many IQ requests to the component are remembered for its answers.
const AWAITED: usize = 1024;

/// What the observer sessions' drain tasks hand to the connection.
enum Inbound {
    Stanza(Element),
    /// The observer session with this JID ended (grant revoked, account deleted).
    Ended(Jid),
}

/// Runs the connected component until it closes, errs, or `stop` (the server's shutdown) fires.
pub(super) async fn run(
    app: AppServer,
    tcp: &mut TcpStream,
    parser: &mut StreamParser,
    stop: CancellationToken,
    tracker: &TaskTracker,
) -> Exit {
    let irsp = app.irsp().clone();
    let Ok(own) = Jid::domain_jid(&format!("{}.{}", app.name(), irsp.domain.domain())) else {
        return Some((StreamError::HostUnknown, "no such component"));
    };
    let (routed_tx, mut routed) = mpsc::channel(components::QUEUE);
    let Some(attachment) = irsp.components.attach(own.domain(), routed_tx) else {
        return Some((StreamError::Conflict, "this component is already connected"));
    };
    tracing::info!("component connected");
    metrics::gauge!("hestia_components_connected").increment(1.0);
    let (inbound_tx, mut inbound) = mpsc::channel(components::QUEUE);
    let mut conn = Connected {
        app,
        irsp,
        own,
        sessions: HashMap::new(),
        defaults: HashMap::new(),
        awaited: VecDeque::new(),
        stop: stop.child_token(),
        tracker: tracker.clone(),
        inbound_tx,
    };
    let mut buf = vec![0u8; 16 * 1024];
    let exit = loop {
        if let Err(exit) = conn.drain_parser(tcp, parser).await {
            break exit;
        }
        let out = tokio::select! {
            _ = stop.cancelled() => {
                break Some((StreamError::SystemShutdown, "the server is shutting down"));
            }
            read = tcp.read(&mut buf) => match read {
                Ok(0) | Err(_) => break None,
                Ok(n) => {
                    parser.feed(buf.get(..n).unwrap_or_default());
                    continue;
                }
            },
            Some(stanza) = routed.recv() => {
                conn.note_request(&stanza);
                stanza
            }
            Some(next) = inbound.recv() => match next {
                Inbound::Stanza(stanza) => stanza,
                Inbound::Ended(jid) => {
                    conn.forget(&jid);
                    continue;
                }
            },
        };
        if write(tcp, &[out]).await.is_err() {
            break None;
        }
    };
    conn.stop.cancel();
    conn.irsp.components.detach(attachment);
    metrics::gauge!("hestia_components_connected").decrement(1.0);
    exit
}

/// Writes stanzas (in `jabber:client`, as the router holds them) to the component stream.
async fn write(tcp: &mut TcpStream, stanzas: &[Element]) -> std::io::Result<()> {
    let mut out = Vec::new();
    for stanza in stanzas {
        renamespace(stanza, ns::CLIENT, ns::COMPONENT).write_to(&mut out, ns::COMPONENT);
    }
    if out.is_empty() {
        return Ok(());
    }
    tcp.write_all(&out).await
}

/// One connected component's state.
struct Connected {
    app: AppServer,
    irsp: Arc<Irsp>,
    /// `<name>.D`.
    own: Jid,
    /// Observer sessions by their full JID.
    sessions: HashMap<Jid, AppSender>,
    /// The observer session a bare `from` of each account goes through.
    defaults: HashMap<String, Jid>,
    /// IQ requests to the component as (requester, id, addressee): what it may answer.
    awaited: VecDeque<(Jid, String, Jid)>,
    /// Cancelled when the connection ends: the drain tasks stop and their sessions unbind.
    stop: CancellationToken,
    tracker: TaskTracker,
    inbound_tx: mpsc::Sender<Inbound>,
}

impl Connected {
    /// Handles every complete stanza the parser holds, writing refusals back.
    async fn drain_parser(
        &mut self,
        tcp: &mut TcpStream,
        parser: &mut StreamParser,
    ) -> Result<(), Exit> {
        let mut refusals = Vec::new();
        let result = loop {
            match parser.next() {
                Ok(Some(StreamEvent::Stanza(el))) => match self.handle_stanza(el).await {
                    Ok(Some(refusal)) => refusals.push(refusal),
                    Ok(None) => {}
                    Err(exit) => break Err(Some(exit)),
                },
                Ok(Some(StreamEvent::Close)) => break Err(None),
                Ok(Some(StreamEvent::Whitespace | StreamEvent::Open(_))) => {}
                Ok(None) => break Ok(()),
                Err(e) => break Err(Some(xml_exit(&e))),
            }
        };
        if write(tcp, &refusals).await.is_err() {
            return Err(None);
        }
        result
    }

    /// Routes one stanza from the component; `Ok(Some)` is a refusal to write back.
    async fn handle_stanza(&mut self, el: Element) -> Result<Reply, (StreamError, &'static str)> {
        let stanza = renamespace(&el, ns::COMPONENT, ns::CLIENT);
        if StanzaKind::of(&stanza).is_none() {
            return Err((StreamError::UnsupportedStanzaType, "not a stanza"));
        }
        let from = match stanza.attr("from").map(Jid::parse) {
            None => return Err((StreamError::ImproperAddressing, "a stanza without from")),
            Some(Err(_)) => return Ok(bounce(&stanza, Cond::JidMalformed)),
            Some(Ok(from)) => from,
        };
        if from.domain() == self.own.domain() {
            return Ok(self.as_own_address(&from, stanza).await);
        }
        if from.domain() == self.irsp.domain.domain() && from.local().is_some() {
            return Ok(self.send_as(&from, stanza).await);
        }
        tracing::debug!(%from, "component stanza from an address it cannot speak for");
        Ok(bounce(&stanza, Cond::Forbidden))
    }

    /// A stanza from the component's own address: IQ gets to the IRSP, push requests
    /// ([`super::push`]), answers to requests.
    async fn as_own_address(&mut self, from: &Jid, stanza: Element) -> Reply {
        let to = stanza.attr("to").and_then(|t| Jid::parse(t).ok());
        let iq_type = (stanza.name() == "iq")
            .then(|| IqType::of(&stanza))
            .flatten();
        match (iq_type, to) {
            (Some(IqType::Result | IqType::Error), Some(to)) => {
                self.answer(from, &to, stanza);
                None
            }
            (Some(IqType::Set), Some(to)) if from.local().is_none() && self.irsp.is_domain(&to) => {
                match super::push::request(&stanza) {
                    Some(request) => Some(super::push::answer(&self.app, &stanza, request).await),
                    None => bounce(&stanza, Cond::Forbidden),
                }
            }
            (Some(IqType::Get), Some(to))
                if from.local().is_none()
                    && (self.irsp.is_domain(&to) || self.irsp.service(&to).is_some()) =>
            {
                route::route(&self.irsp, from, stanza).await
            }
            _ => bounce(&stanza, Cond::Forbidden),
        }
    }

    /// Remembers an IQ request routed to the component, so that its answer may pass.
    fn note_request(&mut self, stanza: &Element) {
        let is_request =
            stanza.name() == "iq" && IqType::of(stanza).is_some_and(IqType::is_request);
        let from = stanza.attr("from").and_then(|f| Jid::parse(f).ok());
        let to = stanza.attr("to").and_then(|t| Jid::parse(t).ok());
        if let (true, Some(from), Some(to), Some(id)) = (is_request, from, to, stanza.attr("id")) {
            if self.awaited.len() >= AWAITED {
                self.awaited.pop_front();
            }
            self.awaited.push_back((from, id.to_owned(), to));
        }
    }

    /// Delivers the component's answer to the connection that asked; anything unasked is
    /// dropped, as RFC 6120 §8.2.3 has results and errors that answer nothing ignored.
    fn answer(&mut self, from: &Jid, to: &Jid, stanza: Element) {
        let id = stanza.attr("id").unwrap_or_default();
        let asked = self
            .awaited
            .iter()
            .position(|(requester, i, addressee)| requester == to && i == id && addressee == from);
        let Some(at) = asked else {
            tracing::debug!(%to, id, "component answer to nothing asked: dropped");
            return;
        };
        self.awaited.remove(at);
        if let Some(session) = self.irsp.directory.get(to) {
            session.deliver(stanza);
        }
    }

    /// Sends as the account in `from`, through its observer session; `forbidden` when it has
    /// not granted this application server (or revoked the grant).
    async fn send_as(&mut self, from: &Jid, stanza: Element) -> Reply {
        // A session ended by a revoke is forgotten and the grant checked again, once.
        for _ in 0..2 {
            let sender = match self.observer_for(from).await {
                Ok(sender) => sender,
                Err(condition) => return bounce(&stanza, condition),
            };
            match sender.send(stanza.clone()).await {
                Ok(()) => return None,
                Err(_) => self.forget(sender.jid()),
            }
        }
        bounce(&stanza, Cond::Forbidden)
    }

    /// The observer session for `from`: the account's default one for a bare JID, else the
    /// one named after the resource; opened on first use.
    async fn observer_for(&mut self, from: &Jid) -> Result<AppSender, Cond> {
        let account = from.local().unwrap_or_default();
        let prefix = self.app.resource_prefix();
        let suffix = match from.resource() {
            None => match self
                .defaults
                .get(account)
                .and_then(|j| self.sessions.get(j))
            {
                Some(sender) => return Ok(sender.clone()),
                None => new_id(),
            },
            Some(r) => r.strip_prefix(&prefix).unwrap_or(r).to_owned(),
        };
        let wanted = from.to_bare().with_resource(&format!("{prefix}{suffix}"));
        if let Some(sender) = wanted.ok().and_then(|j| self.sessions.get(&j)) {
            return Ok(sender.clone());
        }
        let session = self
            .app
            .act_for_as(account, &suffix)
            .await
            .map_err(|e| match e {
                AppError::NotGranted(_) | AppError::NoSuchAccount => {
                    tracing::debug!(account, "no grant to act for the account");
                    Cond::Forbidden
                }
                AppError::BadResource => Cond::JidMalformed,
                e => {
                    tracing::warn!(account, error = %e, "opening an observer session failed");
                    Cond::InternalServerError
                }
            })?;
        let sender = session.sender();
        let jid = sender.jid().clone();
        self.sessions.insert(jid.clone(), sender.clone());
        if from.resource().is_none() {
            self.defaults.insert(account.to_owned(), jid);
        }
        self.drain(session);
        Ok(sender)
    }

    /// Forwards what the observer session receives to the connection until either ends.
    fn drain(&self, mut session: AppSession) {
        let (stop, tx) = (self.stop.clone(), self.inbound_tx.clone());
        self.tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    next = session.recv() => match next {
                        Ok(stanza) => {
                            if tx.send(Inbound::Stanza(stanza)).await.is_err() {
                                break;
                            }
                        }
                        Err(_) => {
                            let _ = tx.send(Inbound::Ended(session.jid().clone())).await;
                            break;
                        }
                    },
                }
            }
        });
    }

    /// Drops the observer session with this JID.
    fn forget(&mut self, jid: &Jid) {
        self.sessions.remove(jid);
        self.defaults.retain(|_, j| j != jid);
    }
}

/// The stanza with every element in namespace `from` moved to `to`: the stanza namespace of
/// the component stream is `jabber:component:accept`, the router's `jabber:client`.
fn renamespace(el: &Element, from: &str, to: &str) -> Element {
    let ns = if el.ns() == from { to } else { el.ns() };
    let mut copy = Element::new(el.name(), ns);
    for (k, v) in el.attrs() {
        copy.set_attr(k, v);
    }
    for node in el.nodes() {
        match node {
            Node::Element(child) => copy.push_child(renamespace(child, from, to)),
            Node::Text(t) => copy.push_text(t.clone()),
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamespace_moves_only_the_stanza_namespace() {
        let el = Element::new("message", ns::COMPONENT)
            .with_attr("to", "a@d")
            .with_child(Element::new("body", ns::COMPONENT).with_text("hi"))
            .with_child(Element::new("ping", ns::PING));
        let client = renamespace(&el, ns::COMPONENT, ns::CLIENT);
        assert!(client.is("message", ns::CLIENT));
        assert_eq!(client.attr("to"), Some("a@d"));
        assert_eq!(
            client.get_child("body", ns::CLIENT).map(Element::text),
            Some("hi".to_owned())
        );
        assert!(client.get_child("ping", ns::PING).is_some());
        assert_eq!(renamespace(&client, ns::CLIENT, ns::COMPONENT), el);
    }
}
