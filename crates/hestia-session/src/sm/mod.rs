//! XEP-0198 stream management: acknowledgements and resumption of client streams.
//!
//! [`StreamManagement`] is the per-stream state once a bound client sent `<enable/>`: the count
//! of its stanzas we handled (answering `<r/>`), and the stanzas we sent that it has not yet
//! acknowledged, kept until an `<a h/>` covers them. A resumable session whose connection is lost
//! hibernates ([`resume`]): it stays in the directory, keeps queueing, and a new stream of the
//! same account takes it over with `<resume/>`. What it never acknowledged when it ends for good
//! goes back through [`hestia_router::undelivered`].

mod handlers;
pub mod proto;
pub mod resume;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hestia_proto::StreamError;
use hestia_router::journal::JournalId;
use hestia_router::undelivered::Unacked;
use hestia_xml::Element;
use tokio::sync::mpsc;

use crate::connection::Exit;
use resume::Takeover;

/// How eagerly the server asks for acknowledgements.
#[derive(Debug, Clone, Copy)]
pub struct AckPolicy {
    /// Ask (`<r/>`) once this many stanzas are unacknowledged …
    pub every: usize,
    /// … or this long after the oldest unacknowledged one went out, whichever comes first.
    pub delay: Duration,
    /// Most unacknowledged stanzas kept; one more ends the stream with `resource-constraint`.
    pub max_unacked: usize,
}

/// A resumable session's identity and how long it may hibernate.
#[derive(Debug)]
pub struct Resumption {
    pub id: String,
    pub window: Duration,
    /// Where a new stream asks this one for its state.
    pub takeover: mpsc::Receiver<Takeover>,
}

/// The unacknowledged queue is over its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// An `<a h/>` acknowledging more stanzas than were sent (XEP-0198 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooHigh {
    pub h: u32,
    pub sent: u32,
}

/// Stream-management state of one session (it moves with the session on resumption).
#[derive(Debug)]
pub struct StreamManagement {
    /// Stanzas received from the client and handled, modulo 2^32 (our `h`).
    pub handled: u32,
    /// Stanzas sent to the client (or queued for it while hibernated), modulo 2^32.
    sent: u32,
    /// The oldest `sent - acked` stanzas, in the order they were sent, with their
    /// delivery-journal rows.
    unacked: VecDeque<Unacked>,
    is_request_pending: bool,
    request_at: Option<Instant>,
    policy: AckPolicy,
    pub resumption: Option<Resumption>,
}

impl StreamManagement {
    pub fn new(policy: AckPolicy, resumption: Option<Resumption>) -> StreamManagement {
        StreamManagement {
            handled: 0,
            sent: 0,
            unacked: VecDeque::new(),
            is_request_pending: false,
            request_at: None,
            policy,
            resumption,
        }
    }

    /// Counts a stanza the client sent us once it has been handled.
    pub fn note_handled(&mut self) {
        self.handled = self.handled.wrapping_add(1);
    }

    /// Keeps a sent stanza until it is acknowledged. One beyond the bound is still kept — the
    /// stream ends, and it is returned as undelivered with the rest — but refused.
    pub fn note_sent(&mut self, stanza: Unacked, now: Instant) -> Result<(), QueueFull> {
        self.unacked.push_back(stanza);
        self.sent = self.sent.wrapping_add(1);
        if self.request_at.is_none() {
            self.request_at = Some(now + self.policy.delay);
        }
        if self.unacked.len() > self.policy.max_unacked {
            return Err(QueueFull);
        }
        Ok(())
    }

    /// Drops what `h` acknowledges and returns the journal rows it covered; an `h` beyond what
    /// was sent is refused, state untouched. An `h` behind an earlier acknowledgement (a client
    /// bug, not a lie) acknowledges nothing.
    pub fn on_ack(&mut self, h: u32, now: Instant) -> Result<Vec<JournalId>, TooHigh> {
        let acked = self.sent.wrapping_sub(self.unacked_len());
        let newly = h.wrapping_sub(acked) as usize;
        if newly > self.unacked.len() {
            let is_stale = acked.wrapping_sub(h) < 1 << 31;
            return if is_stale {
                Ok(Vec::new())
            } else {
                Err(TooHigh { h, sent: self.sent })
            };
        }
        let released = self
            .unacked
            .drain(..newly)
            .filter_map(|u| u.journal)
            .collect();
        self.is_request_pending = false;
        self.request_at = (!self.unacked.is_empty()).then(|| now + self.policy.delay);
        Ok(released)
    }

    /// Whether to send `<r/>` now; if so, it is outstanding until the next `<a/>`.
    pub fn take_request(&mut self, now: Instant) -> bool {
        let is_due = !self.is_request_pending
            && !self.unacked.is_empty()
            && (self.unacked.len() >= self.policy.every
                || self.request_at.is_some_and(|at| at <= now));
        if is_due {
            self.is_request_pending = true;
            self.request_at = None;
        }
        is_due
    }

    /// When a delayed `<r/>` falls due, if one is waiting.
    pub fn request_at(&self) -> Option<Instant> {
        self.request_at.filter(|_| !self.is_request_pending)
    }

    pub fn sent(&self) -> u32 {
        self.sent
    }

    fn unacked_len(&self) -> u32 {
        u32::try_from(self.unacked.len()).unwrap_or(u32::MAX)
    }

    /// The unacknowledged stanzas, oldest first (resent after `<resumed/>`).
    pub fn unacked(&self) -> impl Iterator<Item = &Element> {
        self.unacked.iter().map(|u| &*u.stanza)
    }

