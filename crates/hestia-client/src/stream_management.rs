//! Client-side XEP-0198 bookkeeping for the device SDK: how many stanzas this side handled (the
//! `h` it reports), and the stanzas it sent that the server has not acknowledged yet, so that
//! after a resumption exactly those are sent again — nothing lost, nothing twice.

use std::collections::VecDeque;

use hestia_proto::ns;
use hestia_xml::Element;

/// Unacknowledged stanzas kept at most; past it the oldest are given up (a server that never
/// acks must not make a small device run out of memory).
const MAX_UNACKED: usize = 256;

/// Ask the server for an ack once this many stanzas wait for one.
const REQUEST_EVERY: usize = 5;

#[derive(Debug, Default)]
pub(crate) struct StreamManagement {
    /// The resumption id the server gave, when it allows resuming.
    pub id: Option<String>,
    /// Stanzas received from the server (XEP-0198 counts every one handled).
    pub handled: u32,
    sent: u32,
    unacked: VecDeque<Element>,
}

/// True for what XEP-0198 counts: message, presence and iq.
pub(crate) fn is_counted(el: &Element) -> bool {
    el.ns() == ns::CLIENT && matches!(el.name(), "message" | "presence" | "iq")
}

impl StreamManagement {
    pub fn new(id: Option<String>) -> StreamManagement {
        StreamManagement {
            id,
            ..StreamManagement::default()
        }
    }

    pub fn on_received(&mut self, el: &Element) {
        if is_counted(el) {
            self.handled = self.handled.wrapping_add(1);
        }
    }

    pub fn on_sent(&mut self, el: &Element) {
        if !is_counted(el) {
            return;
        }
        self.sent = self.sent.wrapping_add(1);
        self.unacked.push_back(el.clone());
        if self.unacked.len() > MAX_UNACKED {
            self.unacked.pop_front();
        }
    }

    /// The server has handled `h` of the stanzas sent: forget those.
    pub fn on_ack(&mut self, h: u32) {
        let acked = self.sent.wrapping_sub(self.unacked.len() as u32);
        let newly = h.wrapping_sub(acked) as usize;
        for _ in 0..newly.min(self.unacked.len()) {
            self.unacked.pop_front();
        }
    }

    /// After `<resumed h/>`: what the server never handled, to send again (they stay
    /// unacknowledged until the server says otherwise).
    pub fn unhandled_after(&mut self, h: u32) -> Vec<Element> {
        self.on_ack(h);
        self.unacked.iter().cloned().collect()
    }

    pub fn wants_ack(&self) -> bool {
        self.unacked.len() >= REQUEST_EVERY
    }

    #[cfg(test)]
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }
}

/// `<a h/>` for what was handled.
pub(crate) fn ack(handled: u32) -> Element {
    Element::new("a", ns::SM).with_attr("h", handled.to_string())
}

pub(crate) fn request() -> Element {
    Element::new("r", ns::SM)
}

/// The `h` of an `<a/>` or `<resumed/>`.
pub(crate) fn h_of(el: &Element) -> Option<u32> {
    el.attr("h")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u32) -> Element {
        Element::new("message", ns::CLIENT).with_attr("id", n.to_string())
    }

    #[test]
    fn acks_drop_what_the_server_handled_and_resumption_resends_the_rest() {
        let mut sm = StreamManagement::new(Some("s1".into()));
        for n in 0..4 {
            sm.on_sent(&msg(n));
        }
        sm.on_sent(&ack(0)); // nonzas are not counted
        sm.on_ack(1);
        assert_eq!(sm.unacked(), 3);
        sm.on_ack(1); // a repeated ack changes nothing
        assert_eq!(sm.unacked(), 3);
        let again: Vec<_> = sm
            .unhandled_after(3)
            .iter()
            .map(|e| e.attr("id").map(str::to_owned))
            .collect();
        assert_eq!(again, [Some("3".to_owned())]);
        assert_eq!(sm.unacked(), 1, "resent stanzas wait for their ack");
        sm.on_ack(4);
        assert_eq!(sm.unacked(), 0);
    }

    #[test]
    fn counts_only_stanzas_and_wraps() {
        let mut sm = StreamManagement::new(None);
        sm.handled = u32::MAX;
        sm.on_received(&msg(1));
        sm.on_received(&Element::new("r", ns::SM));
        assert_eq!(sm.handled, 0);
        sm.sent = u32::MAX;
        sm.on_sent(&msg(1));
        sm.on_ack(0);
        assert_eq!(sm.unacked(), 0, "h wraps at 2^32 like the counter");
    }
}
