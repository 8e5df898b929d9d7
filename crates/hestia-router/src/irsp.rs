//! The IRSP (remote access service platform, ISO/IEC 14543-5-9) as one shared value: the
//! domain it serves, its store, its session directory and its features.

use std::sync::Arc;
use std::time::SystemTime;

use hestia_proto::Jid;
use hestia_store::Store;

use crate::components::Components;
use crate::feed::Feed;
use crate::journal::Journal;
use crate::properties::Catalog;
use crate::relations::Relations;
use crate::{Directory, Registry};

/// Routing limits that are not per-feature.
#[derive(Debug, Clone)]
pub struct RoutingOptions {
    /// How many connections one user may hold at once (devices always hold one).
    pub max_user_sessions: usize,
    /// How many stanzas one account may hold in offline storage.
    pub max_offline_stanzas: u32,
    /// Stored stanzas older than this are discarded undelivered.
    pub offline_expiry: std::time::Duration,
    /// Journal messages queued for online connections until acknowledged ([`crate::journal`]).
    pub durable_delivery: bool,
}

impl Default for RoutingOptions {
    fn default() -> Self {
        RoutingOptions {
            max_user_sessions: 10,
            max_offline_stanzas: 1000,
            offline_expiry: std::time::Duration::from_secs(30 * 24 * 3600),
            durable_delivery: false,
        }
    }
}

/// Everything a stanza handler may need, shared by every connection.
#[derive(Debug)]
pub struct Irsp {
    pub domain: Jid,
    pub store: Store,
    pub directory: Directory,
    pub relations: Relations,
    /// Device descriptions, checked against on every property request.
    pub catalog: Catalog,
    pub registry: Registry,
    /// Connected XEP-0114 components, by domain.
    pub components: Components,
    pub options: RoutingOptions,
    /// Group commit of offline storage, and the delivery journal when `durable_delivery` is on
    /// (see [`Irsp::journal`]).
    pub commits: Journal,
    /// What happens to devices, for in-process observers (the HES gateway).
    pub feed: Feed,
    pub started_at: SystemTime,
}

impl Irsp {
    /// The delivery journal, when `durable_delivery` is on: messages for online connections
    /// are journaled until acknowledged.
    pub fn journal(&self) -> Option<&Journal> {
        self.options.durable_delivery.then_some(&self.commits)
    }

    pub fn new(
        domain: Jid,
        store: Store,
        registry: Registry,
        options: RoutingOptions,
    ) -> Arc<Irsp> {
        let commits = Journal::new(store.clone());
        let feed = Feed::default();
        Arc::new(Irsp {
            domain,
            store,
            directory: Directory::with_feed(feed.clone()),
            relations: Relations::default(),
            catalog: Catalog::default(),
            registry,
            components: Components::default(),
            options,
            commits,
            feed,
            started_at: SystemTime::now(),
        })
    }

    /// True when `jid` names this IRSP's domain itself.
    pub fn is_domain(&self, jid: &Jid) -> bool {
        jid.local().is_none() && jid.resource().is_none() && jid.domain() == self.domain.domain()
    }

    /// True when `jid` is an address on this IRSP: an account, the domain, or exactly the
    /// address of a hosted service (`proxy.D`; nothing else at a service's domain exists).
    pub fn is_local(&self, jid: &Jid) -> bool {
        jid.domain() == self.domain.domain() || self.service(jid).is_some()
    }

    /// The hosted service at exactly `jid` (e.g. the bytestream proxy at `proxy.D`).
    pub fn service(&self, jid: &Jid) -> Option<&crate::Service> {
        self.registry.service(jid)
    }
}
