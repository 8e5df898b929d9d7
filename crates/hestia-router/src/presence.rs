//! Online status (14543-5-8 §13, RFC 6121 §4): presence goes only across relationships. An
//! account's broadcast reaches its own connections and the contacts subscribed to it; a new
//! available connection is sent its contacts' current presence (the probes of §4.3, answered
//! from memory since every contact is local), its unanswered subscription requests and its
//! stored stanzas; going unavailable — by stanza or by a dropped connection — tells the same
//! contacts and everyone it sent directed presence to.

use std::sync::Arc;

use hestia_proto::igrs::NS_DEVICE;
use hestia_proto::{Jid, StanzaErrorCondition as Cond, ns};
use hestia_xml::Element;

use crate::journal::JournalId;
use crate::relations::{Need, Snapshot, account_jid, local_account, may_reach};
use crate::route::{Reply, bounce};
use crate::{Irsp, SessionHandle};

const SUBSCRIPTION_TYPES: [&str; 4] = ["subscribe", "subscribed", "unsubscribe", "unsubscribed"];

/// Routes one presence stanza from a bound connection.
pub async fn route_presence(
    irsp: &Arc<Irsp>,
    from: &Jid,
    to: Option<Jid>,
    presence: Element,
) -> Reply {
    let presence_type = presence.attr("type").unwrap_or("available").to_owned();
    let Some(to) = to else {
        if matches!(presence_type.as_str(), "available" | "unavailable") {
            broadcast(irsp, from, presence).await;
        }
        // RFC 6121 §3: subscription stanzas need a contact; others without `to` mean nothing.
        return None;
    };
    if !irsp.is_local(&to) {
        return bounce(&presence, Cond::RemoteServerNotFound);
    }
    let target = local_account(irsp, &to)?;
    if SUBSCRIPTION_TYPES.contains(&presence_type.as_str()) {
        if let Some(handler) = irsp.registry.subscription_handler() {
            (handler.run)(irsp.clone(), from.clone(), to.to_bare(), presence).await;
        }
        return None;
    }
    let sender = from.local()?;
    if target == sender {
        deliver_directed(irsp, &to, presence);
        return None;
    }
    let Ok(snapshot) = irsp.relations.snapshot(&irsp.store, target).await else {
        return None;
    };
    if !may_reach(&snapshot, sender, Need::Related) {
        // No bounce: an unrelated entity learns nothing, not even that the address exists.
        return None;
    }
    match presence_type.as_str() {
        "probe" => answer_probe(irsp, from, &to, &snapshot),
        "available" | "unavailable" => {
            if let Some(session) = irsp.directory.get(from) {
                session.note_directed_presence(&to, presence_type == "available");
            }
            deliver_directed(irsp, &to, presence);
        }
        _ => deliver_directed(irsp, &to, presence),
    }
    None
}

/// Directed presence: to the one connection, or every connection of the account.
fn deliver_directed(irsp: &Irsp, to: &Jid, presence: Element) {
    if to.is_full() {
        if let Some(session) = irsp.directory.get(to) {
            session.deliver(presence);
        }
        return;
    }
    for session in irsp.directory.sessions_of(to) {
        session.deliver(presence.clone());
    }
}

/// A probe from a contact subscribed to `to`: the current presence of each of its available
/// connections, or `unavailable` when it has none (RFC 6121 §4.3.2).
fn answer_probe(irsp: &Irsp, from: &Jid, to: &Jid, target: &Snapshot) {
    let Some(sender) = from.local() else { return };
    let is_subscribed = target
        .item(sender)
        .is_some_and(|i| i.subscription.has_from());
    let Some(session) = irsp.directory.get(from) else {
        return;
    };
    if !is_subscribed {
        return;
    }
    let mut any = false;
    for contact_session in irsp.directory.sessions_of(to) {
        if let Some(mut last) = contact_session.last_presence() {
            last.set_attr("to", from.to_string());
            session.deliver(last);
            any = true;
        }
    }
    if !any {
        session.deliver(
            Element::new("presence", ns::CLIENT)
                .with_attr("from", to.to_bare().to_string())
                .with_attr("to", from.to_string())
                .with_attr("type", "unavailable"),
        );
    }
}

