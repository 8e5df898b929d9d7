//! Sharing and verification codes on the IGRS cluster: each CUI operation becomes the IQ the
//! owner's own app would send to the IRSP (`docs/protocol.md` §Relationships, §Device access
//! rights, §Verification codes), sent through the owner's session so the IRSP applies the
//! owner's right. A share changes the right a user holds (`<rights>` set, §9) or answers that
//! user's pending request (`<approve>`, Fig. 4); stopping releases (`<release>`, Fig. 7) or
//! declines (`<reject>`); a code reset is `<reset>` (§10.5).

use hestia_proto::igrs::{NS_RELATION, NS_RIGHTS, NS_VCODE, RelationRefusal};
use hestia_proto::{Jid, StanzaError, ns};
use hestia_router::appserver::AppError;
use hestia_store::AccessRight;
use hestia_xml::Element;

use super::{CLUSTER, IgrsCluster, app_error};
use crate::model::{CuiError, DeviceId, ErrorCode};
use crate::sharing::{
    Asked, Grant, NewCode, Request, Share, ShareRight, Shares, SharingOp, SharingOutcome,
};

impl IgrsCluster {
    /// Carries out one sharing operation for its user.
    pub async fn sharing(&self, op: SharingOp) -> Result<SharingOutcome, CuiError> {
        match op {
            SharingOp::List { user, device } => self
                .shares(&user, &device)
                .await
                .map(SharingOutcome::Shares),
            SharingOp::Share {
                user,
                device,
                with,
                right,
            } => self.share(&user, device, with, right).await,
            SharingOp::Unshare { user, device, with } => self.unshare(&user, &device, &with).await,
            SharingOp::Ask {
                user,
                device,
                right,
            } => self
                .ask(&user, &device, right)
                .await
                .map(SharingOutcome::Asked),
            SharingOp::ResetCode { user, device } => self.reset_code(&user, device).await,
        }
    }

    /// A new right for a user who holds one (`<rights>` set), else the answer to their
    /// request (`<approve>`; IGRS 103 when they made none).
    async fn share(
        &self,
        user: &str,
        device: DeviceId,
        with: String,
        right: ShareRight,
    ) -> Result<SharingOutcome, CuiError> {
        let (device_jid, target) = self.owned(user, &device).await?;
        let payload = if target.right(&with).is_some() {
            Element::new("rights", NS_RIGHTS)
                .with_attr("device", device_jid)
                .with_child(
                    Element::new("grant", NS_RIGHTS)
                        .with_attr("user", self.user_jid(&with)?)
                        .with_attr("right", right.as_str()),
                )
        } else {
            Element::new("approve", NS_RELATION)
                .with_attr("device", device_jid)
                .with_attr("requester", self.user_jid(&with)?)
                .with_attr("right", right.as_str())
        };
        self.to_irsp(user, payload, &with, &device).await?;
        Ok(SharingOutcome::Shared(Share {
            device_id: device,
            user_id: with,
            right,
        }))
    }

    /// Releases a user who holds a right (`<release>`) or declines a request (`<reject>`).
    async fn unshare(
        &self,
        user: &str,
        device: &DeviceId,
        with: &str,
    ) -> Result<SharingOutcome, CuiError> {
        let (device_jid, target) = self.owned(user, device).await?;
        if with == user {
            // A release of oneself would be leaving the device, not a share.
            return Err(CuiError::forbidden(
                "your own access is not a share; the owner changes only by transfer",
            ));
        }
        let is_pending = target.item(with).is_some_and(|i| i.pending_in.is_some());
        let payload = match (target.right(with), is_pending) {
            (Some(_), _) => Element::new("release", NS_RELATION)
                .with_attr("device", device_jid)
                .with_attr("user", self.user_jid(with)?),
            (None, true) => Element::new("reject", NS_RELATION)
                .with_attr("device", device_jid)
                .with_attr("requester", self.user_jid(with)?),
            (None, false) => {
                return Err(CuiError::not_found(format!(
                    "{with} has no access to {device} and no request for it"
                )));
            }
        };
        self.to_irsp(user, payload, with, device).await?;
        Ok(SharingOutcome::Unshared)
    }

