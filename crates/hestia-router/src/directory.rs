//! The session directory: which connections are bound, under which full JID. It is the one
//! seam through which the router finds a session, so a multi-node cluster (NATS) replaces the
//! `Local` variant without touching features.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use hestia_proto::{Jid, StreamError};
use hestia_store::AccountKind;
use hestia_xml::Element;
use tokio::sync::mpsc;

use crate::feed::{Feed, Observation};
use crate::journal::JournalId;

/// What the router asks a session task to do.
#[derive(Debug)]
pub enum Outbound {
    /// Write this stanza to the client. Boxed: a session's queue allocates its first block of
    /// 32 slots up front, so the slot size is paid by every idle connection (3 KiB unboxed).
    Stanza(Box<Element>),
    /// Write this stanza, which the delivery journal holds until the client acknowledges it
    /// (`offline.durable_delivery`): the session releases it once acknowledged, or keeps it
    /// for the account's next login if the session ends first.
    Journaled(Box<Element>, JournalId),
    /// Close the stream with this error (conflict, system-shutdown, policy…).
    Close(StreamError, Option<String>),
}

/// Facts about a bound session that routing and admin listings need.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub jid: Jid,
    pub kind: AccountKind,
    pub remote_addr: SocketAddr,
    pub is_tls: bool,
    pub mechanism: &'static str,
    pub bound_at: SystemTime,
}

/// A bound session: its facts and the queue its connection task drains.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    pub info: Arc<SessionInfo>,
    /// Unique per connection, so an old connection's cleanup never removes its replacement.
    pub serial: u64,
    tx: mpsc::Sender<Outbound>,
    state: Arc<SessionState>,
}

/// What the presence and roster logic remembers of a session (RFC 6121 §2.1.6, §4).
#[derive(Debug, Default)]
struct SessionState {
    /// Initial presence sent and not yet unavailable.
    is_available: AtomicBool,
    /// The session asked for the roster, so it gets roster pushes.
    is_roster_interested: AtomicBool,
    /// The last available presence broadcast (answers probes), while available.
    last_presence: Mutex<Option<Box<Element>>>,
    /// Entities this session sent directed presence to, told when it goes unavailable.
    directed_to: Mutex<Vec<Jid>>,
    /// An application server acting for the account: it hears the presence and events the
    /// account hears, but never counts as the account being online (messages and pushes for
    /// the account are still stored for its own next login).
    is_observer: AtomicBool,
    /// An observer that only sends requests and awaits their answers (the gateway's kept
    /// sessions): it hears no broadcasts, so idle ones cost the router nothing.
    is_request_only: AtomicBool,
}

impl SessionHandle {
    pub fn new(info: SessionInfo, serial: u64, tx: mpsc::Sender<Outbound>) -> SessionHandle {
        SessionHandle {
            info: Arc::new(info),
            serial,
            tx,
            state: Arc::default(),
        }
    }

    /// The same session (queue, presence state, serial) with the facts of a new connection:
    /// a XEP-0198 resumption moves a session to another TCP connection.
    pub fn with_info(&self, info: SessionInfo) -> SessionHandle {
        SessionHandle {
            info: Arc::new(info),
            serial: self.serial,
            tx: self.tx.clone(),
            state: self.state.clone(),
        }
    }

    /// Queues a stanza; false if the session is gone or its queue is full (a slow reader
    /// must not stall the router: ejabberd's `max_fsm_queue` does the same).
    pub fn deliver(&self, stanza: Element) -> bool {
        self.try_deliver(stanza).is_ok()
    }

    /// As [`Self::deliver`], but hands the stanza back when it could not be queued, so the
    /// caller can bounce it without having cloned it beforehand.
    pub fn try_deliver(&self, stanza: Element) -> Result<(), Element> {
        match self.tx.try_send(Outbound::Stanza(Box::new(stanza))) {
            Ok(()) => Ok(()),
            Err(e) => match e.into_inner() {
                Outbound::Stanza(stanza) | Outbound::Journaled(stanza, _) => Err(*stanza),
                Outbound::Close(..) => Ok(()),
            },
        }
    }

