//! The relationship IQs to the IRSP (14543-5-8 §10): bind by verification code (Fig. 5), the
//! owner's approval or rejection of a request (Fig. 4, Table 2), release by an owner or admin
//! (Fig. 7), transfer of ownership, and pairing two devices as peers.

use std::sync::Arc;

use hestia_proto::StanzaError;
use hestia_proto::igrs::{NS_RELATION, RelationRefusal as Refusal};
use hestia_router::relations::{Snapshot, account_jid, apply};
use hestia_router::{IqRequest, IqResult, Irsp};
use hestia_store::{AccessRight, DevicePolicy, RelationKind, RelationshipChange as Change};
use hestia_xml::Element;

use super::ops::{self, Side, account_attr, notice};
use super::{Relationships, internal, now, requester, snapshot};

/// `<relate device='…'><code>…</code></relate>`: a user proves possession of a device with its
/// verification code. The first user becomes the owner; later ones get the configured
/// code-holder right (unless the policy is `approval`, where the owner decides, or `closed`).
/// Wrong codes count against the device (in the store) and the requester, with back-off.
pub async fn by_code(service: Arc<Relationships>, irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let me = requester(&req)?;
    let payload = req.payload();
    let device = account_attr(&irsp, payload, "device").ok_or(Refusal::BadRequest)?;
    let code = payload
        .get_child("code", NS_RELATION)
        .map(|c| c.text())
        .filter(|c| !c.is_empty())
        .ok_or(Refusal::BadRequest)?;
    let now = now();
    if service.code_failures.is_locked(&me, now) {
        return Err(Refusal::CodeLockedOut.into());
    }
    let _writes = irsp.relations.lock_writes().await;
    let user = snapshot(&irsp, &me).await?;
    if !user.is_user() {
        return Err(Refusal::BadRequest.into());
    }
    let account = irsp.store.account(&device).await.map_err(internal)?;
    let stored = account
        .as_ref()
        .filter(|a| a.device.is_some())
        .and_then(|a| a.verification_code.clone());
    // An unknown device and a wrong code look the same and cost the same.
    let (failures, locked_until) = match &account {
        Some(a) if a.device.is_some() => {
            irsp.store.vcode_failures(&device).await.map_err(internal)?
        }
        _ => (0, 0),
    };
    if locked_until > now {
        return Err(Refusal::CodeLockedOut.into());
    }
    let is_valid =
        stored.is_some_and(|hash| crate::registration::accounts::verify_code(&hash, &code));
    if !is_valid {
        let rule = service.backoff();
        service.code_failures.fail(&me, &rule, now);
        if account.as_ref().is_some_and(|a| a.device.is_some()) {
            let failures = failures.saturating_add(1);
            irsp.store
                .set_vcode_failures(&device, failures, rule.locked_until(failures, now))
                .await
                .map_err(internal)?;
        }
        metrics::counter!("hestia_verification_code_failures_total").increment(1);
        return Err(Refusal::WrongCode.into());
    }
    service.code_failures.clear(&me);
    if failures > 0 {
        irsp.store
            .set_vcode_failures(&device, 0, 0)
            .await
            .map_err(internal)?;
    }
    let target = snapshot(&irsp, &device).await?;
    if let Some(right) = target.right(&me) {
        return Ok(Some(relation_result(&irsp, &device, kind_of(right), right)));
    }
    let right = match (target.owner(), target.policy) {
        (_, DevicePolicy::Closed) | (Some(_), DevicePolicy::Approval) => {
            return Err(Refusal::PolicyRefuses.into());
        }
        (None, _) => AccessRight::Owner,
        (Some(_), _) => service.cfg.code_holder_right,
    };
    let kind = kind_of(right);
    ops::establish(
        &irsp,
        Side {
            snapshot: &user,
            kind,
        },
        Side {
            snapshot: &target,
            kind,
        },
        Some(right),
    )
    .await
    .map_err(internal)?;
    let payload = notice(
        &irsp,
        "related",
        &[
            ("device", &device),
            ("user", &me),
            ("right", right.as_str()),
            ("via", "code"),
        ],
    );
    for approver in target.approvers() {
        ops::tell(&irsp, approver, payload.clone()).await;
    }
    ops::tell(&irsp, &device, payload).await;
    Ok(Some(relation_result(&irsp, &device, kind, right)))
}

fn kind_of(right: AccessRight) -> RelationKind {
    if right == AccessRight::Owner {
        RelationKind::Owner
    } else {
        RelationKind::Shared
    }
}

fn relation_result(irsp: &Irsp, device: &str, kind: RelationKind, right: AccessRight) -> Element {
    let mut el = Element::new("relate", NS_RELATION)
        .with_attr("kind", kind.as_str())
        .with_attr("right", right.as_str());
    if let Some(jid) = account_jid(irsp, device) {
        el.set_attr("device", jid.to_string());
    }
    el
}

