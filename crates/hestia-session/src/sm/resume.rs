//! Resumption (XEP-0198 §5). A resumable session whose connection is lost — TCP closed or
//! reset, or silent past the keep-alive — hibernates: its task stays, the session stays in the
//! directory under its full JID (so stanzas for it keep queueing, counted as sent and kept as
//! unacknowledged), and no `unavailable` is broadcast. A new stream authenticated as the same
//! account sends `<resume previd h/>`; the hibernating (or still half-alive) task hands its
//! state over ([`Handoff`]) and ends without logging out. Past the resumption window, on
//! shutdown, or on a full queue, the session ends for good as any connection does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_router::{Outbound, SessionHandle, SessionInfo};
use tokio::sync::{mpsc, oneshot};

use super::{StreamManagement, proto};
use crate::connection::{Account, Connection, Exit, Phase, Step};

/// How long a resuming stream waits for the old task to hand its session over.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(5);

/// A new stream's request for a session's state.
pub type Takeover = oneshot::Sender<Box<Handoff>>;

/// Everything a session is, moved from its old task to the stream that resumed it.
#[derive(Debug)]
pub struct Handoff {
    pub account: Account,
    pub handle: SessionHandle,
    pub outbound: mpsc::Receiver<Outbound>,
    pub sm: Box<StreamManagement>,
}

/// Resumable sessions by resumption id, with the account each belongs to.
#[derive(Debug, Default)]
pub struct Resumptions {
    map: Mutex<HashMap<String, Resumable>>,
}

#[derive(Debug)]
struct Resumable {
    localpart: String,
    takeover: mpsc::Sender<Takeover>,
}

impl Resumptions {
    pub fn register(&self, id: &str, localpart: &str, takeover: mpsc::Sender<Takeover>) {
        let entry = Resumable {
            localpart: localpart.to_owned(),
            takeover,
        };
        self.lock().insert(id.to_owned(), entry);
    }

