//! The stream-management elements on a stream: `<enable/>` (after bind only), `<r/>`, `<a/>`,
//! and `<resume/>` (after authentication, instead of bind).

use std::time::{Duration, Instant};

use hestia_proto::stanza::new_id;
use hestia_proto::{StanzaErrorCondition as Cond, StreamError, ns};
use hestia_router::journal::JournalId;
use hestia_router::undelivered::Unacked;
use hestia_xml::Element;
use tokio::sync::mpsc;

use super::proto::{self, Nonza};
use super::{Resumption, StreamManagement};
use crate::connection::{Connection, Exit, Phase, Step};

impl Connection {
    /// A `urn:xmpp:sm:3` element in any phase.
    pub(crate) async fn on_sm(&mut self, el: &Element) -> Result<Step, Exit> {
        let nonza =
            Nonza::parse(el).map_err(|e| Exit::stream(StreamError::BadFormat, &e.to_string()))?;
        let is_bound = matches!(self.phase, Phase::Bound { .. });
        match nonza {
            Nonza::Resume { previd, h } if matches!(self.phase, Phase::Authenticated { .. }) => {
                return self.on_resume(&previd, h).await;
            }
            Nonza::Enable { is_resume, max } if is_bound && self.sm.is_none() => {
                self.on_enable(is_resume, max);
            }
            // XEP-0198 §3: enable before bind, twice, or resume on a bound stream.
            Nonza::Enable { .. } | Nonza::Resume { .. } => {
                self.write_nonza(&proto::failed(Cond::UnexpectedRequest, None));
            }
            Nonza::Request => {
                // Without stream management there is nothing to count; ignored, as Prosody does.
                if let Some(sm) = &self.sm {
                    let answer = proto::ack(sm.handled);
                    self.write_nonza(&answer);
                }
            }
            Nonza::Ack { h } => {
                if let Some(sm) = &mut self.sm {
                    let released = sm.on_ack(h, Instant::now()).map_err(super::too_high_exit)?;
                    self.release_journaled(released).await;
                }
            }
        }
        Ok(Step::Continue)
    }

    fn on_enable(&mut self, is_resume: bool, max: Option<u64>) {
        let Phase::Bound { account, .. } = &self.phase else {
            return;
        };
        let opts = &self.c2s.options;
        let resumption = (is_resume && !opts.resume_timeout.is_zero()).then(|| {
            // The client may ask for a shorter window than ours, never a longer one.
            let window = max.filter(|m| *m > 0).map_or(opts.resume_timeout, |m| {
                Duration::from_secs(m).min(opts.resume_timeout)
            });
            let (tx, rx) = mpsc::channel(1);
            let id = new_id();
            self.c2s.resumptions.register(&id, &account.localpart, tx);
            Resumption {
                id,
                window,
                takeover: rx,
            }
        });
        let answer = proto::enabled(
            resumption
                .as_ref()
                .map(|r| (r.id.as_str(), r.window.as_secs())),
        );
        let policy = opts.ack_policy;
        self.write_nonza(&answer);
        self.sm = Some(Box::new(StreamManagement::new(policy, resumption)));
    }

    fn write_nonza(&mut self, el: &Element) {
        el.write_to(&mut self.out, ns::CLIENT);
    }

    /// Sends `<r/>` when enough stanzas are unacknowledged or the oldest waited long enough.
    pub(crate) fn request_ack_if_due(&mut self) {
        if let Some(sm) = &mut self.sm
            && sm.take_request(Instant::now())
        {
            proto::request().write_to(&mut self.out, ns::CLIENT);
        }
    }

    /// Keeps a stanza just written to the client until it is acknowledged. Without stream
    /// management a journaled stanza counts as delivered once written to the socket.
    pub(crate) fn keep_unacked(
        &mut self,
        stanza: Box<Element>,
        journal: Option<JournalId>,
    ) -> Result<(), Exit> {
        match &mut self.sm {
            Some(sm) => sm
                .note_sent(Unacked::new(stanza, journal), Instant::now())
                .map_err(super::queue_full_exit),
            None => {
                self.unflushed.extend(journal);
                Ok(())
            }
        }
    }

    /// The client has these journaled stanzas: forget them.
    pub(crate) async fn release_journaled(&mut self, ids: Vec<JournalId>) {
        if let Some(journal) = self.c2s.irsp.journal().filter(|_| !ids.is_empty()) {
            // Boxed: a commit's state would otherwise sit in every idle connection's task.
            Box::pin(journal.release(ids)).await;
        }
    }
}
