//! Roster management (RFC 6121 §2) with versioning (XEP-0237). An account's roster is its
//! relationships: items carry the IGRS relation (kind and right) as an extension child.
//! Removing an item releases the relationship (Fig. 7).

use std::sync::Arc;

use hestia_proto::{Jid, StanzaError, StanzaErrorCondition as Cond, ns};
use hestia_router::relations::render_item;
use hestia_router::{IqRequest, IqResult, Irsp};
use hestia_xml::Element;

use super::{Relationships, internal, ops, requester, snapshot};

/// Longest item name or group name, in bytes (RFC 6121 §2.1.2.2 leaves it to the server).
const MAX_NAME_BYTES: usize = 1023;
/// Most groups on one item.
const MAX_GROUPS: usize = 32;

/// Roster get: the whole roster with its version, or an empty result when the client's cached
/// version is current (XEP-0237 §2.3; later changes arrive as pushes). The connection becomes
/// an interested resource (RFC 6121 §2.1.6).
pub async fn get(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    if !is_own(&req) {
        return Err(Cond::Forbidden.into());
    }
    let me = requester(&req)?;
    if let Some(session) = req.from.as_ref().and_then(|f| irsp.directory.get(f)) {
        session.set_roster_interested();
    }
    let roster = snapshot(&irsp, &me).await?;
    let version = roster.version.to_string();
    if req.payload().attr("ver") == Some(version.as_str()) {
        return Ok(None);
    }
    let mut query = Element::new("query", ns::ROSTER).with_attr("ver", version);
    let mut items: Vec<_> = roster.items.values().collect();
    items.sort_by(|a, b| a.contact.cmp(&b.contact));
    for item in items {
        query.push_child(render_item(&irsp, &roster, item));
    }
    Ok(Some(query))
}

/// A roster is managed only by its owner (RFC 6121 §2.1.5).
fn is_own(req: &IqRequest) -> bool {
    req.from
        .as_ref()
        .is_some_and(|f| f.to_bare() == req.to.to_bare())
}

/// Roster set: add or update an item's name and groups, or remove it (RFC 6121 §2.3–§2.5).
pub async fn set(service: Arc<Relationships>, irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    if !is_own(&req) {
        return Err(Cond::Forbidden.into());
    }
    let me = requester(&req)?;
    let mut items = req
        .payload()
        .children()
        .filter(|c| c.is("item", ns::ROSTER));
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(error(
            Cond::BadRequest,
            "a roster set carries exactly one item",
        ));
    };
    let Some(jid) = item.attr("jid") else {
        return Err(error(Cond::BadRequest, "the item needs a jid"));
    };
    let jid = Jid::parse(jid).map_err(|_| StanzaError::new(Cond::JidMalformed))?;
    if !irsp.is_local(&jid) {
        return Err(error(
            Cond::RemoteServerNotFound,
            "no server-to-server links",
        ));
    }
    let Some(contact) = jid.to_bare().local().map(str::to_owned) else {
        return Err(error(
            Cond::NotAcceptable,
            "the item names a server, not an account",
        ));
    };
    if contact == me {
        return Err(error(Cond::NotAllowed, "your own address is not a contact"));
    }
    let _writes = irsp.relations.lock_writes().await;
    let mine = snapshot(&irsp, &me).await?;
    if item.attr("subscription") == Some("remove") {
        if mine.item(&contact).is_none() {
            return Err(Cond::ItemNotFound.into());
        }
        let theirs = snapshot(&irsp, &contact).await?;
        ops::release(&irsp, &mine, &theirs)
            .await
            .map_err(internal)?;
        return Ok(None);
    }
    let (name, groups) = parse_fields(item).map_err(|(c, text)| error(c, text))?;
    let mut updated = ops::item_or_new(&mine, &contact);
    if mine.item(&contact).is_none() && mine.items.len() >= service.cfg.max_roster_items {
        return Err(error(Cond::NotAllowed, "the roster is full"));
    }
    updated.name = name;
    updated.groups = groups;
    ops::put_item(&irsp, &me, updated).await.map_err(internal)?;
    Ok(None)
}

/// Why an item's fields were refused.
type Invalid = (Cond, &'static str);

/// Name and groups, checked as RFC 6121 §2.3.3 asks.
fn parse_fields(item: &Element) -> Result<(Option<String>, Vec<String>), Invalid> {
    let name = item.attr("name").map(str::to_owned);
    if name.as_ref().is_some_and(|n| n.len() > MAX_NAME_BYTES) {
        return Err((Cond::NotAcceptable, "the name is too long"));
    }
    let mut groups: Vec<String> = Vec::new();
    for g in item.children().filter(|c| c.is("group", ns::ROSTER)) {
        let g = g.text();
        if g.is_empty() || g.len() > MAX_NAME_BYTES {
            return Err((Cond::NotAcceptable, "a group name is empty or too long"));
        }
        if groups.contains(&g) {
            return Err((Cond::BadRequest, "a group is named twice"));
        }
        groups.push(g);
    }
    if groups.len() > MAX_GROUPS {
        return Err((Cond::NotAcceptable, "too many groups"));
    }
    Ok((name, groups))
}

fn error(condition: Cond, text: &str) -> StanzaError {
    StanzaError::new(condition).with_text(text)
}
