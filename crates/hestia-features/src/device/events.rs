//! Device events over PEP (XEP-0163) with XEP-0060 subscriptions. A device publishes to
//! `…:device:event:<name>` on its own account, for an event it described; an entity that may
//! `view` the device subscribes with its own bare JID, gets the last item at once and at every
//! later login, and a notification of each new item while it is available.

use std::sync::Arc;

use hestia_proto::device::{event_node, event_of_node};
use hestia_proto::igrs::DeviceRefusal;
use hestia_proto::{Jid, StanzaError, StanzaErrorCondition as Cond, ns};
use hestia_router::events::{self, Item, item_element, last_item_notification};
use hestia_router::{IqRequest, IqResult, Irsp};
use hestia_xml::Element;

use super::{requester, snapshot};

/// Publish, subscribe or unsubscribe.
pub async fn set(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let me = requester(&req)?;
    let op = single_child(req.payload())?;
    match op.name() {
        "publish" => publish(&irsp, &req, &me, op).await,
        "subscribe" => subscribe(&irsp, &req, &me, op).await,
        "unsubscribe" => unsubscribe(&irsp, &req, &me, op).await,
        _ => Err(Cond::FeatureNotImplemented.into()),
    }
}

/// Retrieve items: the last item of one event of a device (XEP-0060 §6.5).
pub async fn get(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let op = single_child(req.payload())?;
    if op.name() != "items" {
        return Err(Cond::FeatureNotImplemented.into());
    }
    let (device, event) = described_event(&irsp, &req.to, op).await?;
    let mut items = Element::new("items", ns::PUBSUB).with_attr("node", event_node(&event));
    let last = irsp
        .store
        .last_item(&device, &event)
        .await
        .map_err(|_| internal())?;
    if let Some(last) = last {
        let item = Item {
            id: last.item_id,
            payload: events::parse_payload(&last.item),
        };
        items.push_child(item_element(&item, ns::PUBSUB));
    }
    Ok(Some(Element::new("pubsub", ns::PUBSUB).with_child(items)))
}

async fn publish(irsp: &Irsp, req: &IqRequest, me: &str, op: &Element) -> IqResult {
    if req.to.local() != Some(me) {
        // Only a device publishes, and only to its own nodes (XEP-0060 §7.1.3.1).
        return Err(Cond::Forbidden.into());
    }
    if !snapshot(irsp, me).await?.is_device() {
        return Err(DeviceRefusal::NotADevice.into());
    }
    let (device, event) = described_event(irsp, &req.to, op).await?;
    let item = parse_item(op)?;
    events::publish(irsp, &device, &event, &item)
        .await
        .map_err(|_| internal())?;
    let published = Element::new("publish", ns::PUBSUB)
        .with_attr("node", event_node(&event))
        .with_child(Element::new("item", ns::PUBSUB).with_attr("id", item.id));
    Ok(Some(
        Element::new("pubsub", ns::PUBSUB).with_child(published),
    ))
}

async fn subscribe(irsp: &Irsp, req: &IqRequest, me: &str, op: &Element) -> IqResult {
    let subscriber = own_jid(req, me, op)?;
    let (device, event) = described_event(irsp, &req.to, op).await?;
    irsp.store
        .subscribe_event(&device, &event, me, hestia_router::push::unix_now())
        .await
        .map_err(|_| internal())?;
    send_last_item(irsp, req, &device, &event).await;
    let subscription = Element::new("subscription", ns::PUBSUB)
        .with_attr("node", event_node(&event))
        .with_attr("jid", subscriber.to_string())
        .with_attr("subscription", "subscribed");
    Ok(Some(
        Element::new("pubsub", ns::PUBSUB).with_child(subscription),
    ))
}