    /// `<reset device='…'/>`: the IRSP picks the new code and returns it.
    async fn reset_code(&self, user: &str, device: DeviceId) -> Result<SharingOutcome, CuiError> {
        let (device_jid, _) = self.related(user, &device).await?;
        let reset = Element::new("reset", NS_VCODE).with_attr("device", device_jid);
        let answer = self.to_irsp(user, reset, user, &device).await?;
        let code = answer
            .get_child("reset", NS_VCODE)
            .and_then(|r| r.get_child("code", NS_VCODE))
            .map(|c| c.text())
            .ok_or_else(|| CuiError::internal("the IRSP's reset answer lacks a code"))?;
        Ok(SharingOutcome::Code(NewCode {
            device_id: device,
            code,
        }))
    }

    /// The grants (`<rights>` get as the user) and the pending requests of a device the user
    /// owns or administers.
    async fn shares(&self, user: &str, device: &DeviceId) -> Result<Shares, CuiError> {
        let (device_jid, target) = self.owned(user, device).await?;
        let get = Element::new("rights", NS_RIGHTS).with_attr("device", device_jid);
        let answer = self.exchange_irsp(user, "get", get, user, device).await?;
        let mut shares: Vec<Grant> = answer
            .get_child("rights", NS_RIGHTS)
            .map(|r| {
                r.children()
                    .filter(|g| g.is("grant", NS_RIGHTS))
                    .filter_map(|g| {
                        let jid = Jid::parse(g.attr("user")?).ok()?;
                        Some(Grant {
                            user_id: jid.local()?.to_owned(),
                            right: g.attr("right")?.to_owned(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        shares.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        let mut requests: Vec<Request> = target
            .pending_requests()
            .filter_map(|item| {
                let pending = item.pending_in.as_ref()?;
                Some(Request {
                    user_id: item.contact.clone(),
                    right: pending.requested_right.map(|r| r.as_str().to_owned()),
                })
            })
            .collect();
        requests.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Ok(Shares {
            device_id: device.clone(),
            shares,
            requests,
        })
    }

    /// A subscription request naming a right, sent as the user (Fig. 4): the IRSP hands it to
    /// the owner and admins. An unknown device is answered as an unanswered request is (the
    /// IRSP never tells which devices exist), so this is `202` either way.
    async fn ask(
        &self,
        user: &str,
        device: &DeviceId,
        right: ShareRight,
    ) -> Result<Asked, CuiError> {
        if device.cluster() != CLUSTER {
            return Err(CuiError::not_found(format!("no device {device}")));
        }
        if self.snapshot(device.local()).await?.right(user).is_some() {
            return Err(CuiError::new(
                ErrorCode::Conflict,
                format!("you have access to {device} already"),
            ));
        }
        let jid = Jid::bare(device.local(), self.irsp().domain.domain())
            .map_err(|_| CuiError::bad_request("not a valid device id"))?;
        let request = Element::new("presence", ns::CLIENT)
            .with_attr("to", jid.to_string())
            .with_attr("type", "subscribe")
            .with_child(Element::new("relation", NS_RELATION).with_attr("right", right.as_str()));
        let session = self.app.act_for(user).await.map_err(app_error)?;
        session.send(request).await.map_err(app_error)?;
        Ok(Asked {
            device_id: device.clone(),
            right,
        })
    }

    /// The device's JID and snapshot once `user` relates to it; `not_found` otherwise.
    async fn related(
        &self,
        user: &str,
        device: &DeviceId,
    ) -> Result<(String, std::sync::Arc<hestia_router::relations::Snapshot>), CuiError> {
        let no_device = || CuiError::not_found(format!("no device {device}"));
        if device.cluster() != CLUSTER {
            return Err(no_device());
        }
        let target = self.snapshot(device.local()).await?;
        if !target.is_device() || target.right(user).is_none() {
            return Err(no_device());
        }
        let jid =
            Jid::bare(device.local(), self.irsp().domain.domain()).map_err(|_| no_device())?;
        Ok((jid.to_string(), target))
    }

    /// As [`Self::related`], for what only the owner and admins may see: listing the shares
    /// (the IRSP would answer a lesser right with its own grant alone) and changing them.
    async fn owned(
        &self,
        user: &str,
        device: &DeviceId,
    ) -> Result<(String, std::sync::Arc<hestia_router::relations::Snapshot>), CuiError> {
        let (jid, target) = self.related(user, device).await?;
        if target.right(user) < Some(AccessRight::Admin) {
            return Err(CuiError::forbidden(
                "only the device's owner or an admin manages its sharing",
            ));
        }
        Ok((jid, target))
    }

    fn user_jid(&self, user: &str) -> Result<String, CuiError> {
        Jid::bare(user, self.irsp().domain.domain())
            .map(|j| j.to_string())
            .map_err(|_| CuiError::bad_request("not a valid user id"))
    }

    async fn to_irsp(
        &self,
        user: &str,
        payload: Element,
        other: &str,
        device: &DeviceId,
    ) -> Result<Element, CuiError> {
        self.exchange_irsp(user, "set", payload, other, device)
            .await
    }

    /// One IQ to the IRSP itself as `user`; its refusal as a CUI error about `other` (the
    /// user shared with) and `device`.
    async fn exchange_irsp(
        &self,
        user: &str,
        iq_type: &str,
        payload: Element,
        other: &str,
        device: &DeviceId,
    ) -> Result<Element, CuiError> {
        let mut session = self.app.act_for(user).await.map_err(app_error)?;
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", iq_type)
            .with_attr("to", self.irsp().domain.domain())
            .with_child(payload);
        match session.iq(iq).await {
            Ok(answer) => Ok(answer),
            Err(AppError::Stanza(e)) => Err(relation_refusal(&e, other, device)),
            Err(e) => Err(app_error(e)),
        }
    }
}

/// The CUI code of an IGRS relationship refusal (`docs/protocol.md` §IGRS refusals, 101–108).
fn relation_refusal(error: &StanzaError, other: &str, device: &DeviceId) -> CuiError {
    use RelationRefusal as R;
    let Some(refusal) = R::of(error) else {
        return CuiError::internal(format!("IGRS answered {}", error.condition.name()));
    };
    match refusal {
        R::NoPendingRequest => CuiError::new(
            ErrorCode::Conflict,
            format!(
                "{other} has not asked for {device}: a user asks for a device first, then its owner shares it"
            ),
        ),
        R::NotRelated => CuiError::not_found(format!("{other} has no access to {device}")),
        R::OwnerProtected
        | R::InsufficientRight
        | R::PolicyRefuses
        | R::WrongCode
        | R::CodeLockedOut => CuiError::forbidden(refusal.meaning()),
        R::BadRequest => CuiError::bad_request(refusal.meaning()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_relation_refusal_has_a_code() {
        let device = DeviceId::parse("igrs:lamp").expect("id");
        let want = [
            (RelationRefusal::NoPendingRequest, ErrorCode::Conflict),
            (RelationRefusal::NotRelated, ErrorCode::NotFound),
            (RelationRefusal::OwnerProtected, ErrorCode::Forbidden),
            (RelationRefusal::InsufficientRight, ErrorCode::Forbidden),
            (RelationRefusal::BadRequest, ErrorCode::BadRequest),
        ];
        for (refusal, code) in want {
            let e = relation_refusal(&refusal.into(), "bob", &device);
            assert_eq!(e.code, code, "{refusal:?}");
        }
    }
}
