//! Subscription presence (RFC 6121 §3) with the IRSP's rules for relationships (14543-5-8 §10,
//! Table 2):
//!
//! - between users, a request goes to the contact (stored while it is offline and redelivered
//!   at each initial presence until answered); accepting it makes the relationship mutual
//!   (`both` on both sides, kind `friend`), refusing it tells the requester `unsubscribed`;
//! - a request for a device goes to the device's owner and admins as a stored push; they answer
//!   with the `approve` / `reject` IQs (see `relate`). Policy `open` admits a user at once with
//!   `view`; `closed` drops the request without a word;
//! - an answer with no pending request is ignored (or, for `subscribed`, pre-approves);
//!   a duplicate request leaves one pending item; a request to an account that does not exist
//!   is dropped and looks exactly like one that is never answered.

use hestia_proto::igrs::NS_RELATION;
use hestia_proto::{Jid, ns};
use hestia_router::Irsp;
use hestia_router::relations::{Snapshot, apply};
use hestia_store::{
    AccessRight, DevicePolicy, PendingRequest, RelationKind, RelationshipChange as Change,
    Subscription,
};
use hestia_xml::Element;

use super::ops::{self, Side, item_or_new, notice};
use super::{Relationships, now, snapshot};

pub async fn handle(service: &Relationships, irsp: &Irsp, from: &Jid, to: &Jid, presence: Element) {
    let (Some(me), Some(contact)) = (from.local(), to.local()) else {
        return;
    };
    if me == contact {
        return;
    }
    let _writes = irsp.relations.lock_writes().await;
    let (Ok(mine), Ok(theirs)) = (snapshot(irsp, me).await, snapshot(irsp, contact).await) else {
        return;
    };
    let result = match presence.attr("type").unwrap_or_default() {
        "subscribe" => subscribe(service, irsp, &mine, &theirs, presence).await,
        "subscribed" => subscribed(irsp, &mine, &theirs).await,
        "unsubscribe" => unsubscribe(irsp, &mine, &theirs).await,
        "unsubscribed" => unsubscribed(irsp, &mine, &theirs).await,
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "subscription change not stored");
    }
}

type Outcome = Result<(), hestia_store::StoreError>;

/// `me` asks to see `theirs`' presence (RFC 6121 §3.1).
async fn subscribe(
    service: &Relationships,
    irsp: &Irsp,
    mine: &Snapshot,
    theirs: &Snapshot,
    presence: Element,
) -> Outcome {
    let contact = &theirs.localpart;
    let my_item = item_or_new(mine, contact);
    if my_item.subscription.has_to() {
        // Already subscribed: the server answers for the contact (RFC 6121 §3.1.3).
        ops::send_presence_type(irsp, contact, &mine.localpart, "subscribed");
        return Ok(());
    }
    let their_item = item_or_new(theirs, &mine.localpart);
    if theirs.is_user() && mine.is_user() && their_item.preapproved {
        return establish_friends(irsp, mine, theirs).await;
    }
    if theirs.is_device() && theirs.policy == DevicePolicy::Open && mine.is_user() {
        return ops::establish(
            irsp,
            Side {
                snapshot: mine,
                kind: RelationKind::Shared,
            },
            Side {
                snapshot: theirs,
                kind: RelationKind::Shared,
            },
            Some(AccessRight::View),
        )
        .await;
    }
    let is_deliverable = match (mine.is_device(), theirs.kind) {
        (_, None) => false,
        // Devices relate to users only through the device-side flows.
        (true, Some(hestia_store::AccountKind::User)) => false,
        (_, Some(_)) => !(theirs.is_device() && theirs.policy == DevicePolicy::Closed),
    };
    let mut changes = Vec::new();
    if !my_item.ask {
        let mut item = my_item;
        item.ask = true;
        changes.push(Change::PutItem {
            owner: mine.localpart.clone(),
            item,
        });
    }
    let is_new_request = is_deliverable && !is_pending(service, &their_item);
    if is_new_request {
        let mut item = their_item;
        item.pending_in = Some(PendingRequest {
            stanza: request_stanza(irsp, &mine.localpart, &presence),
            requested_right: requested_right(&presence),
            received_at: now(),
        });
        changes.push(Change::PutItem {
            owner: contact.clone(),
            item,
        });
    }
    apply(irsp, changes).await?;
    if is_new_request {
        forward_request(irsp, mine, theirs, &presence).await;
    }
    Ok(())
}