async fn unsubscribe(irsp: &Irsp, req: &IqRequest, me: &str, op: &Element) -> IqResult {
    own_jid(req, me, op)?;
    let (device, event) = described_event(irsp, &req.to, op).await?;
    match irsp.store.unsubscribe_event(&device, &event, me).await {
        Ok(()) => Ok(None),
        Err(hestia_store::StoreError::NotFound) => {
            Err(pubsub_error(Cond::UnexpectedRequest, "not-subscribed"))
        }
        Err(_) => Err(internal()),
    }
}

/// XEP-0060 §6.1.7: the last published item goes to the new subscriber's connection.
async fn send_last_item(irsp: &Irsp, req: &IqRequest, device: &str, event: &str) {
    let (Some(from), Ok(Some(last))) = (&req.from, irsp.store.last_item(device, event).await)
    else {
        return;
    };
    if let Some(session) = irsp.directory.get(from) {
        let mut message = last_item_notification(irsp, &last);
        message.set_attr("to", from.to_string());
        session.deliver(message);
    }
}

/// The device (the addressee) and the event its `node` names, which the device must have
/// described; anything else is a node that does not exist.
async fn described_event(
    irsp: &Irsp,
    to: &Jid,
    op: &Element,
) -> Result<(String, String), StanzaError> {
    let missing = || StanzaError::from(DeviceRefusal::UnknownEvent);
    let event = op
        .attr("node")
        .and_then(event_of_node)
        .ok_or_else(missing)?;
    let device = to.local().ok_or_else(missing)?;
    let description = irsp
        .catalog
        .description(&irsp.store, device)
        .await
        .map_err(|_| internal())?
        .ok_or_else(missing)?;
    if !description.has_event(event) {
        return Err(missing());
    }
    Ok((device.to_owned(), event.to_owned()))
}

/// The `jid` of a subscription request, which must be the requester's own bare JID
/// (XEP-0060 §6.1.3.1).
fn own_jid(req: &IqRequest, me: &str, op: &Element) -> Result<Jid, PubsubError> {
    let jid = op.attr("jid").and_then(|j| Jid::parse(j).ok()).filter(|j| {
        j.local() == Some(me) && req.from.as_ref().is_some_and(|f| f.domain() == j.domain())
    });
    jid.map(|j| j.to_bare())
        .ok_or(PubsubError(Cond::BadRequest, Some("invalid-jid")))
}

/// The one `<item/>` of a publish, with at most one payload element; an id is made when the
/// device gives none.
fn parse_item(op: &Element) -> Result<Item, PubsubError> {
    let mut items = op.children().filter(|c| c.is("item", ns::PUBSUB));
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(PubsubError(Cond::BadRequest, Some("item-required")));
    };
    let mut payloads = item.children();
    let payload = payloads.next().cloned();
    if payloads.next().is_some() {
        return Err(PubsubError(Cond::BadRequest, Some("invalid-payload")));
    }
    let id = item
        .attr("id")
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .map_or_else(hestia_proto::stanza::new_id, str::to_owned);
    Ok(Item { id, payload })
}

fn single_child(pubsub: &Element) -> Result<&Element, PubsubError> {
    let mut children = pubsub.children();
    match (children.next(), children.next()) {
        (Some(op), None) => Ok(op),
        _ => Err(PubsubError(Cond::BadRequest, None)),
    }
}

/// A refusal with its optional XEP-0060 `pubsub#errors` detail, small enough to pass around
/// before it becomes a [`StanzaError`].
#[derive(Debug, Clone, Copy)]
struct PubsubError(Cond, Option<&'static str>);

impl From<PubsubError> for StanzaError {
    fn from(PubsubError(condition, detail): PubsubError) -> StanzaError {
        match detail {
            Some(detail) => pubsub_error(condition, detail),
            None => condition.into(),
        }
    }
}

/// A stanza error with its XEP-0060 `pubsub#errors` detail.
fn pubsub_error(condition: Cond, detail: &str) -> StanzaError {
    StanzaError::new(condition).with_app(Element::new(detail, ns::PUBSUB_ERRORS))
}

fn internal() -> StanzaError {
    Cond::InternalServerError.into()
}
