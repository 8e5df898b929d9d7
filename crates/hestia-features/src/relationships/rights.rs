//! Device access rights configuration (14543-5-8 §9): get and set a device's grants and its
//! policy for newcomers. The owner and admins see and change the whole list; other related
//! users see their own grant; the device sees its own list. Only the owner grants `admin`;
//! `owner` changes hands only by transfer or release.

use std::sync::Arc;

use hestia_proto::StanzaError;
use hestia_proto::igrs::{NS_RIGHTS, RelationRefusal as Refusal};
use hestia_router::relations::{Snapshot, account_jid, apply};
use hestia_router::{IqRequest, IqResult, Irsp};
use hestia_store::{AccessRight, DevicePolicy, RelationshipChange as Change};
use hestia_xml::Element;

use super::ops::{self, account_attr, notice};
use super::{internal, requester, snapshot};

/// The device a rights request names (`device`, or the requesting device itself) and the
/// requester's right on it (None for the device itself).
async fn target(irsp: &Irsp, req: &IqRequest) -> Result<(String, Arc<Snapshot>), StanzaError> {
    let me = requester(req)?;
    let device = match req.payload().attr("device") {
        Some(_) => account_attr(irsp, req.payload(), "device").ok_or(Refusal::BadRequest)?,
        None => me.clone(),
    };
    let target = snapshot(irsp, &device).await?;
    if !target.is_device() || (me != device && target.right(&me).is_none()) {
        return Err(Refusal::NotRelated.into());
    }
    Ok((me, target))
}

pub async fn get(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let (me, target) = target(&irsp, &req).await?;
    let sees_all = me == target.localpart || target.right(&me) >= Some(AccessRight::Admin);
    let mut el = Element::new("rights", NS_RIGHTS).with_attr("policy", target.policy.as_str());
    if let Some(jid) = account_jid(&irsp, &target.localpart) {
        el.set_attr("device", jid.to_string());
    }
    let mut grants: Vec<_> = target
        .rights
        .iter()
        .filter(|(user, _)| sees_all || **user == me)
        .collect();
    grants.sort();
    for (user, right) in grants {
        let jid = account_jid(&irsp, user)
            .map(|j| j.to_string())
            .unwrap_or_default();
        el.push_child(
            Element::new("grant", NS_RIGHTS)
                .with_attr("user", jid)
                .with_attr("right", right.as_str()),
        );
    }
    Ok(Some(el))
}

/// `<rights device='…' [policy='…']><grant user='…' right='…'/>…</rights>`: all changes are
/// checked first and applied together.
pub async fn set(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let _writes = irsp.relations.lock_writes().await;
    let (me, target) = target(&irsp, &req).await?;
    let my_right = target.right(&me);
    if my_right < Some(AccessRight::Admin) {
        return Err(Refusal::InsufficientRight.into());
    }
    let is_owner = my_right == Some(AccessRight::Owner);
    let payload = req.payload();
    let policy = match payload.attr("policy") {
        Some(p) => Some(DevicePolicy::parse(p).ok_or(Refusal::BadRequest)?),
        None => None,
    };
    let mut changes = Vec::new();
    for grant in payload.children().filter(|c| c.is("grant", NS_RIGHTS)) {
        let user = account_attr(&irsp, grant, "user").ok_or(Refusal::BadRequest)?;
        let right = grant
            .attr("right")
            .and_then(AccessRight::parse)
            .ok_or(Refusal::BadRequest)?;
        let current = target.right(&user).ok_or(Refusal::NotRelated)?;
        if current == AccessRight::Owner || right == AccessRight::Owner {
            return Err(Refusal::OwnerProtected.into());
        }
        if !is_owner && (current >= AccessRight::Admin || right >= AccessRight::Admin) {
            return Err(Refusal::InsufficientRight.into());
        }
        if current != right {
            changes.push(Change::SetRight {
                device: target.localpart.clone(),
                user,
                right,
            });
        }
    }
    if let Some(policy) = policy.filter(|p| *p != target.policy) {
        irsp.store
            .set_device_policy(&target.localpart, policy)
            .await
            .map_err(internal)?;
        irsp.relations.forget([target.localpart.as_str()]);
    }
    apply(&irsp, changes.clone()).await.map_err(internal)?;
    for change in changes {
        if let Change::SetRight {
            device,
            user,
            right,
        } = change
        {
            let payload = notice(
                &irsp,
                "rights-changed",
                &[
                    ("device", &device),
                    ("user", &user),
                    ("right", right.as_str()),
                    ("by", &me),
                ],
            );
            ops::tell(&irsp, &user, payload.clone()).await;
            ops::tell(&irsp, &device, payload).await;
        }
    }
    Ok(None)
}
