//! What the IRSP knows of each account's relationships (14543-5-8 §10) and access rights (§9),
//! and the one rule every stanza between two accounts passes (§9: "enforced on every stanza").
//!
//! An account's relationships are read from the store into an immutable [`Snapshot`] and cached
//! while the account is in use; every write goes through [`apply`], which commits to the store,
//! drops the cached snapshots it touched and sends the roster pushes (RFC 6121 §2.1.6).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use hestia_proto::igrs::NS_RELATION;
use hestia_proto::{Jid, ns};
use hestia_store::{
    AccessRight, AccountKind, DevicePolicy, RelationshipChange, RosterItem, Store, StoreError,
    Subscription,
};
use hestia_xml::Element;

use crate::Irsp;

/// One account's relationships as read at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub localpart: String,
    /// None when there is no such account.
    pub kind: Option<AccountKind>,
    /// A device's IGRS type.
    pub device_type: Option<String>,
    /// The roster version (XEP-0237).
    pub version: i64,
    /// Roster items by contact localpart.
    pub items: HashMap<String, RosterItem>,
    /// On a device: the grants on it (user → right). On a user: the rights the user holds
    /// (device → right). Either way keyed by the other party, like `items`.
    pub rights: HashMap<String, AccessRight>,
    /// A device's policy for newcomers.
    pub policy: DevicePolicy,
}

impl Snapshot {
    pub fn exists(&self) -> bool {
        self.kind.is_some()
    }

    pub fn is_device(&self) -> bool {
        self.kind == Some(AccountKind::Device)
    }

    pub fn is_user(&self) -> bool {
        self.kind == Some(AccountKind::User)
    }

    pub fn item(&self, contact: &str) -> Option<&RosterItem> {
        self.items.get(contact)
    }

    /// The right the other party holds on this device, or this user holds on that device.
    pub fn right(&self, other: &str) -> Option<AccessRight> {
        self.rights.get(other).copied()
    }

    /// The device's owner.
    pub fn owner(&self) -> Option<&str> {
        self.rights
            .iter()
            .find(|(_, r)| **r == AccessRight::Owner)
            .map(|(u, _)| u.as_str())
    }

    /// Users who answer requests for this device: its owner and admins.
    pub fn approvers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .rights
            .iter()
            .filter(|(_, r)| **r >= AccessRight::Admin)
            .map(|(u, _)| u.as_str())
            .collect();
        v.sort_unstable();
        v
    }

    /// Contacts that receive this account's presence (subscription `from` or `both`).
    pub fn presence_subscribers(&self) -> impl Iterator<Item = &str> {
        self.items
            .values()
            .filter(|i| i.subscription.has_from())
            .map(|i| i.contact.as_str())
    }

    /// Contacts whose presence this account receives (subscription `to` or `both`).
    pub fn presence_sources(&self) -> impl Iterator<Item = &str> {
        self.items
            .values()
            .filter(|i| i.subscription.has_to())
            .map(|i| i.contact.as_str())
    }

    /// Items carrying an unanswered inbound subscription request.
    pub fn pending_requests(&self) -> impl Iterator<Item = &RosterItem> {
        self.items.values().filter(|i| i.pending_in.is_some())
    }
}

/// What a stanza to another account asks of the relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any relationship: messages, presence, IQ responses, IQ `get` to a user.
    Related,
    /// IQ `get` to a device: `view`.
    View,
    /// IQ `set` to a device: `control`.
    Control,
}

/// The rule of §9 and §10 for one stanza from `sender` to the account `target`: a device takes
/// stanzas from users holding a sufficient right and from its peers; a user takes stanzas from
/// the contacts it has a subscription with in either direction. Anything else is refused, and
/// the caller answers exactly as for an address that does not exist.
pub fn may_reach(target: &Snapshot, sender: &str, need: Need) -> bool {
    if target.localpart == sender {
        return true;
    }
    if !target.exists() {
        return false;
    }
    if target.is_device() {
        if let Some(right) = target.right(sender) {
            return match need {
                Need::Related | Need::View => right >= AccessRight::View,
                Need::Control => right >= AccessRight::Control,
            };
        }
        return target.item(sender).is_some_and(|i| {
            i.relation == Some(hestia_store::RelationKind::Peer)
                && i.subscription != Subscription::None
        });
    }
    target
        .item(sender)
        .is_some_and(|i| i.subscription != Subscription::None)
}

/// The cache of snapshots and the lock that orders relationship writes.
#[derive(Debug, Default)]
pub struct Relations {
    cache: RwLock<HashMap<String, Arc<Snapshot>>>,
    /// Bumped by every write, so a load that raced with a write is not cached.
    generation: AtomicU64,
    /// Relationship changes read both sides, decide, then write: one at a time.
    writes: tokio::sync::Mutex<()>,
}