/// The device named by the payload and the actor's right on it; an actor with no relationship
/// learns nothing more than for a device that does not exist.
async fn device_and_right(
    irsp: &Irsp,
    req: &IqRequest,
) -> Result<(String, Arc<Snapshot>, Option<AccessRight>), StanzaError> {
    let me = requester(req)?;
    let device = account_attr(irsp, req.payload(), "device").ok_or(Refusal::BadRequest)?;
    let target = snapshot(irsp, &device).await?;
    if !target.is_device() {
        return Err(Refusal::NotRelated.into());
    }
    let right = target.right(&me);
    if right.is_none() && me != device {
        return Err(Refusal::NotRelated.into());
    }
    Ok((me, target, right))
}

fn require(right: Option<AccessRight>, needed: AccessRight) -> Result<AccessRight, Refusal> {
    match right {
        Some(r) if r >= needed => Ok(r),
        _ => Err(Refusal::InsufficientRight),
    }
}

/// A pending, unexpired request on the device's roster; an expired one is dropped (Table 2).
async fn pending_request(
    service: &Relationships,
    irsp: &Irsp,
    target: &Snapshot,
    requester: &str,
) -> Result<Option<AccessRight>, StanzaError> {
    let Some(item) = target.item(requester) else {
        return Err(Refusal::NoPendingRequest.into());
    };
    let Some(pending) = &item.pending_in else {
        return Err(Refusal::NoPendingRequest.into());
    };
    let ttl = super::secs(service.cfg.request_ttl.get());
    if pending.received_at.saturating_add(ttl) <= now() {
        let mut item = item.clone();
        item.pending_in = None;
        ops::put_item(irsp, &target.localpart, item)
            .await
            .map_err(internal)?;
        return Err(Refusal::NoPendingRequest.into());
    }
    Ok(pending.requested_right)
}

/// `<approve device='…' requester='…' right='…'/>` by the owner or an admin: the IRSP completes
/// the subscription on the device's behalf, grants the right and tells requester and device.
/// An admin grants at most `control`; nobody grants `owner` this way (see `transfer`).
pub async fn approve(service: Arc<Relationships>, irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let _writes = irsp.relations.lock_writes().await;
    let (_, target, right) = device_and_right(&irsp, &req).await?;
    let my_right = require(right, AccessRight::Admin)?;
    let requester_name =
        account_attr(&irsp, req.payload(), "requester").ok_or(Refusal::BadRequest)?;
    let requested = pending_request(&service, &irsp, &target, &requester_name).await?;
    let requester = snapshot(&irsp, &requester_name).await?;
    if !requester.exists() {
        return Err(Refusal::NoPendingRequest.into());
    }
    let device = &target.localpart;
    if requester.is_device() {
        ops::establish(
            &irsp,
            Side {
                snapshot: &requester,
                kind: RelationKind::Peer,
            },
            Side {
                snapshot: &target,
                kind: RelationKind::Peer,
            },
            None,
        )
        .await
        .map_err(internal)?;
        tell_result(&irsp, &requester_name, device, "approved", "peer").await;
        return Ok(None);
    }
    let granted = match req.payload().attr("right") {
        Some(r) => AccessRight::parse(r).ok_or(Refusal::BadRequest)?,
        None => requested.unwrap_or(AccessRight::View),
    };
    if granted == AccessRight::Owner {
        return Err(Refusal::OwnerProtected.into());
    }
    if my_right != AccessRight::Owner && granted >= AccessRight::Admin {
        return Err(Refusal::InsufficientRight.into());
    }
    ops::establish(
        &irsp,
        Side {
            snapshot: &requester,
            kind: RelationKind::Shared,
        },
        Side {
            snapshot: &target,
            kind: RelationKind::Shared,
        },
        Some(granted),
    )
    .await
    .map_err(internal)?;
    tell_result(&irsp, &requester_name, device, "approved", granted.as_str()).await;
    Ok(None)
}

async fn tell_result(irsp: &Irsp, requester: &str, device: &str, result: &str, right: &str) {
    let mut attrs = vec![
        ("device", device),
        ("requester", requester),
        ("result", result),
    ];
    if result == "approved" {
        attrs.push(("right", right));
    }
    let payload = notice(irsp, "relation-result", &attrs);
    ops::tell(irsp, requester, payload.clone()).await;
    ops::tell(irsp, device, payload).await;
}

