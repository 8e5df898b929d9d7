//! Service Discovery (XEP-0030) of the IRSP itself (14543-5-8 §13 discovery): its identity and
//! the accurate list of features every registered module declares, the services it hosts as
//! items, and each service's own identity and features.

use std::sync::Arc;

use hestia_proto::igrs::NS_DEVICE;
use hestia_proto::{Jid, StanzaError, StanzaErrorCondition, ns};
use hestia_router::{Clause, Feature, Identity, IqHandler, IqKey, IqRequest, IqResult, Irsp};
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
            IqHandler::new(IqKey::get("query", ns::DISCO_INFO), info)
                .for_accounts()
                .for_services(),
            IqHandler::new(IqKey::get("query", ns::DISCO_ITEMS), items).for_services(),
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
    if let Some(service) = irsp.service(&req.to) {
        query.push_child(identity(&service.identity));
        for var in &service.disco_features {
            query.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", *var));
        }
    } else if irsp.is_domain(&req.to) {
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
        // An account, answered by the server on its behalf (RFC 6120 §10.3.3) — to the account
        // itself and to related entities only (the router refuses everyone else).
        account_info(&irsp, &req.to, &mut query).await?;
    }
    Ok(Some(query))
}

/// Identity and features of a user or device account; a device adds its IGRS description as
/// an extended-information form (XEP-0128).
async fn account_info(irsp: &Irsp, to: &Jid, query: &mut Element) -> Result<(), StanzaError> {
    let feature = |var: &str| Element::new("feature", ns::DISCO_INFO).with_attr("var", var);
    query.push_child(
        Element::new("identity", ns::DISCO_INFO)
            .with_attr("category", "account")
            .with_attr("type", "registered"),
    );
    query.push_child(feature(ns::DISCO_INFO));
    let account = irsp
        .store
        .account(to.local().unwrap_or_default())
        .await
        .map_err(|_| StanzaError::new(StanzaErrorCondition::InternalServerError))?;
    let Some(device) = account.and_then(|a| a.device) else {
        return Ok(());
    };
    query.push_child(feature(NS_DEVICE));
    let field = |var: &str, value: &str| {
        Element::new("field", ns::DATA_FORMS)
            .with_attr("var", var)
            .with_child(Element::new("value", ns::DATA_FORMS).with_text(value))
    };
    let mut form = Element::new("x", ns::DATA_FORMS).with_attr("type", "result");
    form.push_child(
        Element::new("field", ns::DATA_FORMS)
            .with_attr("var", "FORM_TYPE")
            .with_attr("type", "hidden")
            .with_child(Element::new("value", ns::DATA_FORMS).with_text(NS_DEVICE)),
    );
    form.push_child(field("type", &device.device_type));
    form.push_child(field("model", &device.model));
    form.push_child(field("manufacturer", &device.manufacturer));
    query.push_child(form);
    Ok(())
}

fn identity(id: &Identity) -> Element {
    Element::new("identity", ns::DISCO_INFO)
        .with_attr("category", id.category)
        .with_attr("type", id.kind)
        .with_attr("name", id.name)
}

/// The domain's items are the services it hosts (XEP-0065 §4 finds the proxy this way); a
/// service has no items of its own.
async fn items(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    if req.payload().attr("node").is_some() {
        return Err(StanzaErrorCondition::ItemNotFound.into());
    }
    let mut query = Element::new("query", ns::DISCO_ITEMS);
    if irsp.is_domain(&req.to) {
        for service in irsp.registry.services() {
            query.push_child(
                Element::new("item", ns::DISCO_ITEMS)
                    .with_attr("jid", service.jid.to_string())
                    .with_attr("name", service.identity.name),
            );
        }
    }
    Ok(Some(query))
}
