//! Service Discovery (XEP-0030) of the IRSP itself (14543-5-8 §13 discovery): its identity and
//! the accurate list of features every registered module declares.

use std::sync::Arc;

use hestia_proto::{StanzaErrorCondition, ns};
use hestia_router::{Clause, Feature, IqHandler, IqKey, IqRequest, IqResult, Irsp};
use hestia_xml::Element;

pub fn feature() -> Feature {
    Feature {
        name: "disco",
        clauses: vec![
            Clause {
                standard: "XEP-0030",
                clause: "§3",
                title: "Discovering information about an entity",
            },
            Clause {
                standard: "XEP-0030",
                clause: "§4",
                title: "Discovering the items associated with an entity",
            },
            Clause {
                standard: "ISO/IEC 14543-5-8",
                clause: "§13",
                title: "Discovery (IRSP identity and features)",
            },
        ],
        iq_handlers: vec![
            IqHandler::new(IqKey::get("query", ns::DISCO_INFO), info),
            IqHandler::new(IqKey::get("query", ns::DISCO_ITEMS), items),
        ],
        disco_features: vec![ns::DISCO_INFO, ns::DISCO_ITEMS],
        ..Default::default()
    }
}

async fn info(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    if req.payload().attr("node").is_some() {
        return Err(StanzaErrorCondition::ItemNotFound.into());
    }
    let mut query = Element::new("query", ns::DISCO_INFO);
    if irsp.is_domain(&req.to) {
        query.push_child(
            Element::new("identity", ns::DISCO_INFO)
                .with_attr("category", "server")
                .with_attr("type", "im")
                .with_attr("name", "Hestia IRSP"),
        );
        for var in irsp.registry.disco_features() {
            query.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", var));
        }
    } else {
        // The requester's own account (RFC 6120 §10.3.3): the server answers on its behalf.
        query.push_child(
            Element::new("identity", ns::DISCO_INFO)
                .with_attr("category", "account")
                .with_attr("type", "registered"),
        );
        query.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", ns::DISCO_INFO));
    }
    Ok(Some(query))
}

async fn items(_irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    if req.payload().attr("node").is_some() {
        return Err(StanzaErrorCondition::ItemNotFound.into());
    }
    // No services (bytestream proxy, components) are hosted yet.
    Ok(Some(Element::new("query", ns::DISCO_ITEMS)))
}