    /// As [`Self::try_deliver`], for a stanza the delivery journal holds under `id`.
    pub fn try_deliver_journaled(&self, stanza: Element, id: JournalId) -> Result<(), Element> {
        match self.tx.try_send(Outbound::Journaled(Box::new(stanza), id)) {
            Ok(()) => Ok(()),
            Err(e) => match e.into_inner() {
                Outbound::Stanza(stanza) | Outbound::Journaled(stanza, _) => Err(*stanza),
                Outbound::Close(..) => Ok(()),
            },
        }
    }

    pub fn close(&self, error: StreamError, text: Option<String>) {
        // A full queue means the task is already overwhelmed; it still ends when the
        // directory entry is replaced, so ignoring the result is safe.
        let _ = self.tx.try_send(Outbound::Close(error, text));
    }

    /// Marks the session (un)available; returns whether it was available before.
    pub fn set_available(&self, is_available: bool) -> bool {
        self.state.is_available.swap(is_available, Ordering::AcqRel)
    }

    pub fn is_available(&self) -> bool {
        self.state.is_available.load(Ordering::Acquire)
    }

    pub fn set_observer(&self) {
        self.state.is_observer.store(true, Ordering::Release);
    }

    pub fn is_observer(&self) -> bool {
        self.state.is_observer.load(Ordering::Acquire)
    }

    /// Marks an observer as sending requests only: it hears no broadcasts.
    pub fn set_request_only(&self) {
        self.state.is_request_only.store(true, Ordering::Release);
    }

    /// Gets the presence broadcasts and event notifications of the account: available, or an
    /// application server's observer session that listens.
    pub fn hears_broadcasts(&self) -> bool {
        self.is_available()
            || (self.is_observer() && !self.state.is_request_only.load(Ordering::Acquire))
    }

    pub fn set_roster_interested(&self) {
        self.state
            .is_roster_interested
            .store(true, Ordering::Release);
    }

    pub fn is_roster_interested(&self) -> bool {
        self.state.is_roster_interested.load(Ordering::Acquire)
    }

    /// Remembers (or with None forgets) the presence that answers probes.
    pub fn set_last_presence(&self, presence: Option<Element>) {
        *lock(&self.state.last_presence) = presence.map(Box::new);
    }

    pub fn last_presence(&self) -> Option<Element> {
        lock(&self.state.last_presence).as_deref().cloned()
    }

    /// Records a directed presence recipient (RFC 6121 §4.6.3); an unavailable one forgets it.
    pub fn note_directed_presence(&self, to: &Jid, is_available: bool) {
        let mut list = lock(&self.state.directed_to);
        list.retain(|j| j != to);
        if is_available {
            list.push(to.clone());
        }
    }

    /// Takes the directed presence recipients (when the session goes unavailable).
    pub fn take_directed_presence(&self) -> Vec<Jid> {
        std::mem::take(&mut *lock(&self.state.directed_to))
    }
}

/// A poisoned lock only means another thread panicked mid-update of a plain value.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a bind was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindRefusal {
    /// The user already holds the configured maximum of connections.
    TooManySessions,
}

/// The directory, dispatching over deployments.
#[derive(Debug, Clone)]
pub enum Directory {
    Local(Arc<LocalDirectory>),
}

impl Default for Directory {
    fn default() -> Self {
        Directory::Local(Arc::default())
    }
}

#[derive(Debug, Default)]
pub struct LocalDirectory {
    /// bare JID → (resource → handle)
    by_bare: RwLock<HashMap<Jid, HashMap<String, SessionHandle>>>,
    /// Told when a device's own connection binds or ends.
    feed: Feed,
}

impl Directory {
    /// A directory that tells `feed` when devices come and go.
    pub fn with_feed(feed: Feed) -> Directory {
        Directory::Local(Arc::new(LocalDirectory {
            by_bare: RwLock::default(),
            feed,
        }))
    }

    fn local(&self) -> &LocalDirectory {
        match self {
            Directory::Local(l) => l,
        }
    }