    /// Takes the unacknowledged stanzas when the session ends for good.
    pub fn take_unacked(&mut self) -> Vec<Unacked> {
        self.unacked.drain(..).collect()
    }
}

/// The stream error for an impossible `h`: `undefined-condition` carrying XEP-0198's
/// `<handled-count-too-high/>`.
pub(crate) fn too_high_exit(e: TooHigh) -> Exit {
    Exit::StreamDetail(
        StreamError::UndefinedCondition,
        Box::new(proto::handled_count_too_high(e.h, e.sent)),
    )
}

/// The stream error for a full unacknowledged queue (Prosody's mod_smacks closes the same way).
pub(crate) fn queue_full_exit(_: QueueFull) -> Exit {
    Exit::stream(
        StreamError::ResourceConstraint,
        "too many unacknowledged stanzas",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hestia_proto::ns;

    const POLICY: AckPolicy = AckPolicy {
        every: 3,
        delay: Duration::from_secs(1),
        max_unacked: 4,
    };

    fn stanza(id: u32) -> Unacked {
        let element = Element::new("message", ns::CLIENT).with_attr("id", id.to_string());
        Unacked::new(Box::new(element), None)
    }

    fn ids(sm: &StreamManagement) -> Vec<String> {
        sm.unacked()
            .filter_map(|e| e.attr("id").map(str::to_owned))
            .collect()
    }

    #[test]
    fn acks_drop_what_they_cover_and_refuse_too_high() {
        let now = Instant::now();
        let mut sm = StreamManagement::new(POLICY, None);
        for i in 1..=3 {
            sm.note_sent(stanza(i), now).expect("room");
        }
        assert_eq!(sm.on_ack(1, now), Ok(vec![]));
        assert_eq!(ids(&sm), ["2", "3"]);
        // A repeated (stale) h acknowledges nothing new.
        assert_eq!(sm.on_ack(1, now), Ok(vec![]));
        assert_eq!(sm.on_ack(4, now), Err(TooHigh { h: 4, sent: 3 }));
        assert_eq!(ids(&sm), ["2", "3"], "a refused h changes nothing");
        assert_eq!(sm.on_ack(3, now), Ok(vec![]));
        assert!(ids(&sm).is_empty());
        // Behind the last acknowledgement: nothing happens.
        sm.note_sent(stanza(4), now).expect("room");
        assert_eq!(sm.on_ack(2, now), Ok(vec![]));
        assert_eq!(ids(&sm), ["4"]);
    }

    #[test]
    fn acks_return_the_journal_rows_they_cover() {
        let now = Instant::now();
        let mut sm = StreamManagement::new(POLICY, None);
        let journaled = |id: u32, row: i64| Unacked::new(stanza(id).stanza, Some(JournalId(row)));
        sm.note_sent(journaled(1, 10), now).expect("room");
        sm.note_sent(stanza(2), now).expect("room");
        sm.note_sent(journaled(3, 11), now).expect("room");
        assert_eq!(sm.on_ack(2, now), Ok(vec![JournalId(10)]));
        let left: Vec<_> = sm.take_unacked().into_iter().map(|u| u.journal).collect();
        assert_eq!(
            left,
            [Some(JournalId(11))],
            "what was never acknowledged keeps its row"
        );
    }

    #[test]
    fn counters_wrap_at_two_to_the_32() {
        let now = Instant::now();
        let mut sm = StreamManagement::new(POLICY, None);
        sm.sent = u32::MAX - 1;
        sm.note_sent(stanza(1), now).expect("room");
        sm.note_sent(stanza(2), now).expect("room");
        assert_eq!(sm.sent(), 0);
        assert_eq!(sm.on_ack(u32::MAX, now), Ok(vec![]));
        assert_eq!(ids(&sm), ["2"]);
        assert_eq!(sm.on_ack(0, now), Ok(vec![]));
        sm.handled = u32::MAX;
        sm.note_handled();
        assert_eq!(sm.handled, 0);
    }

    #[test]
    fn the_queue_is_bounded() {
        let now = Instant::now();
        let mut sm = StreamManagement::new(POLICY, None);
        for i in 0..4 {
            sm.note_sent(stanza(i), now).expect("room");
        }
        assert_eq!(sm.note_sent(stanza(9), now), Err(QueueFull));
        assert_eq!(sm.sent(), 5);
        assert_eq!(
            ids(&sm).last().map(String::as_str),
            Some("9"),
            "kept to be returned"
        );
    }

    #[test]
    fn requests_after_enough_stanzas_or_the_delay_and_not_twice() {
        let now = Instant::now();
        let mut sm = StreamManagement::new(POLICY, None);
        assert!(!sm.take_request(now), "nothing to acknowledge");
        sm.note_sent(stanza(1), now).expect("room");
        assert!(!sm.take_request(now));
        assert_eq!(sm.request_at(), Some(now + POLICY.delay));
        assert!(sm.take_request(now + POLICY.delay), "the delay passed");
        assert_eq!(sm.request_at(), None);
        sm.note_sent(stanza(2), now).expect("room");
        sm.note_sent(stanza(3), now).expect("room");
        assert!(!sm.take_request(now), "one request at a time");
        sm.on_ack(3, now).expect("ok");
        for i in 4..=6 {
            sm.note_sent(stanza(i), now).expect("room");
        }
        assert!(sm.take_request(now), "three unacknowledged");
    }
}