/// A pending request that has not expired (Table 2: a duplicate leaves one pending item).
fn is_pending(service: &Relationships, item: &hestia_store::RosterItem) -> bool {
    let ttl = super::secs(service.cfg.request_ttl.get());
    item.pending_in
        .as_ref()
        .is_some_and(|p| p.received_at.saturating_add(ttl) > now())
}

/// The request as it will be redelivered: `from` the requester's bare JID, no `to`.
fn request_stanza(irsp: &Irsp, requester: &str, presence: &Element) -> String {
    let mut stanza = presence.clone();
    stanza.remove_attr("to");
    if let Some(jid) = hestia_router::relations::account_jid(irsp, requester) {
        stanza.set_attr("from", jid.to_string());
    }
    stanza.to_xml(ns::CLIENT)
}

fn requested_right(presence: &Element) -> Option<AccessRight> {
    presence
        .get_child("relation", NS_RELATION)
        .and_then(|r| r.attr("right"))
        .and_then(AccessRight::parse)
}

/// A user's request reaches the user's available connections now (later ones get it at their
/// initial presence); a device's request reaches its owner and admins as a stored push.
async fn forward_request(irsp: &Irsp, mine: &Snapshot, theirs: &Snapshot, presence: &Element) {
    if theirs.is_user() {
        let mut request = presence.clone();
        if let Some(jid) = hestia_router::relations::account_jid(irsp, &mine.localpart) {
            request.set_attr("from", jid.to_string());
        }
        hestia_router::push::deliver_or_store(irsp, &theirs.localpart, request, false).await;
        return;
    }
    let right = requested_right(presence).unwrap_or(AccessRight::View);
    let payload = notice(
        irsp,
        "relation-request",
        &[
            ("requester", &mine.localpart),
            ("device", &theirs.localpart),
            (
                "right",
                if mine.is_device() {
                    "peer"
                } else {
                    right.as_str()
                },
            ),
        ],
    );
    for approver in theirs.approvers() {
        ops::tell(irsp, approver, payload.clone()).await;
    }
}

/// `me` accepts `theirs`' request to see `me`'s presence, or pre-approves it (§3.4).
async fn subscribed(irsp: &Irsp, mine: &Snapshot, theirs: &Snapshot) -> Outcome {
    if mine.is_device() {
        // A device's relationships are answered by its owner (Fig. 4), not by the device.
        return Ok(());
    }
    let my_item = item_or_new(mine, &theirs.localpart);
    if my_item.pending_in.is_some() && theirs.is_user() {
        return establish_friends(irsp, theirs, mine).await;
    }
    if my_item.subscription.has_from() || my_item.preapproved {
        return Ok(());
    }
    let mut item = my_item;
    item.preapproved = true;
    ops::put_item(irsp, &mine.localpart, item).await
}

async fn establish_friends(irsp: &Irsp, requester: &Snapshot, target: &Snapshot) -> Outcome {
    ops::establish(
        irsp,
        Side {
            snapshot: requester,
            kind: RelationKind::Friend,
        },
        Side {
            snapshot: target,
            kind: RelationKind::Friend,
        },
        None,
    )
    .await
}

/// `me` no longer wants `theirs`' presence (§3.3): cancels a pending request, or ends the
/// `to` half. A relationship with a device has no halves: it is released.
async fn unsubscribe(irsp: &Irsp, mine: &Snapshot, theirs: &Snapshot) -> Outcome {
    if mine.is_device() || theirs.is_device() {
        return release_device_relation(irsp, mine, theirs).await;
    }
    let my_item = item_or_new(mine, &theirs.localpart);
    let their_item = item_or_new(theirs, &mine.localpart);
    let had_to = my_item.subscription.has_to();
    let mut changes = Vec::new();
    if my_item.ask || had_to {
        let mut item = my_item;
        item.ask = false;
        item.subscription = Subscription::from_halves(false, item.subscription.has_from());
        changes.push(Change::PutItem {
            owner: mine.localpart.clone(),
            item,
        });
    }
    if their_item.pending_in.is_some() || their_item.subscription.has_from() {
        let mut item = their_item;
        item.pending_in = None;
        item.subscription = Subscription::from_halves(item.subscription.has_to(), false);
        changes.push(Change::PutItem {
            owner: theirs.localpart.clone(),
            item,
        });
    }
    apply(irsp, changes).await?;
    if had_to {
        ops::send_presence_type(irsp, &mine.localpart, &theirs.localpart, "unsubscribe");
        send_unavailable(irsp, &theirs.localpart, &mine.localpart);
    }
    Ok(())
}

