//! The device feed: what happens to devices, as it happens, for in-process observers such as
//! the HES gateway (ISO/IEC 10192-4-3 §6.3, its event bus is fed from here). A device coming
//! online or going away, and every item a device publishes to one of its events.
//!
//! It is a broadcast: sending never waits, and nobody listening costs one atomic load. An
//! observer that falls behind by more than [`CAPACITY`] observations is told how many it
//! lost (`RecvError::Lagged`) rather than slowing the router down.

use std::sync::Arc;
use std::time::SystemTime;

use hestia_xml::Element;
use tokio::sync::broadcast;

/// Observations kept for a slow observer before it starts losing them.
pub const CAPACITY: usize = 4096;

/// One thing that happened to a device, named by its account's localpart.
#[derive(Debug, Clone)]
pub enum Observation {
    /// The device's own connection bound (`true`) or ended (`false`). A connection replaced
    /// by a newer one of the same device is not reported: the device never went away.
    Online { device: String, online: bool },
    /// The device published `item_id` to its event `event` (the IRSP stored it first).
    Published {
        device: String,
        event: String,
        item_id: String,
        payload: Option<Arc<Element>>,
        at: SystemTime,
    },
}

/// The sending side, shared by the router and the directory.
#[derive(Debug, Clone)]
pub struct Feed {
    tx: broadcast::Sender<Observation>,
}

impl Default for Feed {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Feed { tx }
    }
}

impl Feed {
    /// A new observer, hearing everything from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Observation> {
        self.tx.subscribe()
    }

    /// Tells every observer; with none, the observation is simply dropped.
    pub fn tell(&self, observation: Observation) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(observation);
        }
    }
}
