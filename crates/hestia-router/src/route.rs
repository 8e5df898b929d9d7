//! Where each stanza goes (the decision table of `docs/routing.md`): to the server's own
//! handlers, to one connection, to every available connection of an account, or back to the
//! sender as an error. Every stanza between two accounts first passes the relationship and
//! access-right rule of [`crate::relations::may_reach`]; a refused one is answered exactly as a
//! stanza to an address that does not exist.

use std::sync::Arc;

use hestia_proto::stanza::{self, error_reply, iq_payload, iq_result};
use hestia_proto::{IqType, Jid, StanzaError, StanzaErrorCondition as Cond, StanzaKind, ns};
use hestia_xml::Element;

use crate::journal::JournalError;
use crate::relations::{Need, may_reach};
use crate::{IqRequest, Irsp, SessionHandle};

/// What the caller (the sender's session) should write back, if anything.
pub type Reply = Option<Element>;

/// Routes one stanza whose `from` the session has already stamped.
pub async fn route(irsp: &Arc<Irsp>, from: &Jid, stanza: Element) -> Reply {
    let kind = StanzaKind::of(&stanza)?;
    metrics::counter!("hestia_stanzas_routed_total", "kind" => kind.as_str()).increment(1);
    let to = match stanza.attr("to").map(Jid::parse) {
        None => None,
        Some(Ok(j)) => Some(j),
        Some(Err(_)) => return bounce(&stanza, Cond::JidMalformed),
    };
    if let Some(to) = to.as_ref().filter(|to| irsp.components.is_component(to)) {
        return irsp.components.deliver(to, stanza);
    }
    match kind {
        StanzaKind::Iq => route_iq(irsp, from, to, stanza).await,
        StanzaKind::Message => route_message(irsp, from, to, stanza).await,
        StanzaKind::Presence => crate::presence::route_presence(irsp, from, to, stanza).await,
    }
}

/// An error reply, unless the stanza is itself an error (RFC 6120 §8.3.1).
pub fn bounce(stanza: &Element, condition: Cond) -> Reply {
    (!stanza::is_error(stanza)).then(|| error_reply(stanza, &StanzaError::new(condition)))
}

async fn route_iq(irsp: &Arc<Irsp>, from: &Jid, to: Option<Jid>, iq: Element) -> Reply {
    let Some(iq_type) = IqType::of(&iq) else {
        return bounce(&iq, Cond::BadRequest);
    };
    if iq.attr("id").is_none() || (iq_type.is_request() && iq_payload(&iq).is_none()) {
        return bounce(&iq, Cond::BadRequest);
    }
    let to = to.unwrap_or_else(|| from.to_bare());
    if !irsp.is_local(&to) {
        return bounce(&iq, Cond::RemoteServerNotFound);
    }
    if !is_reachable(irsp, from, &to, iq_need(iq_type, &iq)).await {
        return iq_type
            .is_request()
            .then(|| bounce(&iq, Cond::ServiceUnavailable))
            .flatten();
    }
    let to = match checked_property_request(irsp, from, to, iq_type, &iq).await {
        Ok(to) => to,
        Err(refusal) => return Some(error_reply(&iq, &refusal)),
    };
    if to.is_full() {
        return deliver_to_full(irsp, &to, iq, Cond::ServiceUnavailable);
    }
    if !iq_type.is_request() {
        // Results and errors addressed to the server or a bare JID answer nothing we asked.
        return None;
    }
    let is_own = to == from.to_bare() || irsp.is_domain(&to) || irsp.service(&to).is_some();
    handle_iq(irsp, Some(from.clone()), to, iq, is_own, None).await
}

/// Dispatches an IQ request to the feature that handles its payload, or answers
/// `service-unavailable` (RFC 6120 §8.4). `is_own` is false for another account's bare JID,
/// which only account-level handlers answer, and only for an existing account. An IQ to a
/// hosted service reaches only that service's handlers and those that answer for every
/// address (disco), so `proxy.D` does not answer roster or registration queries.
pub async fn handle_iq(
    irsp: &Arc<Irsp>,
    from: Option<Jid>,
    to: Jid,
    iq: Element,
    is_own: bool,
    remote_ip: Option<std::net::IpAddr>,
) -> Reply {
    // RFC 6120 §8.1.3, §8.2.3: an id and exactly one payload, also before authentication.
    let (Some(iq_type), Some(payload), Some(_)) = (IqType::of(&iq), iq_payload(&iq), iq.attr("id"))
    else {
        return bounce(&iq, Cond::BadRequest);
    };
    let handler = irsp.registry.find(iq_type, payload.name(), payload.ns());
    let service = irsp.service(&to);
    let handler = match handler {
        Some(h) if (from.is_some() || h.is_pre_auth) && h.answers_for(service) => h.clone(),
        _ => return bounce(&iq, Cond::ServiceUnavailable),
    };
    if !(is_own || (handler.is_for_accounts && account_exists(irsp, &to).await)) {
        return bounce(&iq, Cond::ServiceUnavailable);
    }
    let mut reply_to = iq.clone();
    if let Some(from) = &from {
        reply_to.set_attr("from", from.to_string());
    }
    reply_to.set_attr("to", to.to_string());
    let req = IqRequest {
        from,
        to,
        iq,
        remote_ip,
    };
    match (handler.run)(irsp.clone(), req).await {
        Ok(payload) => Some(iq_result(&reply_to, payload)),
        Err(e) => Some(error_reply(&reply_to, &e)),
    }
}