/// Broadcast of an account's available or unavailable presence (RFC 6121 §4.2, §4.4, §4.5).
pub async fn broadcast(irsp: &Arc<Irsp>, from: &Jid, mut presence: Element) {
    let Some(localpart) = from.local() else {
        return;
    };
    let is_available = presence.attr("type").is_none();
    let snapshot = irsp.relations.snapshot(&irsp.store, localpart).await.ok();
    if let Some(snapshot) = &snapshot {
        stamp_device(&mut presence, snapshot);
    }
    let priority_ok = presence
        .get_child("priority", ns::CLIENT)
        .and_then(|p| p.text().trim().parse::<i8>().ok())
        .is_none_or(|p| p >= 0);
    let session = irsp.directory.get(from);
    let was_available = session
        .as_ref()
        .is_some_and(|s| s.set_available(is_available && priority_ok));
    if let Some(s) = &session {
        s.set_last_presence(is_available.then(|| presence.clone()));
    }
    // The account's own connections, the sender included (RFC 6121 §4.2.2).
    for own in irsp.directory.sessions_of(from) {
        if own.is_available() || &own.info.jid == from {
            own.deliver(presence.clone());
        }
    }
    let mut told: Vec<Jid> = Vec::new();
    if let Some(snapshot) = &snapshot {
        for contact in snapshot.presence_subscribers() {
            let Some(bare) = account_jid(irsp, contact) else {
                continue;
            };
            crate::push::send_to_listeners(irsp, &bare, &presence);
            told.push(bare);
        }
    }
    if !is_available && let Some(s) = &session {
        for to in s.take_directed_presence() {
            if !told.contains(&to.to_bare()) {
                deliver_directed(irsp, &to, presence.clone());
            }
        }
    }
    let is_initial = is_available && !was_available;
    if let (true, Some(session), Some(snapshot)) = (is_initial, session, snapshot) {
        on_initial_presence(irsp, &session, &snapshot).await;
    }
}

/// A device's presence names its IGRS type (§13), stamped by the server so it can be trusted.
fn stamp_device(presence: &mut Element, snapshot: &Snapshot) {
    let Some(device_type) = snapshot.device_type.as_deref() else {
        return;
    };
    if presence.get_child("device", NS_DEVICE).is_none() {
        presence.push_child(Element::new("device", NS_DEVICE).with_attr("type", device_type));
    }
}

/// What a connection receives when it becomes available: its contacts' presence, the
/// subscription requests waiting for an answer, the stanzas stored while it was away, and the
/// last item of each device event it subscribed to.
async fn on_initial_presence(irsp: &Irsp, session: &SessionHandle, snapshot: &Snapshot) {
    let me = session.info.jid.to_string();
    for contact in snapshot.presence_sources() {
        let Some(bare) = account_jid(irsp, contact) else {
            continue;
        };
        for contact_session in irsp.directory.sessions_of(&bare) {
            if let Some(mut last) = contact_session.last_presence() {
                last.set_attr("to", me.clone());
                session.deliver(last);
            }
        }
    }
    for item in snapshot.pending_requests() {
        let Some(pending) = &item.pending_in else {
            continue;
        };
        if let Ok(mut request) = hestia_xml::parse_element(&pending.stanza, ns::CLIENT) {
            request.set_attr("to", me.clone());
            session.deliver(request);
        }
    }
    deliver_stored(irsp, session, &snapshot.localpart).await;
    crate::events::deliver_last_items(irsp, session, &snapshot.localpart).await;
}

/// Stored stanzas, oldest first, each stamped with when the server received it (XEP-0203).
/// With durable delivery they are claimed rather than taken: they stay stored, in flight, until
/// the session acknowledges them.
async fn deliver_stored(irsp: &Irsp, session: &SessionHandle, localpart: &str) {
    let stored = match irsp.journal() {
        Some(_) => irsp.store.claim_offline(localpart).await.map(|claimed| {
            claimed
                .into_iter()
                .map(|(id, s)| (Some(JournalId(id)), s))
                .collect()
        }),
        None => irsp
            .store
            .take_offline(localpart)
            .await
            .map(|taken| taken.into_iter().map(|s| (None, s)).collect::<Vec<_>>()),
    };
    let stored = match stored {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(localpart, error = %e, "could not read stored stanzas");
            return;
        }
    };
    let oldest = crate::push::unix_now()
        .saturating_sub(i64::try_from(irsp.options.offline_expiry.as_secs()).unwrap_or(i64::MAX));
    let mut discarded = Vec::new();
    for (id, s) in stored {
        if s.stored_at < oldest {
            metrics::counter!("hestia_offline_dropped_total", "reason" => "expired").increment(1);
            discarded.extend(id);
            continue;
        }
        let Ok(mut stanza) = hestia_xml::parse_element(&s.stanza, ns::CLIENT) else {
            discarded.extend(id);
            continue;
        };
        stanza.set_attr("to", session.info.jid.to_string());
        // A message returned unacknowledged by a stream-management session was stamped when
        // it first went undelivered; one stamp says when it was originally held.
        if stanza.get_child("delay", ns::DELAY).is_none() {
            stanza.push_child(
                Element::new("delay", ns::DELAY)
                    .with_attr("from", irsp.domain.to_string())
                    .with_attr("stamp", rfc3339(s.stored_at)),
            );
        }
        let refused = match id {
            Some(id) => session.try_deliver_journaled(stanza, id).err().map(|_| id),
            None => {
                session.deliver(stanza);
                None
            }
        };
        if let (Some(journal), Some(id)) = (irsp.journal(), refused) {
            // The queue refused it: it stays stored for the next login.
            journal.keep(vec![id]).await;
        }
    }
    if let Some(journal) = irsp.journal() {
        journal.release(discarded).await;
    }
}

/// Unix seconds as an XEP-0082 UTC timestamp.
pub fn rfc3339(unix: i64) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
