//! Device search by exact ID (14543-5-8 §13): answers only for a device whose policy is not
//! `closed`, with its public description and never its online status; an unknown ID and a
//! closed device get the same empty answer, and searches are rate-limited, so IDs cannot be
//! enumerated.

use std::sync::Arc;

use hestia_proto::StanzaErrorCondition;
use hestia_proto::igrs::{NS_DEVICE, RelationRefusal as Refusal};
use hestia_router::relations::account_jid;
use hestia_router::{IqRequest, IqResult, Irsp};
use hestia_store::DevicePolicy;
use hestia_xml::Element;

use super::ops::account_attr;
use super::{Relationships, internal, requester};

/// `<search device='…'/>` → `<search><device jid type model manufacturer policy/></search>`.
pub async fn search(service: Arc<Relationships>, irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let me = requester(&req)?;
    if !service.searches.is_allowed(&me) {
        return Err(StanzaErrorCondition::ResourceConstraint.into());
    }
    service.searches.record(&me);
    let device = account_attr(&irsp, req.payload(), "device").ok_or(Refusal::BadRequest)?;
    let mut result = Element::new("search", NS_DEVICE);
    let account = irsp.store.account(&device).await.map_err(internal)?;
    let access = irsp.store.device_access(&device).await.map_err(internal)?;
    if let (Some(info), Some(access)) = (account.and_then(|a| a.device), access)
        && access.policy != DevicePolicy::Closed
    {
        {
            let jid = account_jid(&irsp, &device)
                .map(|j| j.to_string())
                .unwrap_or_default();
            result.push_child(
                Element::new("device", NS_DEVICE)
                    .with_attr("jid", jid)
                    .with_attr("type", info.device_type)
                    .with_attr("model", info.model)
                    .with_attr("manufacturer", info.manufacturer)
                    .with_attr("policy", access.policy.as_str()),
            );
        }
    }
    Ok(Some(result))
}
