//! Logout (ISO/IEC 14543-5-8 §12): how a connection ends — our side of the close (stream
//! error or closing tag, bounded in time), leaving the directory, returning what a
//! stream-management session never acknowledged (XEP-0198), and the `unavailable` broadcast.

use std::time::Duration;

use hestia_proto::stanza::new_id;
use hestia_proto::{StreamError, ns};
use hestia_router::Outbound;
use hestia_router::undelivered::Unacked;
use hestia_xml::Element;
use tokio::io::AsyncWriteExt;

use crate::connection::{Connection, Exit, Phase};
use crate::io::Io;
use crate::sm::StreamManagement;
use crate::stream;

impl Connection {
    /// Sends our side of the close: the stream error (after a header if none went out yet)
    /// or the closing tag, then shuts the pipe down, all bounded in time.
    pub(crate) async fn close(&mut self, io: &mut Io, exit: &Exit) {
        let write = match exit {
            Exit::ClientClosed => {
                stream::write_close(&mut self.out, self.framing);
                true
            }
            Exit::Eof | Exit::Io(_) => false,
            _ => {
                self.write_stream_error(exit);
                true
            }
        };
        if write {
            let done = async {
                io.write_all(&self.out).await?;
                io.shutdown().await
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
        }
        self.out.clear();
    }

    /// The stream error an exit is closed with (after our header if none went out yet).
    fn write_stream_error(&mut self, exit: &Exit) {
        let (condition, text, detail) = match exit {
            Exit::Stream(e, text) => (*e, text.as_deref(), None),
            Exit::StreamDetail(e, detail) => (*e, None, Some(&**detail)),
            Exit::KeepAliveTimeout => (
                StreamError::ConnectionTimeout,
                Some("no answer to the keep-alive ping"),
                None,
            ),
            Exit::Takeover(_) | Exit::ResumedElsewhere => (
                StreamError::Conflict,
                Some("the session was resumed on another stream"),
                None,
            ),
            Exit::Shutdown => (StreamError::SystemShutdown, None, None),
            Exit::ClientClosed | Exit::Eof | Exit::Io(_) => return,
        };
        if !self.is_header_sent {
            let domain = self.c2s.irsp.domain.to_string();
            stream::write_header(&mut self.out, self.framing, &domain, &new_id(), None);
        }
        if !matches!(exit, Exit::Shutdown) {
            metrics::counter!("hestia_stream_errors_total", "condition" => condition.condition())
                .increment(1);
        }
        stream::write_error_detail(&mut self.out, self.framing, condition, text, detail);
    }

    /// Leaves the directory and tells the account's other connections it went away.
    pub(crate) async fn cleanup(&mut self) {
        let Phase::Bound { handle, .. } = &self.phase else {
            return;
        };
        let irsp = self.c2s.irsp.clone();
        let jid = handle.info.jid.clone();
        let was_available = handle.is_available();
        // A connection replaced by a newer login was already removed from the directory
        // (unbind finds nothing), but it was counted when it bound: count it out either way.
        irsp.directory.unbind(&jid, handle.serial);
        metrics::gauge!("hestia_sessions_bound").decrement(1.0);
        if let Some(sm) = self.sm.take() {
            // Stored before the contacts hear `unavailable`, as any stored stanza is committed
            // before anything else happens to it.
            Box::pin(self.return_unacked(&jid, sm)).await;
        } else if irsp.journal().is_some() {
            Box::pin(self.keep_journaled()).await;
        }
        if was_available {
            // Abrupt or graceful, the contacts learn at once (14543-5-8 §12).
            let unavailable = Element::new("presence", ns::CLIENT)
                .with_attr("type", "unavailable")
                .with_attr("from", jid.to_string());
            hestia_router::presence::broadcast(&irsp, &jid, unavailable).await;
        }
        if irsp.directory.sessions_of(&jid).is_empty()
            && let Some(local) = jid.local()
        {
            // The cached relationships of an account nobody is using would only cost memory.
            irsp.relations.forget([local]);
        }
    }

    /// XEP-0198: what the client never acknowledged — and what was still queued for it — was
    /// not delivered; the router stores or bounces it. Runs after the session left the
    /// directory, so nothing new is queued behind it.
    async fn return_unacked(&mut self, jid: &hestia_proto::Jid, mut sm: Box<StreamManagement>) {
        if let Some(r) = &sm.resumption {
            self.c2s.resumptions.remove(&r.id);
        }
        let mut stanzas = sm.take_unacked();
        stanzas.extend(self.drain_outbound());
        hestia_router::undelivered::return_undelivered(&self.c2s.irsp, jid, stanzas).await;
    }

    /// Without stream management: journaled stanzas never flushed to the socket, or still
    /// queued, stay stored for the next login (`offline.durable_delivery`); the rest of the
    /// queue is lost with the connection, as it always was.
    async fn keep_journaled(&mut self) {
        let mut ids = std::mem::take(&mut self.unflushed);
        ids.extend(self.drain_outbound().into_iter().filter_map(|u| u.journal));
        if let Some(journal) = self.c2s.irsp.journal() {
            journal.keep(ids).await;
        }
    }

    /// What is still queued for the session, which has left the directory.
    fn drain_outbound(&mut self) -> Vec<Unacked> {
        let mut stanzas = Vec::new();
        if let Some(rx) = &mut self.outbound {
            while let Ok(msg) = rx.try_recv() {
                match msg {
                    Outbound::Stanza(el) => stanzas.push(Unacked::new(el, None)),
                    Outbound::Journaled(el, id) => stanzas.push(Unacked::new(el, Some(id))),
                    Outbound::Close(..) => {}
                }
            }
        }
        stanzas
    }
}
