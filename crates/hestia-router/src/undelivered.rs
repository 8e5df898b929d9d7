//! Stanzas a stream-management session (XEP-0198 §5) was sent but never acknowledged, when it
//! ends for good (closed, or hibernated past its resumption window): they were not delivered, so
//! they are treated as if the session had never had them. Messages that offline storage would
//! have kept (`normal`, `chat`, no XEP-0334 no-store hint) are stored for the account's next
//! login, stamped (XEP-0203) with when the server gave up on them unless already stamped; IQ
//! requests are answered to their sender with `recipient-unavailable` (what Prosody's
//! mod_smacks answers); everything else (presence, headlines, hinted messages, IQ answers,
//! errors) is dropped, as a lost connection drops it today.

use std::sync::Arc;

use hestia_proto::stanza::{error_reply, is_error};
use hestia_proto::{IqType, Jid, StanzaError, StanzaErrorCondition as Cond, StanzaKind, ns};
use hestia_xml::Element;

use crate::Irsp;
use crate::journal::JournalId;
use crate::push::{Stored, store_offline, unix_now};

/// What became of the undelivered stanzas (for logs and tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Returned {
    pub stored: usize,
    pub bounced: usize,
    pub dropped: usize,
}

/// A stanza a session was given and never had acknowledged, with its delivery-journal row when
/// durable delivery journaled it.
#[derive(Debug)]
pub struct Unacked {
    pub stanza: Box<Element>,
    pub journal: Option<JournalId>,
}

impl Unacked {
    pub fn new(stanza: Box<Element>, journal: Option<JournalId>) -> Unacked {
        Unacked { stanza, journal }
    }
}

/// Handles the undelivered stanzas of `session`, oldest first. A journaled message is already
/// stored: its row just stops being in flight.
pub async fn return_undelivered(
    irsp: &Arc<Irsp>,
    session: &Jid,
    stanzas: Vec<Unacked>,
) -> Returned {
    let mut returned = Returned::default();
    let mut kept = Vec::new();
    for Unacked { stanza, journal } in stanzas {
        if let Some(id) = journal {
            kept.push(id);
            returned.stored += 1;
            continue;
        }
        let outcome = match StanzaKind::of(&stanza) {
            Some(StanzaKind::Message) => store_message(irsp, session, *stanza).await,
            Some(StanzaKind::Iq) => bounce_request(irsp, session, &stanza).await,
            Some(StanzaKind::Presence) | None => Outcome::Dropped,
        };
        match outcome {
            Outcome::Stored => returned.stored += 1,
            Outcome::Bounced => returned.bounced += 1,
            Outcome::Dropped => returned.dropped += 1,
        }
    }
    if let Some(journal) = irsp.journal() {
        journal.keep(kept).await;
    }
    if returned != Returned::default() {
        tracing::debug!(jid = %session, ?returned, "unacknowledged stanzas returned");
    }
    returned
}

enum Outcome {
    Stored,
    Bounced,
    Dropped,
}

/// The offline-storage rule of `route::store_for_offline`, minus the sender-facing errors
/// (the sender was told nothing when the stanza was queued); a full quota bounces instead.
async fn store_message(irsp: &Arc<Irsp>, session: &Jid, mut msg: Element) -> Outcome {
    let Some(localpart) = session.local() else {
        return Outcome::Dropped;
    };
    if !crate::route::is_storable(&msg) {
        return Outcome::Dropped;
    }
    if msg.get_child("delay", ns::DELAY).is_none() {
        msg.push_child(
            Element::new("delay", ns::DELAY)
                .with_attr("from", irsp.domain.to_string())
                .with_attr("stamp", crate::presence::rfc3339(unix_now())),
        );
    }
    match store_offline(irsp, localpart, msg.clone()).await {
        Stored::Yes => Outcome::Stored,
        Stored::Full | Stored::Failed => bounce(irsp, session, &msg).await,
    }
}

/// An IQ get/set from an account gets `recipient-unavailable`; answers and the server's own
/// requests (keep-alive pings) are dropped.
async fn bounce_request(irsp: &Arc<Irsp>, session: &Jid, iq: &Element) -> Outcome {
    let is_request = IqType::of(iq).is_some_and(IqType::is_request);
    if !is_request {
        return Outcome::Dropped;
    }
    bounce(irsp, session, iq).await
}

async fn bounce(irsp: &Arc<Irsp>, session: &Jid, stanza: &Element) -> Outcome {
    let sender = stanza.attr("from").and_then(|f| Jid::parse(f).ok());
    let Some(sender) = sender.filter(|s| s.local().is_some()) else {
        return Outcome::Dropped;
    };
    if is_error(stanza) || !irsp.is_local(&sender) {
        return Outcome::Dropped;
    }
    let mut reply = error_reply(stanza, &StanzaError::new(Cond::RecipientUnavailable));
    // The answer comes from the address the sender wrote to, which may be the bare JID.
    if reply.attr("from").is_none() {
        reply.set_attr("from", session.to_string());
    }
    let from = Jid::parse(reply.attr("from").unwrap_or_default()).unwrap_or(session.clone());
    crate::route::route(irsp, &from, reply).await;
    Outcome::Bounced
}