    /// Registers a bound session. For devices any previous connection is replaced and
    /// returned so the caller can close it with `conflict`; users may hold up to
    /// `max_user_sessions` connections.
    pub fn bind(
        &self,
        handle: SessionHandle,
        max_user_sessions: usize,
    ) -> Result<Vec<SessionHandle>, BindRefusal> {
        let jid = handle.info.jid.clone();
        let bare = jid.to_bare();
        let resource = jid.resource().unwrap_or_default().to_owned();
        let mut map = self
            .local()
            .by_bare
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let conns = map.entry(bare.clone()).or_default();
        let mut replaced = Vec::new();
        match handle.info.kind {
            AccountKind::Device => {
                // The device's one connection is replaced; observers acting for it stay.
                let (observers, old): (HashMap<_, _>, HashMap<_, _>) =
                    conns.drain().partition(|(_, h)| h.is_observer());
                *conns = observers;
                replaced.extend(old.into_values());
            }
            AccountKind::User => {
                // RFC 6120 §7.7.2.2: a reused connection ID takes over from the connection
                // holding it (a client reconnecting before its old TCP connection timed out).
                if let Some(old) = conns.remove(&resource) {
                    replaced.push(old);
                } else if conns.len() >= max_user_sessions {
                    return Err(BindRefusal::TooManySessions);
                }
            }
        }
        let is_device = handle.info.kind == AccountKind::Device;
        conns.insert(resource, handle);
        drop(map);
        if is_device && replaced.is_empty() {
            self.tell_online(&bare, true);
        }
        Ok(replaced)
    }

    fn tell_online(&self, bare: &Jid, online: bool) {
        if let Some(device) = bare.local() {
            self.local().feed.tell(Observation::Online {
                device: device.to_owned(),
                online,
            });
        }
    }

    /// Registers a session beside the account's others, replacing none and bound by no limit:
    /// for application-server observers, whose resource is unique by construction.
    pub fn bind_beside(&self, handle: SessionHandle) {
        let jid = handle.info.jid.clone();
        let resource = jid.resource().unwrap_or_default().to_owned();
        let mut map = self
            .local()
            .by_bare
            .write()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(jid.to_bare())
            .or_default()
            .insert(resource, handle);
    }

    /// Removes a session if (and only if) it is still the one registered under its JID.
    pub fn unbind(&self, jid: &Jid, serial: u64) -> bool {
        let bare = jid.to_bare();
        let mut map = self
            .local()
            .by_bare
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let Some(conns) = map.get_mut(&bare) else {
            return false;
        };
        let resource = jid.resource().unwrap_or_default();
        let is_same = conns.get(resource).is_some_and(|h| h.serial == serial);
        let mut was_device = false;
        if is_same {
            was_device = conns
                .remove(resource)
                .is_some_and(|h| h.info.kind == AccountKind::Device && !h.is_observer());
            if conns.is_empty() {
                map.remove(&bare);
            }
        }
        drop(map);
        if was_device {
            self.tell_online(&bare, false);
        }
        is_same
    }

    /// Replaces a session's entry with `handle` (same JID and serial, new connection facts);
    /// false if the session is no longer the one registered there.
    pub fn refresh(&self, handle: &SessionHandle) -> bool {
        let jid = &handle.info.jid;
        let mut map = self
            .local()
            .by_bare
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let entry = map
            .get_mut(&jid.to_bare())
            .and_then(|c| c.get_mut(jid.resource().unwrap_or_default()))
            .filter(|h| h.serial == handle.serial);
        match entry {
            Some(entry) => {
                *entry = handle.clone();
                true
            }
            None => false,
        }
    }

    /// The session bound to exactly this full JID.
    pub fn get(&self, full: &Jid) -> Option<SessionHandle> {
        let map = self
            .local()
            .by_bare
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.get(&full.to_bare())?.get(full.resource()?).cloned()
    }

    /// Every session of an account.
    pub fn sessions_of(&self, bare: &Jid) -> Vec<SessionHandle> {
        let map = self
            .local()
            .by_bare
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.get(&bare.to_bare())
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every bound session (admin listing, shutdown).
    pub fn all(&self) -> Vec<SessionHandle> {
        let map = self
            .local()
            .by_bare
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.values().flat_map(|c| c.values().cloned()).collect()
    }

    pub fn count(&self) -> usize {
        let map = self
            .local()
            .by_bare
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.values().map(HashMap::len).sum()
    }
}