/// What an IQ of this type asks of the relationship with a device (§9). Subscribing to a
/// device's events is a `set` that changes nothing on the device: `view` suffices.
fn iq_need(iq_type: IqType, iq: &Element) -> Need {
    match iq_type {
        IqType::Get => Need::View,
        IqType::Set if iq_payload(iq).is_some_and(|p| p.ns() == ns::PUBSUB) => Need::View,
        IqType::Set => Need::Control,
        IqType::Result | IqType::Error => Need::Related,
    }
}

/// A device property request to another account (§11.2): checked against the device's
/// description, and sent to the device's one connection when addressed to its bare JID —
/// `service-unavailable` at once when the device is offline. Anything else passes unchanged.
async fn checked_property_request(
    irsp: &Irsp,
    from: &Jid,
    to: Jid,
    iq_type: IqType,
    iq: &Element,
) -> Result<Jid, StanzaError> {
    let is_checked =
        iq_payload(iq).is_some_and(|p| crate::properties::is_property_request(iq_type, p));
    let Some(device) = to
        .local()
        .filter(|d| is_checked && Some(*d) != from.local())
    else {
        return Ok(to);
    };
    if let Some(payload) = iq_payload(iq) {
        crate::properties::check(irsp, device, payload).await?;
    }
    if to.is_full() || !is_device(irsp, device).await {
        return Ok(to);
    }
    crate::properties::device_connection(irsp, &to)
        .ok_or_else(|| StanzaError::new(Cond::ServiceUnavailable))
}

async fn is_device(irsp: &Irsp, localpart: &str) -> bool {
    matches!(irsp.relations.snapshot(&irsp.store, localpart).await, Ok(s) if s.is_device())
}

/// The relationship rule for a stanza from `from` to `to`; stanzas to the domain, to the
/// sender's own account, and to addresses of no account are not its business. Features that
/// act for the sender towards another account (the bytestream proxy) ask it too.
pub async fn is_reachable(irsp: &Irsp, from: &Jid, to: &Jid, need: Need) -> bool {
    let (Some(target), Some(sender)) = (to.local(), from.local()) else {
        return true;
    };
    if target == sender {
        return true;
    }
    match irsp.relations.snapshot(&irsp.store, target).await {
        Ok(snapshot) => {
            // A user is asked for nothing by rights; any relationship will do.
            let need = if snapshot.is_device() {
                need
            } else {
                Need::Related
            };
            may_reach(&snapshot, sender, need)
        }
        Err(e) => {
            tracing::warn!(error = %e, "relationship lookup failed; stanza refused");
            false
        }
    }
}

async fn account_exists(irsp: &Irsp, jid: &Jid) -> bool {
    let Some(local) = jid.local() else {
        return false;
    };
    if !irsp.directory.sessions_of(jid).is_empty() {
        return true;
    }
    matches!(irsp.store.credentials(local).await, Ok(Some(_)))
}

/// A message for an account with no available connection (RFC 6121 §8.5.2.2.1, XEP-0160):
/// `normal` and `chat` are stored for its next login unless they carry a XEP-0334 no-store
/// hint; headlines are dropped; anything not stored bounces `service-unavailable`, a full
/// quota `resource-constraint`. Only related senders get here, so storing reveals nothing.
async fn store_for_offline(irsp: &Irsp, to: &Jid, msg: Element) -> Reply {
    match msg.attr("type").unwrap_or("normal") {
        "headline" => return None,
        "normal" | "chat" if !has_no_store_hint(&msg) => {}
        _ => return bounce(&msg, Cond::ServiceUnavailable),
    }
    let Some(localpart) = to.local() else {
        return bounce(&msg, Cond::ServiceUnavailable);
    };
    match crate::push::store_offline(irsp, localpart, msg.clone()).await {
        crate::push::Stored::Yes => None,
        crate::push::Stored::Full => {
            let error = StanzaError::new(Cond::ResourceConstraint)
                .with_text("the recipient's offline storage is full");
            Some(error_reply(&msg, &error))
        }
        crate::push::Stored::Failed => bounce(&msg, Cond::ServiceUnavailable),
    }
}