    /// The session `id` if it belongs to `localpart`; another account's id is as unknown.
    pub fn find(&self, id: &str, localpart: &str) -> Option<mpsc::Sender<Takeover>> {
        let map = self.lock();
        let entry = map.get(id).filter(|e| e.localpart == localpart)?;
        Some(entry.takeover.clone())
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Resumable>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Waits for the takeover request of a resuming stream (never, without resumption).
pub(crate) async fn recv_takeover(sm: &mut Option<Box<StreamManagement>>) -> Takeover {
    let rx = sm
        .as_mut()
        .and_then(|sm| sm.resumption.as_mut())
        .map(|r| &mut r.takeover);
    match rx {
        Some(rx) => match rx.recv().await {
            Some(takeover) => takeover,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

impl Connection {
    /// Whether this ending leaves the session hibernating rather than logged out: only a lost
    /// connection (not a close, a stream error or shutdown) of a resumable bound session.
    pub(crate) fn may_hibernate(&self, exit: &Exit) -> bool {
        let is_lost = matches!(exit, Exit::Eof | Exit::Io(_) | Exit::KeepAliveTimeout);
        is_lost && matches!(self.phase, Phase::Bound { .. }) && self.resume_window().is_some()
    }

    fn resume_window(&self) -> Option<Duration> {
        Some(self.sm.as_ref()?.resumption.as_ref()?.window)
    }

    /// Hibernates until a stream resumes the session (true) or it must end for good (false).
    pub(crate) async fn hibernate(&mut self) -> bool {
        let Some(window) = self.resume_window() else {
            return false;
        };
        tracing::debug!(?window, "session hibernating");
        metrics::gauge!("hestia_sessions_hibernated").increment(1.0);
        let deadline = tokio::time::Instant::now() + window;
        let shutdown = self.c2s.shutdown.clone();
        let is_resumed = loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break false,
                takeover = recv_takeover(&mut self.sm) => break self.hand_over(takeover),
                msg = crate::connection::recv_outbound(&mut self.outbound) => {
                    // Counted and kept as unacknowledged, written nowhere.
                    let kept = self.on_outbound(msg);
                    self.out.clear();
                    if kept.is_err() {
                        break false;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break false,
            }
        };
        metrics::gauge!("hestia_sessions_hibernated").decrement(1.0);
        if !is_resumed {
            metrics::counter!("hestia_sm_hibernations_ended_total").increment(1);
        }
        is_resumed
    }

    /// Moves the session to the resuming stream; false (state kept here) if that stream gave up.
    pub(crate) fn hand_over(&mut self, takeover: Takeover) -> bool {
        if !matches!(self.phase, Phase::Bound { .. }) || self.outbound.is_none() {
            return false;
        }
        let (Some(outbound), Some(sm)) = (self.outbound.take(), self.sm.take()) else {
            return false;
        };
        let phase = std::mem::replace(&mut self.phase, Phase::Connected { sasl: None });
        let Phase::Bound { account, handle } = phase else {
            return false;
        };
        let handoff = Box::new(Handoff {
            account,
            handle,
            outbound,
            sm,
        });
        match takeover.send(handoff) {
            Ok(()) => true,
            Err(back) => {
                let Handoff {
                    account,
                    handle,
                    outbound,
                    sm,
                } = *back;
                self.adopt(account, handle, outbound, sm);
                false
            }
        }
    }

    /// Makes a handed-over session this stream's (no new bind, no new login counted).
    fn adopt(
        &mut self,
        account: Account,
        handle: SessionHandle,
        outbound: mpsc::Receiver<Outbound>,
        sm: Box<StreamManagement>,
    ) {
        self.parser.set_limits(self.c2s.options.post_auth_limits);
        self.outbound = Some(outbound);
        self.sm = Some(sm);
        self.phase = Phase::Bound { account, handle };
    }

    /// The session's handle with this connection's facts (address, TLS, mechanism), so that
    /// the admin listing shows where it is now.
    fn moved_here(&self, handle: &SessionHandle, account: &Account) -> SessionHandle {
        let old = &handle.info;
        let moved = handle.with_info(SessionInfo {
            jid: old.jid.clone(),
            kind: old.kind,
            remote_addr: self.peer,
            is_tls: self.tls.is_some(),
            mechanism: account.mechanism,
            bound_at: old.bound_at,
        });
        self.c2s.irsp.directory.refresh(&moved);
        moved
    }

    /// `<resume previd h/>` on an authenticated, unbound stream.
    pub(crate) async fn on_resume(&mut self, previd: &str, h: u32) -> Result<Step, Exit> {
        let Phase::Authenticated { account } = &self.phase else {
            return Ok(Step::Continue);
        };
        let account = account.clone();
        let handoff = match self.c2s.resumptions.find(previd, &account.localpart) {
            Some(takeover) => request_handoff(takeover).await,
            None => None,
        };
        let Some(handoff) = handoff else {
            metrics::counter!("hestia_sm_resumptions_failed_total").increment(1);
            proto::failed(Cond::ItemNotFound, None).write_to(&mut self.out, ns::CLIENT);
            return Ok(Step::Continue);
        };
        let Handoff {
            handle,
            outbound,
            sm,
            ..
        } = *handoff;
        let jid = handle.info.jid.clone();
        let handle = self.moved_here(&handle, &account);
        self.adopt(account, handle, outbound, sm);
        let Some(sm) = self.sm.as_mut() else {
            return Ok(Step::Continue);
        };
        // The client's h may acknowledge stanzas its old connection received; an impossible one
        // ends the session for good, its unacknowledged stanzas returned as undelivered.
        let released = sm.on_ack(h, Instant::now()).map_err(super::too_high_exit)?;
        proto::resumed(previd, sm.handled).write_to(&mut self.out, ns::CLIENT);
        for stanza in sm.unacked() {
            stanza.write_to(&mut self.out, ns::CLIENT);
        }
        self.release_journaled(released).await;
        metrics::counter!("hestia_sm_resumptions_total").increment(1);
        tracing::debug!(%jid, "session resumed");
        Ok(Step::Continue)
    }
}

/// Asks the old task for the session; None if it is gone or does not answer in time.
async fn request_handoff(takeover: mpsc::Sender<Takeover>) -> Option<Box<Handoff>> {
    let (tx, rx) = oneshot::channel();
    let ask = async move {
        takeover.send(tx).await.ok()?;
        rx.await.ok()
    };
    tokio::time::timeout(HANDOFF_TIMEOUT, ask)
        .await
        .ok()
        .flatten()
}