/// `<reject device='…' requester='…'/>`: the pending request is deleted and the requester told
/// `unsubscribed` — nothing about the device's presence leaks.
pub async fn reject(service: Arc<Relationships>, irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let _writes = irsp.relations.lock_writes().await;
    let (_, target, right) = device_and_right(&irsp, &req).await?;
    require(right, AccessRight::Admin)?;
    let requester_name =
        account_attr(&irsp, req.payload(), "requester").ok_or(Refusal::BadRequest)?;
    pending_request(&service, &irsp, &target, &requester_name).await?;
    let requester = snapshot(&irsp, &requester_name).await?;
    let mut changes = Vec::new();
    if let Some(item) = target.item(&requester_name) {
        changes.push(Change::RemoveItem {
            owner: target.localpart.clone(),
            contact: item.contact.clone(),
        });
    }
    if let Some(item) = requester.item(&target.localpart).filter(|i| i.ask) {
        let mut item = item.clone();
        item.ask = false;
        changes.push(Change::PutItem {
            owner: requester_name.clone(),
            item,
        });
    }
    apply(&irsp, changes).await.map_err(internal)?;
    ops::send_presence_type(&irsp, &target.localpart, &requester_name, "unsubscribed");
    tell_result(&irsp, &requester_name, &target.localpart, "rejected", "").await;
    Ok(None)
}

/// `<release device='…' [user='…']/>`: a user leaves a device (no `user`, or their own), or the
/// owner or an admin releases another user. The owner is released only by itself; an admin
/// releases only users below admin.
pub async fn release(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let _writes = irsp.relations.lock_writes().await;
    let (me, target, my_right) = device_and_right(&irsp, &req).await?;
    let user = account_attr(&irsp, req.payload(), "user").unwrap_or_else(|| me.clone());
    let their_right = target.right(&user).ok_or(Refusal::NotRelated)?;
    if user != me {
        if their_right == AccessRight::Owner {
            return Err(Refusal::OwnerProtected.into());
        }
        let mine = require(my_right, AccessRight::Admin)?;
        if mine != AccessRight::Owner && their_right >= AccessRight::Admin {
            return Err(Refusal::InsufficientRight.into());
        }
    }
    let user_snapshot = snapshot(&irsp, &user).await?;
    ops::release(&irsp, &user_snapshot, &target)
        .await
        .map_err(internal)?;
    let payload = notice(
        &irsp,
        "released",
        &[("device", &target.localpart), ("user", &user), ("by", &me)],
    );
    for party in [&user, &target.localpart] {
        if *party != me {
            ops::tell(&irsp, party, payload.clone()).await;
        }
    }
    Ok(None)
}

/// `<transfer device='…' to='…'/>` by the owner: a related user becomes the owner and the old
/// owner stays as admin.
pub async fn transfer(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let _writes = irsp.relations.lock_writes().await;
    let (me, target, right) = device_and_right(&irsp, &req).await?;
    require(right, AccessRight::Owner)?;
    let new_owner = account_attr(&irsp, req.payload(), "to").ok_or(Refusal::BadRequest)?;
    if new_owner == me {
        return Ok(None);
    }
    target.right(&new_owner).ok_or(Refusal::NotRelated)?;
    let device = target.localpart.clone();
    let mut changes = vec![
        Change::SetRight {
            device: device.clone(),
            user: me.clone(),
            right: AccessRight::Admin,
        },
        Change::SetRight {
            device: device.clone(),
            user: new_owner.clone(),
            right: AccessRight::Owner,
        },
    ];
    for (user, kind) in [
        (&me, RelationKind::Shared),
        (&new_owner, RelationKind::Owner),
    ] {
        let user_snapshot = snapshot(&irsp, user).await?;
        for (owner, contact, s) in [(user, &device, &*user_snapshot), (&device, user, &*target)] {
            if let Some(item) = s.item(contact) {
                let mut item = item.clone();
                item.relation = Some(kind);
                changes.push(Change::PutItem {
                    owner: owner.clone(),
                    item,
                });
            }
        }
    }
    apply(&irsp, changes).await.map_err(internal)?;
    let payload = notice(
        &irsp,
        "owner-changed",
        &[("device", &device), ("user", &new_owner), ("by", &me)],
    );
    ops::tell(&irsp, &new_owner, payload.clone()).await;
    ops::tell(&irsp, &device, payload).await;
    Ok(None)
}

/// `<peer device='…' peer='…'/>` by a user holding `admin` on both: the two devices become peers
/// at once (device ↔ device relationship).
pub async fn peer(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let _writes = irsp.relations.lock_writes().await;
    let (me, a, right_a) = device_and_right(&irsp, &req).await?;
    require(right_a, AccessRight::Admin)?;
    let other = account_attr(&irsp, req.payload(), "peer").ok_or(Refusal::BadRequest)?;
    let b = snapshot(&irsp, &other).await?;
    if !b.is_device() || other == a.localpart {
        return Err(Refusal::NotRelated.into());
    }
    require(b.right(&me), AccessRight::Admin)?;
    ops::establish(
        &irsp,
        Side {
            snapshot: &a,
            kind: RelationKind::Peer,
        },
        Side {
            snapshot: &b,
            kind: RelationKind::Peer,
        },
        None,
    )
    .await
    .map_err(internal)?;
    let payload = notice(
        &irsp,
        "related",
        &[("device", &a.localpart), ("peer", &other), ("by", &me)],
    );
    ops::tell(&irsp, &a.localpart, payload.clone()).await;
    ops::tell(&irsp, &other, payload).await;
    Ok(None)
}
