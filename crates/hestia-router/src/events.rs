//! Device events (ISO/IEC 14543-5-8 §11.5 device notifications): a device publishes an item to
//! the PEP node of one of its events (XEP-0163 over XEP-0060); the IRSP keeps the last item and
//! sends a notification to every available connection of each subscriber that still holds
//! `view` on the device. Notifications are `headline`s, never stored: a subscriber that was
//! away gets the last item of each subscribed event when it next becomes available, stamped
//! with when it was published (XEP-0203).

use std::sync::Arc;

use hestia_proto::device::event_node;
use hestia_proto::ns;
use hestia_store::LastItem;
use hestia_xml::Element;

use crate::feed::Observation;
use crate::presence::rfc3339;
use crate::relations::{Need, account_jid, may_reach};
use crate::{Irsp, SessionHandle};

/// One published item: its id and payload (at most one element).
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub payload: Option<Element>,
}

/// `<item id=…>payload</item>` in `ns`.
pub fn item_element(item: &Item, item_ns: &str) -> Element {
    let mut el = Element::new("item", item_ns).with_attr("id", item.id.clone());
    if let Some(payload) = &item.payload {
        el.push_child(payload.clone());
    }
    el
}

/// `<message from=device type=headline><event xmlns='…pubsub#event'><items node=…>…`.
pub fn notification(irsp: &Irsp, device: &str, event: &str, item: &Item) -> Element {
    let items = Element::new("items", ns::PUBSUB_EVENT)
        .with_attr("node", event_node(event))
        .with_child(item_element(item, ns::PUBSUB_EVENT));
    let mut message = Element::new("message", ns::CLIENT)
        .with_attr("type", "headline")
        .with_attr("id", hestia_proto::stanza::new_id())
        .with_child(Element::new("event", ns::PUBSUB_EVENT).with_child(items));
    if let Some(from) = account_jid(irsp, device) {
        message.set_attr("from", from.to_string());
    }
    message
}

/// Records `item` as the last of `event` and notifies the subscribers; returns how many
/// connections got it. The item is stored before anyone is told, so a subscriber that comes
/// online right after sees it.
pub async fn publish(
    irsp: &Irsp,
    device: &str,
    event: &str,
    item: &Item,
) -> Result<usize, hestia_store::StoreError> {
    let payload = item
        .payload
        .as_ref()
        .map_or(String::new(), Element::to_string);
    let now = crate::push::unix_now();
    irsp.store
        .put_last_item(device, event, &item.id, &payload, now)
        .await?;
    metrics::counter!("hestia_device_events_published_total").increment(1);
    irsp.feed.tell(Observation::Published {
        device: device.to_owned(),
        event: event.to_owned(),
        item_id: item.id.clone(),
        payload: item.payload.clone().map(Arc::new),
        at: std::time::SystemTime::now(),
    });
    let subscribers = irsp.store.event_subscribers(device, event).await?;
    if subscribers.is_empty() {
        return Ok(0);
    }
    let snapshot = irsp.relations.snapshot(&irsp.store, device).await?;
    let message = notification(irsp, device, event, item);
    let mut delivered = 0;
    for subscriber in subscribers {
        // Rights are read at every publish: a subscriber whose right was revoked hears no more.
        if !may_reach(&snapshot, &subscriber, Need::View) {
            continue;
        }
        if let Some(bare) = account_jid(irsp, &subscriber) {
            delivered += crate::push::send_to_listeners(irsp, &bare, &message);
        }
    }
    metrics::counter!("hestia_device_event_notifications_total").increment(delivered as u64);
    Ok(delivered)
}

/// The notification of a stored last item, with its publication time as a delay stamp.
pub fn last_item_notification(irsp: &Irsp, last: &LastItem) -> Element {
    let item = Item {
        id: last.item_id.clone(),
        payload: parse_payload(&last.item),
    };
    let mut message = notification(irsp, &last.device, &last.event, &item);
    message.push_child(
        Element::new("delay", ns::DELAY)
            .with_attr("from", irsp.domain.to_string())
            .with_attr("stamp", rfc3339(last.published_at)),
    );
    message
}

/// A stored payload back as an element (an empty item has none).
pub fn parse_payload(xml: &str) -> Option<Element> {
    (!xml.is_empty())
        .then(|| hestia_xml::parse_element(xml, ns::CLIENT).ok())
        .flatten()
}

/// At initial presence: the last item of every event the account subscribed to, from devices
/// on which it still holds `view`.
pub async fn deliver_last_items(irsp: &Irsp, session: &SessionHandle, localpart: &str) {
    let items = match irsp.store.last_items_for(localpart).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(localpart, error = %e, "could not read last event items");
            return;
        }
    };
    for last in items {
        let allowed = match irsp.relations.snapshot(&irsp.store, &last.device).await {
            Ok(snapshot) => may_reach(&snapshot, localpart, Need::View),
            Err(_) => false,
        };
        if allowed {
            let mut message = last_item_notification(irsp, &last);
            message.set_attr("to", session.info.jid.to_string());
            session.deliver(message);
        }
    }
}
