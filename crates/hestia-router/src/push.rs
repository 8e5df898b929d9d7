//! Server push (14543-5-8 §11.5): a message from the IRSP's domain carrying an IGRS push
//! payload. Pushes that matter later (relationship requests and results, rights changes, code
//! resets) are stored for an account with no available connection and delivered at its next
//! initial presence; transient notices are `headline`s and never stored.

use hestia_proto::igrs::{ForcedLogout, NS_PUSH};
use hestia_proto::ns;
use hestia_store::StoreError;
use hestia_xml::Element;

use crate::journal::StoreOutcome;
use crate::relations::account_jid;
use crate::{Irsp, SessionHandle};

/// Whether a push waits for an offline recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// `type='normal'`, stored while the recipient is offline.
    Stored,
    /// `type='headline'`, for available connections only.
    Transient,
}

/// How a push went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Delivered(usize),
    Stored,
    /// Nothing available and not stored (transient, quota full, or no such account).
    Dropped,
}

/// `<message from=D type=…><push xmlns='…:push'>{payload}</push></message>`.
pub fn push_message(irsp: &Irsp, payload: Element, retention: Retention) -> Element {
    let kind = match retention {
        Retention::Stored => "normal",
        Retention::Transient => "headline",
    };
    Element::new("message", ns::CLIENT)
        .with_attr("from", irsp.domain.to_string())
        .with_attr("type", kind)
        .with_attr("id", hestia_proto::stanza::new_id())
        .with_child(Element::new("push", NS_PUSH).with_child(payload))
}

/// Pushes `payload` to every available connection of the account `localpart`, storing it when
/// there is none and the push is [`Retention::Stored`].
pub async fn push(
    irsp: &Irsp,
    localpart: &str,
    payload: Element,
    retention: Retention,
) -> PushOutcome {
    let message = push_message(irsp, payload, retention);
    deliver_or_store(irsp, localpart, message, retention == Retention::Stored).await
}

/// What a push to several recipients came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushReport {
    pub recipients: usize,
    /// Connections that got it at once.
    pub delivered: usize,
    /// Recipients it waits for, stored.
    pub stored: usize,
    pub dropped: usize,
}

/// [`push`] to each of `recipients`.
pub async fn push_to_all(
    irsp: &Irsp,
    recipients: &[String],
    payload: &Element,
    retention: Retention,
) -> PushReport {
    let mut report = PushReport {
        recipients: recipients.len(),
        ..PushReport::default()
    };
    for local in recipients {
        match push(irsp, local, payload.clone(), retention).await {
            PushOutcome::Delivered(n) => report.delivered += n,
            PushOutcome::Stored => report.stored += 1,
            PushOutcome::Dropped => report.dropped += 1,
        }
    }
    report
}

/// The devices on which the user `localpart` holds a right, sorted: the recipients of a push
/// "to all devices of a user".
pub async fn devices_of(irsp: &Irsp, localpart: &str) -> Result<Vec<String>, StoreError> {
    let snapshot = irsp.relations.snapshot(&irsp.store, localpart).await?;
    let mut devices: Vec<String> = snapshot.rights.keys().cloned().collect();
    devices.sort();
    Ok(devices)
}

/// Delivers a stanza to the account's available connections (`to` set per connection), or
/// stores it for the next login when `may_store`.
pub async fn deliver_or_store(
    irsp: &Irsp,
    localpart: &str,
    stanza: Element,
    may_store: bool,
) -> PushOutcome {
    let Some(bare) = account_jid(irsp, localpart) else {
        return PushOutcome::Dropped;
    };
    let delivered = send_to_available(irsp, &bare, &stanza);
    if delivered > 0 {
        return PushOutcome::Delivered(delivered);
    }
    if !may_store {
        return PushOutcome::Dropped;
    }
    match store_offline(irsp, localpart, stanza).await {
        Stored::Yes => PushOutcome::Stored,
        Stored::Full | Stored::Failed => PushOutcome::Dropped,
    }
}

/// A copy of `stanza` to each available connection of the account `bare`, `to` set per
/// connection; returns how many took one.
pub fn send_to_available(irsp: &Irsp, bare: &hestia_proto::Jid, stanza: &Element) -> usize {
    send_to_sessions(irsp, bare, stanza, SessionHandle::is_available)
}

/// As [`send_to_available`], also to application-server observers of the account: for
/// presence broadcasts and event notifications, which they hear on the account's behalf.
pub fn send_to_listeners(irsp: &Irsp, bare: &hestia_proto::Jid, stanza: &Element) -> usize {
    send_to_sessions(irsp, bare, stanza, SessionHandle::hears_broadcasts)
}

fn send_to_sessions(
    irsp: &Irsp,
    bare: &hestia_proto::Jid,
    stanza: &Element,
    wants: impl Fn(&SessionHandle) -> bool,
) -> usize {
    let mut delivered = 0;
    for session in irsp.directory.sessions_of(bare) {
        if wants(&session) {
            let mut copy = stanza.clone();
            copy.set_attr("to", session.info.jid.to_string());
            delivered += usize::from(session.deliver(copy));
        }
    }
    delivered
}

/// Ends a session for `why`: a transient `<logout reason/>` push, then the stream error. Both go
/// through the session's one queue, so the client reads the reason before the stream ends.
pub fn force_logout(irsp: &Irsp, session: &SessionHandle, why: ForcedLogout) {
    let mut push = push_message(irsp, why.to_element(), Retention::Transient);
    push.set_attr("to", session.info.jid.to_string());
    session.deliver(push);
    session.close(why.stream_error(), Some(why.text().to_owned()));
    metrics::counter!("hestia_forced_logouts_total", "reason" => why.reason()).increment(1);
}

/// What became of a stanza handed to offline storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Committed: it survives a crash from here on.
    Yes,
    /// The account's quota (`offline.max_stanzas`) is used up.
    Full,
    /// The store failed (or the account is gone).
    Failed,
}

/// Stores a stanza for the account's next login, addressed to its bare JID; returns only once
/// the store has committed it, so a sender is never told "accepted" for a stanza a crash loses.
pub async fn store_offline(irsp: &Irsp, localpart: &str, mut stanza: Element) -> Stored {
    let Some(bare) = account_jid(irsp, localpart) else {
        return Stored::Failed;
    };
    stanza.set_attr("to", bare.to_string());
    let xml = stanza.to_xml(ns::CLIENT);
    let max = irsp.options.max_offline_stanzas;
    match irsp.commits.store(localpart, xml, max).await {
        Ok(StoreOutcome::Stored) => {
            metrics::counter!("hestia_offline_stored_total").increment(1);
            Stored::Yes
        }
        Ok(StoreOutcome::Full) => {
            tracing::warn!(localpart, "offline storage full; stanza refused");
            metrics::counter!("hestia_offline_dropped_total", "reason" => "quota").increment(1);
            Stored::Full
        }
        Err(e) => {
            tracing::debug!(localpart, error = %e, "stanza not stored");
            Stored::Failed
        }
    }
}

/// Now as unix seconds; a clock before 1970 reads as 0.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