/// `me` refuses `theirs`' request, or ends the `from` half, or withdraws a pre-approval (§3.2).
async fn unsubscribed(irsp: &Irsp, mine: &Snapshot, theirs: &Snapshot) -> Outcome {
    let my_item = item_or_new(mine, &theirs.localpart);
    if theirs.is_device() || (mine.is_device() && my_item.relation.is_some()) {
        return release_device_relation(irsp, mine, theirs).await;
    }
    let their_item = item_or_new(theirs, &mine.localpart);
    let was_pending = my_item.pending_in.is_some();
    let had_from = my_item.subscription.has_from();
    if !(was_pending || had_from || my_item.preapproved) {
        return Ok(());
    }
    let mut item = my_item;
    item.pending_in = None;
    item.preapproved = false;
    item.subscription = Subscription::from_halves(item.subscription.has_to(), false);
    let mut changes = vec![Change::PutItem {
        owner: mine.localpart.clone(),
        item,
    }];
    if their_item.ask || their_item.subscription.has_to() {
        let mut item = their_item;
        item.ask = false;
        item.subscription = Subscription::from_halves(false, item.subscription.has_from());
        changes.push(Change::PutItem {
            owner: theirs.localpart.clone(),
            item,
        });
    }
    apply(irsp, changes).await?;
    if was_pending || had_from {
        ops::send_presence_type(irsp, &mine.localpart, &theirs.localpart, "unsubscribed");
    }
    if had_from {
        send_unavailable(irsp, &mine.localpart, &theirs.localpart);
    }
    Ok(())
}

/// Relationships with a device are all or nothing; a pending request to one is withdrawn.
async fn release_device_relation(irsp: &Irsp, mine: &Snapshot, theirs: &Snapshot) -> Outcome {
    let is_related = mine
        .item(&theirs.localpart)
        .is_some_and(|i| i.relation.is_some());
    if is_related {
        // Either side may release (Fig. 7), the owner included: the device is then ownerless.
        return ops::release(irsp, mine, theirs).await;
    }
    let mut changes = Vec::new();
    if let Some(item) = mine.item(&theirs.localpart).filter(|i| i.ask) {
        let mut item = item.clone();
        item.ask = false;
        changes.push(Change::PutItem {
            owner: mine.localpart.clone(),
            item,
        });
    }
    if let Some(item) = theirs
        .item(&mine.localpart)
        .filter(|i| i.pending_in.is_some())
    {
        let mut item = item.clone();
        item.pending_in = None;
        changes.push(Change::PutItem {
            owner: theirs.localpart.clone(),
            item,
        });
    }
    apply(irsp, changes).await
}

/// `from`'s available connections tell `to`'s connections they are gone (RFC 6121 §3.2.3).
fn send_unavailable(irsp: &Irsp, from: &str, to: &str) {
    let (Some(from_jid), Some(to_jid)) = (
        hestia_router::relations::account_jid(irsp, from),
        hestia_router::relations::account_jid(irsp, to),
    ) else {
        return;
    };
    let receivers = irsp.directory.sessions_of(&to_jid);
    for sender in irsp.directory.sessions_of(&from_jid) {
        if !sender.is_available() {
            continue;
        }
        for r in &receivers {
            r.deliver(
                Element::new("presence", ns::CLIENT)
                    .with_attr("from", sender.info.jid.to_string())
                    .with_attr("to", r.info.jid.to_string())
                    .with_attr("type", "unavailable"),
            );
        }
    }
}