impl Relations {
    /// The account's snapshot, from the cache or the store. A missing account is not cached.
    pub async fn snapshot(
        &self,
        store: &Store,
        localpart: &str,
    ) -> Result<Arc<Snapshot>, StoreError> {
        if let Some(s) = self.cached(localpart) {
            return Ok(s);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let snapshot = Arc::new(load(store, localpart).await?);
        if snapshot.exists() {
            let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
            if self.generation.load(Ordering::Acquire) == generation {
                cache.insert(localpart.to_owned(), snapshot.clone());
            }
        }
        Ok(snapshot)
    }

    pub fn cached(&self, localpart: &str) -> Option<Arc<Snapshot>> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache.get(localpart).cloned()
    }

    /// Drops cached snapshots (after a write, or when an account's last session ends).
    pub fn forget<'a>(&self, localparts: impl IntoIterator<Item = &'a str>) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        for l in localparts {
            cache.remove(l);
        }
    }

    /// Holds off other relationship writes while the caller reads, decides and applies.
    pub async fn lock_writes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writes.lock().await
    }
}

async fn load(store: &Store, localpart: &str) -> Result<Snapshot, StoreError> {
    let Some(account) = store.account(localpart).await? else {
        return Ok(Snapshot {
            localpart: localpart.to_owned(),
            ..Snapshot::default()
        });
    };
    let (version, items) = store.roster(localpart).await?;
    let (rights, policy) = match account.kind {
        AccountKind::Device => {
            let access = store.device_access(localpart).await?.unwrap_or_default();
            (access.grants, access.policy)
        }
        AccountKind::User => (
            store.rights_of_user(localpart).await?,
            DevicePolicy::default(),
        ),
    };
    Ok(Snapshot {
        localpart: localpart.to_owned(),
        kind: Some(account.kind),
        device_type: account.device.map(|d| d.device_type),
        version,
        items: items.into_iter().map(|i| (i.contact.clone(), i)).collect(),
        rights: rights.into_iter().collect(),
        policy,
    })
}

/// Commits a batch of relationship changes, forgets the snapshots it touched and pushes the
/// changed roster items to every interested connection of their owners.
pub async fn apply(irsp: &Irsp, changes: Vec<RelationshipChange>) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let versions = irsp.store.apply_relationship_changes(&changes).await?;
    let mut touched: Vec<&str> = Vec::new();
    for c in &changes {
        match c {
            RelationshipChange::PutItem { owner, item } => {
                touched.extend([owner.as_str(), item.contact.as_str()]);
            }
            RelationshipChange::RemoveItem { owner, contact } => {
                touched.extend([owner.as_str(), contact.as_str()]);
            }
            RelationshipChange::SetRight { device, user, .. }
            | RelationshipChange::RemoveRight { device, user } => {
                touched.extend([device.as_str(), user.as_str()]);
            }
        }
    }
    irsp.relations.forget(touched.iter().copied());
    for (owner, version) in versions {
        let snapshot = irsp.relations.snapshot(&irsp.store, &owner).await?;
        for contact in changed_contacts(&changes, &owner) {
            roster_push(irsp, &snapshot, contact, version);
        }
    }
    // A rights change alone moves no roster item, but the item shows the right: push it too.
    for c in &changes {
        if let RelationshipChange::SetRight { device, user, .. } = c {
            for (owner, contact) in [(user, device), (device, user)] {
                if changed_contacts(&changes, owner).any(|x| x == contact.as_str()) {
                    continue;
                }
                let snapshot = irsp.relations.snapshot(&irsp.store, owner).await?;
                if snapshot.item(contact).is_some() {
                    roster_push(irsp, &snapshot, contact, snapshot.version);
                }
            }
        }
    }
    Ok(())
}

fn changed_contacts<'a>(
    changes: &'a [RelationshipChange],
    owner: &'a str,
) -> impl Iterator<Item = &'a str> {
    changes.iter().filter_map(move |c| match c {
        RelationshipChange::PutItem { owner: o, item } if o == owner => Some(item.contact.as_str()),
        RelationshipChange::RemoveItem { owner: o, contact } if o == owner => {
            Some(contact.as_str())
        }
        _ => None,
    })
}

/// One roster push (RFC 6121 §2.1.6) of `contact`'s item (or its removal) to each interested
/// connection of the snapshot's account.
pub fn roster_push(irsp: &Irsp, owner: &Snapshot, contact: &str, version: i64) {
    let jid = contact_jid(irsp, contact);
    let item = match owner.item(contact) {
        Some(item) => render_item(irsp, owner, item),
        None => Element::new("item", ns::ROSTER)
            .with_attr("jid", jid)
            .with_attr("subscription", "remove"),
    };
    let Some(owner_jid) = account_jid(irsp, &owner.localpart) else {
        return;
    };
    for session in irsp.directory.sessions_of(&owner_jid) {
        if !session.is_roster_interested() {
            continue;
        }
        let push = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", hestia_proto::stanza::new_id())
            .with_attr("to", session.info.jid.to_string())
            .with_child(
                Element::new("query", ns::ROSTER)
                    .with_attr("ver", version.to_string())
                    .with_child(item.clone()),
            );
        session.deliver(push);
    }
}