/// XEP-0334 §4: `<no-store/>` or `<no-permanent-store/>` keep a message out of offline storage.
pub(crate) fn has_no_store_hint(msg: &Element) -> bool {
    msg.get_child("no-store", ns::HINTS).is_some()
        || msg.get_child("no-permanent-store", ns::HINTS).is_some()
}

fn deliver_to_full(irsp: &Irsp, to: &Jid, stanza: Element, missing: Cond) -> Reply {
    match irsp.directory.get(to) {
        Some(session) => deliver(&session, stanza),
        None => bounce(&stanza, missing),
    }
}

fn deliver(session: &SessionHandle, stanza: Element) -> Reply {
    match session.try_deliver(stanza) {
        Ok(()) => None,
        Err(stanza) => bounce(&stanza, Cond::ResourceConstraint),
    }
}

async fn route_message(irsp: &Arc<Irsp>, from: &Jid, to: Option<Jid>, msg: Element) -> Reply {
    let to = to.unwrap_or_else(|| from.to_bare());
    // To the domain, an XEP-0033 address list to expand; every other message to the domain is
    // bounced by the table below, like one to a remote domain.
    if irsp.is_domain(&to) && crate::multicast::is_multicast(&msg) {
        return crate::multicast::route(irsp, from, msg).await;
    }
    route_message_to(irsp, from, to, msg).await
}

/// A message to a single address (also each copy of a multicast), as the decision table says:
/// remote and domain addresses bounce, accounts get the relationship rule and delivery.
pub(crate) async fn route_message_to(irsp: &Arc<Irsp>, from: &Jid, to: Jid, msg: Element) -> Reply {
    if !irsp.is_local(&to) {
        return bounce(&msg, Cond::RemoteServerNotFound);
    }
    if to.local().is_none() {
        return bounce(&msg, Cond::ServiceUnavailable);
    }
    let msg_type = msg.attr("type").unwrap_or("normal");
    if !is_reachable(irsp, from, &to, Need::Related).await {
        return if msg_type == "headline" {
            None
        } else {
            bounce(&msg, Cond::ServiceUnavailable)
        };
    }
    if to.is_full() {
        if let Some(session) = irsp.directory.get(&to) {
            return deliver_to_sessions(irsp, &to, &[session], msg).await;
        }
        // RFC 6121 §8.5.3.2.1: no such resource — groupchat errors, headline is dropped,
        // normal and chat are treated as if addressed to the bare JID.
        match msg_type {
            "groupchat" => return bounce(&msg, Cond::ServiceUnavailable),
            "headline" => return None,
            _ => {}
        }
    }
    let available: Vec<SessionHandle> = irsp
        .directory
        .sessions_of(&to)
        .into_iter()
        .filter(SessionHandle::is_available)
        .collect();
    if available.is_empty() {
        return store_for_offline(irsp, &to, msg).await;
    }
    deliver_to_sessions(irsp, &to, &available, msg).await
}

/// Queues a message for an account's connections. With durable delivery a message that offline
/// storage would keep is journaled first, so the sender's stream counts it handled only once it
/// survives a crash ([`crate::journal`]); one journal row serves every connection it goes to.
async fn deliver_to_sessions(
    irsp: &Irsp,
    to: &Jid,
    sessions: &[SessionHandle],
    msg: Element,
) -> Reply {
    let journal = irsp.journal().filter(|_| is_storable(&msg));
    let (Some(journal), Some(owner)) = (journal, to.local()) else {
        return match sessions {
            // To a full JID a full queue bounces; a bare-JID copy a queue refuses is dropped.
            [one] if to.is_full() => deliver(one, msg),
            many => {
                for session in many {
                    session.deliver(msg.clone());
                }
                None
            }
        };
    };
    let id = match journal.append(owner, &msg).await {
        Ok(id) => id,
        Err(JournalError::NoAccount) => return bounce(&msg, Cond::ServiceUnavailable),
        Err(_) => return bounce(&msg, Cond::InternalServerError),
    };
    let queued = sessions
        .iter()
        .filter(|s| s.try_deliver_journaled(msg.clone(), id).is_ok())
        .count();
    if queued > 0 {
        return None;
    }
    journal.release(vec![id]).await;
    bounce(&msg, Cond::ResourceConstraint)
}

/// Whether offline storage would keep this message: `normal` or `chat` without a XEP-0334
/// no-store hint.
pub(crate) fn is_storable(msg: &Element) -> bool {
    matches!(msg.attr("type").unwrap_or("normal"), "normal" | "chat") && !has_no_store_hint(msg)
}
