//! Point-to-multipoint with explicit address lists (14543-5-8 §11.7.2, XEP-0033 Extended Stanza
//! Addressing): a message to the domain carrying `<addresses/>` is expanded by the IRSP into one
//! copy per `to`/`cc`/`bcc` recipient, each routed exactly as if the sender had addressed it
//! alone — the relationship rule, offline storage and every bounce apply per recipient. A
//! recipient that is refused gets the sender an error naming only that address.

use std::sync::Arc;

use hestia_proto::stanza::error_reply;
use hestia_proto::{Jid, StanzaError, StanzaErrorCondition as Cond, ns};
use hestia_xml::Element;

use crate::Irsp;
use crate::route::Reply;

/// More recipients than this in one stanza is refused whole (`policy-violation`): expansion
/// multiplies a stranger's one stanza into that many.
pub const MAX_RECIPIENTS: usize = 50;

/// Address types the IRSP delivers to; the rest (`replyto`, `noreply`, …) travel untouched.
const DELIVERED_TYPES: [&str; 3] = ["to", "cc", "bcc"];

/// True when a message to the domain asks for multicast.
pub fn is_multicast(msg: &Element) -> bool {
    msg.get_child("addresses", ns::ADDRESS).is_some()
}

/// Expands and routes a multicast message; refusals for single recipients are delivered to the
/// sender's connection directly, a refusal of the whole stanza is the reply.
pub async fn route(irsp: &Arc<Irsp>, from: &Jid, msg: Element) -> Reply {
    let Some(addresses) = msg.get_child("addresses", ns::ADDRESS) else {
        return crate::route::bounce(&msg, Cond::BadRequest);
    };
    let recipients = match recipients(addresses) {
        Ok(r) => r,
        Err(error) => {
            return (!hestia_proto::stanza::is_error(&msg)).then(|| error_reply(&msg, &error));
        }
    };
    metrics::counter!("hestia_multicast_recipients_total").increment(recipients.len() as u64);
    let copy_addresses = for_copies(addresses);
    let sender = irsp.directory.get(from);
    for (jid, address) in recipients {
        let mut copy = msg.clone();
        copy.set_attr("to", jid.to_string());
        replace_addresses(&mut copy, copy_addresses.clone());
        let Some(mut refusal) = crate::route::route_message_to(irsp, from, jid, copy).await else {
            continue;
        };
        // The sender learns which recipient failed, and only that one.
        replace_addresses(
            &mut refusal,
            Element::new("addresses", ns::ADDRESS).with_child(address),
        );
        refusal.set_attr("from", irsp.domain.to_string());
        if let Some(session) = &sender {
            session.deliver(refusal);
        }
    }
    None
}

/// The distinct deliverable recipients, in order, each with its own address element.
fn recipients(addresses: &Element) -> Result<Vec<(Jid, Element)>, Box<StanzaError>> {
    let mut out: Vec<(Jid, Element)> = Vec::new();
    for address in addresses
        .children()
        .filter(|a| a.is("address", ns::ADDRESS))
    {
        if !address
            .attr("type")
            .is_some_and(|t| DELIVERED_TYPES.contains(&t))
        {
            continue;
        }
        if address.attr("delivered") == Some("true") {
            // Already delivered by another service (XEP-0033 §4.4).
            continue;
        }
        let jid = address
            .attr("jid")
            .and_then(|j| Jid::parse(j).ok())
            .ok_or_else(|| {
                StanzaError::new(Cond::JidMalformed)
                    .with_text("each address needs a valid jid (uri is not supported)")
            })?;
        if !out.iter().any(|(j, _)| *j == jid) {
            out.push((jid, address.clone()));
        }
    }
    if out.is_empty() {
        return Err(Box::new(
            StanzaError::new(Cond::BadRequest).with_text("no to, cc or bcc address"),
        ));
    }
    if out.len() > MAX_RECIPIENTS {
        return Err(Box::new(StanzaError::new(Cond::PolicyViolation).with_text(
            format!("at most {MAX_RECIPIENTS} recipients per stanza"),
        )));
    }
    Ok(out)
}

/// The header every copy carries: `bcc` removed (XEP-0033 §4.6), every delivered address
/// marked `delivered='true'` so no other service delivers it again.
fn for_copies(addresses: &Element) -> Element {
    let mut header = Element::new("addresses", ns::ADDRESS);
    for address in addresses
        .children()
        .filter(|a| a.is("address", ns::ADDRESS))
    {
        let kind = address.attr("type").unwrap_or_default();
        if kind == "bcc" {
            continue;
        }
        let mut copy = address.clone();
        if DELIVERED_TYPES.contains(&kind) {
            copy.set_attr("delivered", "true");
        }
        header.push_child(copy);
    }
    header
}

fn replace_addresses(stanza: &mut Element, addresses: Element) {
    let children: Vec<Element> = stanza
        .children()
        .filter(|c| !c.is("addresses", ns::ADDRESS))
        .cloned()
        .collect();
    stanza.clear_children();
    for child in children {
        stanza.push_child(child);
    }
    stanza.push_child(addresses);
}