/// The bare JID of a local account, as text.
pub fn contact_jid(irsp: &Irsp, localpart: &str) -> String {
    format!("{localpart}@{}", irsp.domain)
}

/// The bare JID of a local account.
pub fn account_jid(irsp: &Irsp, localpart: &str) -> Option<Jid> {
    Jid::bare(localpart, irsp.domain.domain()).ok()
}

/// A roster item as RFC 6121 §2.1 shows it, with the IGRS relation (kind and right) as an
/// extension child.
pub fn render_item(irsp: &Irsp, owner: &Snapshot, item: &RosterItem) -> Element {
    let mut el = Element::new("item", ns::ROSTER)
        .with_attr("jid", contact_jid(irsp, &item.contact))
        .with_attr("subscription", item.subscription.as_str());
    if let Some(name) = &item.name {
        el.set_attr("name", name.clone());
    }
    if item.ask {
        el.set_attr("ask", "subscribe");
    }
    if item.preapproved {
        el.set_attr("approved", "true");
    }
    for group in &item.groups {
        el.push_child(Element::new("group", ns::ROSTER).with_text(group.clone()));
    }
    if let Some(kind) = item.relation {
        let mut relation = Element::new("relation", NS_RELATION).with_attr("kind", kind.as_str());
        if let Some(right) = owner.right(&item.contact) {
            relation.set_attr("right", right.as_str());
        }
        el.push_child(relation);
    }
    el
}

/// The local account a JID names, if it names one of this IRSP's accounts.
pub fn local_account<'a>(irsp: &Irsp, jid: &'a Jid) -> Option<&'a str> {
    jid.local().filter(|_| irsp.is_local(jid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hestia_store::RelationKind;

    fn item(
        contact: &str,
        subscription: Subscription,
        relation: Option<RelationKind>,
    ) -> RosterItem {
        RosterItem {
            contact: contact.into(),
            subscription,
            relation,
            ..RosterItem::default()
        }
    }

    fn device(grants: &[(&str, AccessRight)], items: Vec<RosterItem>) -> Snapshot {
        Snapshot {
            localpart: "lamp".into(),
            kind: Some(AccountKind::Device),
            items: items.into_iter().map(|i| (i.contact.clone(), i)).collect(),
            rights: grants.iter().map(|(u, r)| ((*u).to_owned(), *r)).collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_device_takes_sets_only_from_control_and_above() {
        let lamp = device(
            &[
                ("alice", AccessRight::Owner),
                ("bob", AccessRight::Control),
                ("dan", AccessRight::View),
            ],
            vec![],
        );
        assert!(may_reach(&lamp, "alice", Need::Control));
        assert!(may_reach(&lamp, "bob", Need::Control));
        assert!(!may_reach(&lamp, "dan", Need::Control));
        assert!(may_reach(&lamp, "dan", Need::View));
        assert!(may_reach(&lamp, "dan", Need::Related));
        assert!(!may_reach(&lamp, "carol", Need::Related));
    }

    #[test]
    fn a_device_takes_anything_from_a_peer_and_nothing_from_a_pending_one() {
        let lamp = device(
            &[],
            vec![
                item("switch", Subscription::Both, Some(RelationKind::Peer)),
                item("sensor", Subscription::None, None),
            ],
        );
        assert!(may_reach(&lamp, "switch", Need::Control));
        assert!(!may_reach(&lamp, "sensor", Need::Related));
    }

    #[test]
    fn a_user_takes_stanzas_from_subscribed_contacts_only() {
        let alice = Snapshot {
            localpart: "alice".into(),
            kind: Some(AccountKind::User),
            items: [
                item("bob", Subscription::From, Some(RelationKind::Friend)),
                item("eve", Subscription::None, None),
            ]
            .into_iter()
            .map(|i| (i.contact.clone(), i))
            .collect(),
            ..Snapshot::default()
        };
        assert!(may_reach(&alice, "bob", Need::Related));
        assert!(!may_reach(&alice, "eve", Need::Related));
        assert!(!may_reach(&alice, "mallory", Need::Related));
        assert!(may_reach(&alice, "alice", Need::Control));
    }

    #[test]
    fn nobody_reaches_a_missing_account() {
        let ghost = Snapshot {
            localpart: "ghost".into(),
            ..Snapshot::default()
        };
        assert!(!may_reach(&ghost, "alice", Need::Related));
    }
}
