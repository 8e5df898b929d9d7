//! Verification code management (14543-5-8 §10.5): the owner or an admin resets a device's
//! code from their phone, or the device resets its own after a local factory reset — which, by
//! policy, releases all its relationships. The other party is told by a stored push. Codes are
//! stored hashed with a per-device salt.

use std::sync::Arc;

use hestia_proto::igrs::{NS_VCODE, RelationRefusal as Refusal};
use hestia_router::relations::account_jid;
use hestia_router::{IqRequest, IqResult, Irsp};
use hestia_store::AccessRight;
use hestia_xml::Element;

use super::ops::{self, account_attr, notice};
use super::{Relationships, internal, requester, snapshot};

/// `<reset [device='…'] [release='true']>[<code>…</code>]</reset>`; without a code the IRSP
/// picks one and returns it.
pub async fn reset(service: Arc<Relationships>, irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let me = requester(&req)?;
    let payload = req.payload();
    let device = match payload.attr("device") {
        Some(_) => account_attr(&irsp, payload, "device").ok_or(Refusal::BadRequest)?,
        None => me.clone(),
    };
    let _writes = irsp.relations.lock_writes().await;
    let target = snapshot(&irsp, &device).await?;
    let by_device = me == device;
    if !target.is_device() || (!by_device && target.right(&me).is_none()) {
        return Err(Refusal::NotRelated.into());
    }
    if !by_device && target.right(&me) < Some(AccessRight::Admin) {
        return Err(Refusal::InsufficientRight.into());
    }
    let given = payload.get_child("code", NS_VCODE).map(|c| c.text());
    let code = given.clone().unwrap_or_else(generate_code);
    let hash =
        crate::registration::accounts::hash_verification_code(&code, service.min_code_length)
            .map_err(|_| Refusal::BadRequest)?;
    irsp.store
        .set_verification_code(&device, &hash)
        .await
        .map_err(internal)?;
    let notice_payload = notice(&irsp, "code-reset", &[("device", &device), ("by", &me)]);
    if by_device {
        for approver in target.approvers() {
            ops::tell(&irsp, approver, notice_payload.clone()).await;
        }
        let is_factory_reset = payload.attr("release") == Some("true");
        if is_factory_reset && service.cfg.factory_reset_releases {
            release_all(&irsp, &device).await?;
        }
    } else {
        ops::tell(&irsp, &device, notice_payload).await;
    }
    let mut result = Element::new("reset", NS_VCODE);
    if let Some(jid) = account_jid(&irsp, &device) {
        result.set_attr("device", jid.to_string());
    }
    if given.is_none() {
        result.push_child(Element::new("code", NS_VCODE).with_text(code));
    }
    Ok(Some(result))
}

/// Releases every relationship of the device, telling each former party.
async fn release_all(irsp: &Irsp, device: &str) -> Result<(), hestia_proto::StanzaError> {
    let target = snapshot(irsp, device).await?;
    let mut parties: Vec<&String> = target.items.keys().collect();
    parties.extend(target.rights.keys());
    parties.sort();
    parties.dedup();
    for party in parties {
        let other = snapshot(irsp, party).await?;
        let current = snapshot(irsp, device).await?;
        ops::release(irsp, &other, &current)
            .await
            .map_err(internal)?;
        let payload = notice(
            irsp,
            "released",
            &[("device", device), ("user", party), ("by", device)],
        );
        ops::tell(irsp, party, payload).await;
    }
    Ok(())
}

/// Eight random digits.
fn generate_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| char::from(b'0' + rng.gen_range(0..10)))
        .collect()
}
