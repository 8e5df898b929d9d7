//! Devices as the IRSP knows them beyond their account (ISO/IEC 14543-5-8 §11.2 and device
//! events): the description a device publishes of its properties and events, answered on its
//! behalf and used by the router to check every property request; and the device's events,
//! published over PEP (XEP-0163) to the XEP-0060 subscribers that hold `view` on it.

mod describe;
mod events;

use hestia_proto::igrs::{DeviceRefusal, NS_DEVICE};
use hestia_proto::{StanzaError, ns};
use hestia_router::relations::Snapshot;
use hestia_router::{Clause, Feature, IqHandler, IqKey, IqRequest, Irsp};

pub fn feature() -> Feature {
    let c = Clause::new;
    Feature {
        name: "device",
        clauses: vec![
            c(
                "ISO/IEC 14543-5-8",
                "§11.2",
                "Device properties: describe, get and set, checked against the description",
            ),
            c(
                "ISO/IEC 14543-5-8",
                "§11.5",
                "Device events published over PEP to subscribers with view right",
            ),
            c(
                "XEP-0163",
                "§4",
                "Personal eventing: publish to an event node",
            ),
            c(
                "XEP-0060",
                "§6.1",
                "Subscribe and unsubscribe, last published item on subscribe",
            ),
            c("XEP-0060", "§6.5", "Retrieve the last item of a node"),
        ],
        iq_handlers: vec![
            IqHandler::new(IqKey::set(describe::NAME, NS_DEVICE), describe::publish),
            IqHandler::new(IqKey::get(describe::NAME, NS_DEVICE), describe::get).for_accounts(),
            IqHandler::new(IqKey::set("pubsub", ns::PUBSUB), events::set).for_accounts(),
            IqHandler::new(IqKey::get("pubsub", ns::PUBSUB), events::get).for_accounts(),
        ],
        disco_features: vec![NS_DEVICE, ns::PUBSUB_PUBLISH],
        ..Default::default()
    }
}

/// The sender's localpart (every handler here runs after authentication).
fn requester(req: &IqRequest) -> Result<String, DeviceRefusal> {
    req.from
        .as_ref()
        .and_then(|j| j.local())
        .map(str::to_owned)
        .ok_or(DeviceRefusal::BadRequest)
}

async fn snapshot(irsp: &Irsp, localpart: &str) -> Result<std::sync::Arc<Snapshot>, StanzaError> {
    irsp.relations
        .snapshot(&irsp.store, localpart)
        .await
        .map_err(|_| hestia_proto::StanzaErrorCondition::InternalServerError.into())
}
