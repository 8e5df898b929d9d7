//! Connected external components (XEP-0114, the out-of-process application-server interface of
//! ISO/IEC 14543-5-9 §7.3): the routing table from a component's domain `<name>.D` to its
//! connection's queue. A stanza to that domain or to any address at it (`x@<name>.D`,
//! `<name>.D/r`) goes to the connection unchanged; the component is a party the operator
//! configured, not an account, so no relationship stands between it and the sender.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use hestia_proto::{Jid, StanzaErrorCondition as Cond};
use hestia_xml::Element;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::route::{Reply, bounce};

/// A component connection's queue: as deep as a client connection's.
pub const QUEUE: usize = 1024;

/// Which component domains are connected, and where their stanzas go.
#[derive(Debug, Default)]
pub struct Components {
    by_domain: RwLock<HashMap<String, Attached>>,
    serial: AtomicU64,
}

#[derive(Debug)]
struct Attached {
    serial: u64,
    tx: mpsc::Sender<Element>,
}

/// Proof of one attachment, for [`Components::detach`]: a later connection's entry is never
/// removed by an earlier one's cleanup.
#[derive(Debug, PartialEq, Eq)]
pub struct Attachment {
    domain: String,
    serial: u64,
}

impl Components {
    /// Routes stanzas for `domain` to `tx`; `None` when another connection holds the domain.
    pub fn attach(&self, domain: &str, tx: mpsc::Sender<Element>) -> Option<Attachment> {
        let mut map = self.by_domain.write().unwrap_or_else(|e| e.into_inner());
        if map.get(domain).is_some_and(|a| !a.tx.is_closed()) {
            return None;
        }
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        map.insert(domain.to_owned(), Attached { serial, tx });
        Some(Attachment {
            domain: domain.to_owned(),
            serial,
        })
    }

    /// Stops routing to the connection that made `attachment`.
    pub fn detach(&self, attachment: Attachment) {
        let mut map = self.by_domain.write().unwrap_or_else(|e| e.into_inner());
        if map
            .get(&attachment.domain)
            .is_some_and(|a| a.serial == attachment.serial)
        {
            map.remove(&attachment.domain);
        }
    }

    /// Whether a component is connected at `jid`'s domain.
    pub fn is_component(&self, jid: &Jid) -> bool {
        let map = self.by_domain.read().unwrap_or_else(|e| e.into_inner());
        map.contains_key(jid.domain())
    }

    /// Queues `stanza` for the component at its `to`'s domain: a full queue bounces
    /// `resource-constraint` (as for a slow client), a component gone meanwhile
    /// `service-unavailable`.
    pub fn deliver(&self, to: &Jid, stanza: Element) -> Reply {
        let tx = {
            let map = self.by_domain.read().unwrap_or_else(|e| e.into_inner());
            map.get(to.domain()).map(|a| a.tx.clone())
        };
        let Some(tx) = tx else {
            return bounce(&stanza, Cond::ServiceUnavailable);
        };
        match tx.try_send(stanza) {
            Ok(()) => None,
            Err(TrySendError::Full(stanza)) => bounce(&stanza, Cond::ResourceConstraint),
            Err(TrySendError::Closed(stanza)) => bounce(&stanza, Cond::ServiceUnavailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap_or_else(|_| panic!("{s}"))
    }

    #[tokio::test]
    async fn one_connection_per_domain_and_stale_cleanup_keeps_the_new_one() {
        let c = Components::default();
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let first = c.attach("gw.d", tx.clone());
        assert!(first.is_some());
        assert!(c.attach("gw.d", tx).is_none(), "the domain is taken");
        let msg = Element::new("message", "jabber:client").with_attr("to", "x@gw.d");
        assert!(c.deliver(&jid("x@gw.d"), msg).is_none());
        assert!(rx.recv().await.is_some());
        assert!(c.is_component(&jid("gw.d/r")));
        drop(rx);
        // The first connection is gone (queue closed): a new one may attach.
        let (tx2, _rx2) = mpsc::channel(QUEUE);
        let second = c.attach("gw.d", tx2).expect("reattach");
        if let Some(first) = first {
            c.detach(first);
        }
        assert!(
            c.is_component(&jid("gw.d")),
            "a stale detach keeps the new one"
        );
        c.detach(second);
        assert!(!c.is_component(&jid("gw.d")));
    }
}
