//! The relationship operations every flow ends in (14543-5-8 §10, Table 2): establish a
//! relationship (both roster items `both`, the kind, the right), answer a pending request,
//! release a relationship, change a right. Each writes one batch through
//! [`hestia_router::relations::apply`] (which sends the roster pushes) and then exchanges
//! presence and server pushes.

use hestia_proto::igrs::NS_PUSH;
use hestia_proto::{Jid, ns};
use hestia_router::Irsp;
use hestia_router::push::{Retention, push};
use hestia_router::relations::{Snapshot, account_jid, apply};
use hestia_store::{
    AccessRight, RelationKind, RelationshipChange as Change, RosterItem, StoreError, Subscription,
};
use hestia_xml::Element;

/// One side of a relationship being established: the account and the kind its item shows.
pub struct Side<'a> {
    pub snapshot: &'a Snapshot,
    pub kind: RelationKind,
}

/// The item `owner` keeps for `contact`, or a fresh one.
pub fn item_or_new(owner: &Snapshot, contact: &str) -> RosterItem {
    owner.item(contact).cloned().unwrap_or_else(|| RosterItem {
        contact: contact.to_owned(),
        ..RosterItem::default()
    })
}

/// Writes one roster item of `owner` (with its roster push).
pub async fn put_item(irsp: &Irsp, owner: &str, item: RosterItem) -> Result<(), StoreError> {
    let change = Change::PutItem {
        owner: owner.to_owned(),
        item,
    };
    apply(irsp, vec![change]).await
}

/// Establishes a mutual relationship: both items `both` with their kind, no request left
/// pending, the right granted when one side is a device and the other a user. The requester
/// (`a`) is told `subscribed` by `b`, and both sides see each other's presence at once.
pub async fn establish(
    irsp: &Irsp,
    a: Side<'_>,
    b: Side<'_>,
    right: Option<AccessRight>,
) -> Result<(), StoreError> {
    let (a_name, b_name) = (&a.snapshot.localpart, &b.snapshot.localpart);
    let mut changes = Vec::new();
    for (side, other) in [(&a, b_name), (&b, a_name)] {
        let mut item = item_or_new(side.snapshot, other);
        item.subscription = Subscription::Both;
        item.ask = false;
        item.pending_in = None;
        item.preapproved = false;
        item.relation = Some(side.kind);
        changes.push(Change::PutItem {
            owner: side.snapshot.localpart.clone(),
            item,
        });
    }
    if let (Some(right), Some((device, user))) = (right, device_and_user(a.snapshot, b.snapshot)) {
        changes.push(Change::SetRight {
            device: device.to_owned(),
            user: user.to_owned(),
            right,
        });
    }
    apply(irsp, changes).await?;
    send_presence_type(irsp, b_name, a_name, "subscribed");
    exchange_presence(irsp, a_name, b_name, true);
    Ok(())
}

/// (device, user) when exactly one of the two is a device.
pub fn device_and_user<'a>(a: &'a Snapshot, b: &'a Snapshot) -> Option<(&'a str, &'a str)> {
    match (a.is_device(), b.is_device()) {
        (true, false) => Some((&a.localpart, &b.localpart)),
        (false, true) => Some((&b.localpart, &a.localpart)),
        _ => None,
    }
}

/// Releases whatever relationship `a` and `b` have (Fig. 7): both items removed, the right
/// revoked, `unsubscribed` and `unavailable` exchanged, pushes to every connection of both.
pub async fn release(irsp: &Irsp, a: &Snapshot, b: &Snapshot) -> Result<(), StoreError> {
    let (a_name, b_name) = (&a.localpart, &b.localpart);
    let was_related = [a.item(b_name), b.item(a_name)]
        .iter()
        .any(|i| i.is_some_and(|i| i.subscription != Subscription::None));
    let mut changes = vec![
        Change::RemoveItem {
            owner: a_name.clone(),
            contact: b_name.clone(),
        },
        Change::RemoveItem {
            owner: b_name.clone(),
            contact: a_name.clone(),
        },
    ];
    if let Some((device, user)) = device_and_user(a, b) {
        changes.push(Change::RemoveRight {
            device: device.to_owned(),
            user: user.to_owned(),
        });
    }
    if !b.exists() {
        changes.remove(1);
    }
    apply(irsp, changes).await?;
    if was_related {
        send_presence_type(irsp, a_name, b_name, "unsubscribed");
        send_presence_type(irsp, b_name, a_name, "unsubscribed");
        exchange_presence(irsp, a_name, b_name, false);
    }
    Ok(())
}

/// Sends `<presence type=…/>` from the bare JID `from` to every connection of `to`.
pub fn send_presence_type(irsp: &Irsp, from: &str, to: &str, presence_type: &str) {
    let (Some(from_jid), Some(to_jid)) = (account_jid(irsp, from), account_jid(irsp, to)) else {
        return;
    };
    for session in irsp.directory.sessions_of(&to_jid) {
        session.deliver(
            Element::new("presence", ns::CLIENT)
                .with_attr("from", from_jid.to_string())
                .with_attr("to", session.info.jid.to_string())
                .with_attr("type", presence_type),
        );
    }
}

/// Each available connection of one side tells the other side's available connections its
/// current presence (or that it is gone, when `is_available` is false).
pub fn exchange_presence(irsp: &Irsp, a: &str, b: &str, is_available: bool) {
    let (Some(a_jid), Some(b_jid)) = (account_jid(irsp, a), account_jid(irsp, b)) else {
        return;
    };
    for (from, to) in [(&a_jid, &b_jid), (&b_jid, &a_jid)] {
        let receivers: Vec<_> = irsp
            .directory
            .sessions_of(to)
            .into_iter()
            .filter(hestia_router::SessionHandle::is_available)
            .collect();
        for sender in irsp.directory.sessions_of(from) {
            let presence = if is_available {
                sender.last_presence()
            } else {
                sender.is_available().then(|| {
                    Element::new("presence", ns::CLIENT)
                        .with_attr("from", sender.info.jid.to_string())
                        .with_attr("type", "unavailable")
                })
            };
            let Some(presence) = presence else { continue };
            for r in &receivers {
                let mut copy = presence.clone();
                copy.set_attr("to", r.info.jid.to_string());
                r.deliver(copy);
            }
        }
    }
}

/// A stored server push to an account (relationship news matters at its next login too).
pub async fn tell(irsp: &Irsp, localpart: &str, payload: Element) {
    push(irsp, localpart, payload, Retention::Stored).await;
}

/// `<{name} xmlns='…:push' k='v'…/>` with JID-valued attributes for local accounts.
pub fn notice(irsp: &Irsp, name: &str, attrs: &[(&str, &str)]) -> Element {
    let mut el = Element::new(name, NS_PUSH);
    for (k, v) in attrs {
        el.set_attr(*k, qualify(irsp, k, v));
    }
    el
}

/// Attributes naming accounts carry bare JIDs on the wire; others are passed through.
fn qualify(irsp: &Irsp, key: &str, value: &str) -> String {
    const JID_ATTRS: [&str; 5] = ["device", "user", "requester", "by", "peer"];
    if JID_ATTRS.contains(&key) {
        account_jid(irsp, value).map_or_else(|| value.to_owned(), |j| j.to_string())
    } else {
        value.to_owned()
    }
}

/// The local account named by a JID-valued attribute of a request.
pub fn account_attr(irsp: &Irsp, el: &Element, name: &str) -> Option<String> {
    let jid = Jid::parse(el.attr(name)?).ok()?;
    if !irsp.is_local(&jid) || jid.is_full() {
        return None;
    }
    jid.local().map(str::to_owned)
}
