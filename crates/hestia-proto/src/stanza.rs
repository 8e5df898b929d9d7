//! Stanza-level helpers over [`Element`]: kinds, IQ types, replies and error bounces
//! (RFC 6120 §8).

use hestia_xml::Element;

use crate::{StanzaError, ns};

/// The three stanza kinds of RFC 6120 §8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StanzaKind {
    Message,
    Presence,
    Iq,
}

impl StanzaKind {
    /// The kind of a top-level element in `jabber:client`, or None for a nonza.
    pub fn of(el: &Element) -> Option<StanzaKind> {
        if el.ns() != ns::CLIENT && el.ns() != ns::COMPONENT {
            return None;
        }
        match el.name() {
            "message" => Some(StanzaKind::Message),
            "presence" => Some(StanzaKind::Presence),
            "iq" => Some(StanzaKind::Iq),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StanzaKind::Message => "message",
            StanzaKind::Presence => "presence",
            StanzaKind::Iq => "iq",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqType {
    Get,
    Set,
    Result,
    Error,
}

impl IqType {
    pub fn of(iq: &Element) -> Option<IqType> {
        match iq.attr("type")? {
            "get" => Some(IqType::Get),
            "set" => Some(IqType::Set),
            "result" => Some(IqType::Result),
            "error" => Some(IqType::Error),
            _ => None,
        }
    }

    pub fn is_request(self) -> bool {
        matches!(self, IqType::Get | IqType::Set)
    }
}

/// True when the stanza is itself an error, which must never be answered with an error
/// (RFC 6120 §8.3.1).
pub fn is_error(stanza: &Element) -> bool {
    stanza.attr("type") == Some("error")
}

/// The single payload child of an IQ request (RFC 6120 §8.2.3 says exactly one).
pub fn iq_payload(iq: &Element) -> Option<&Element> {
    let mut children = iq.children();
    let first = children.next()?;
    children.next().is_none().then_some(first)
}

/// A bare reply skeleton: same name and id, `to` = original `from`, `from` = original `to`.
fn reply_skeleton(stanza: &Element, type_: &str) -> Element {
    let mut reply = Element::new(stanza.name(), ns::CLIENT).with_attr("type", type_);
    if let Some(id) = stanza.attr("id") {
        reply.set_attr("id", id);
    }
    if let Some(from) = stanza.attr("from") {
        reply.set_attr("to", from);
    }
    if let Some(to) = stanza.attr("to") {
        reply.set_attr("from", to);
    }
    reply
}

/// `<iq type='result'/>` answering `iq`, with an optional payload.
pub fn iq_result(iq: &Element, payload: Option<Element>) -> Element {
    let mut reply = reply_skeleton(iq, "result");
    if let Some(p) = payload {
        reply.push_child(p);
    }
    reply
}

/// The error bounce of `stanza` (RFC 6120 §8.3.1): addresses swapped, `type='error'`; an IQ
/// error carries no payload, a message or presence keeps its original children so the sender
/// can tell which one failed.
pub fn error_reply(stanza: &Element, error: &StanzaError) -> Element {
    let mut reply = reply_skeleton(stanza, "error");
    if stanza.name() != "iq" {
        for child in stanza.children() {
            reply.push_child(child.clone());
        }
    }
    reply.push_child(error.to_element());
    reply
}

/// A fresh random stanza or stream id.
pub fn new_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StanzaErrorCondition;

    #[test]
    fn error_reply_swaps_addresses() {
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("from", "a@d/1")
            .with_attr("to", "b@d")
            .with_attr("id", "m1")
            .with_child(Element::new("body", ns::CLIENT).with_text("hi"));
        let err = error_reply(&msg, &StanzaErrorCondition::ServiceUnavailable.into());
        assert_eq!(err.attr("to"), Some("a@d/1"));
        assert_eq!(err.attr("from"), Some("b@d"));
        assert_eq!(err.attr("type"), Some("error"));
        assert!(err.get_child("body", ns::CLIENT).is_some());
        let parsed = StanzaError::from_stanza(&err).expect("error child");
        assert_eq!(parsed.condition, StanzaErrorCondition::ServiceUnavailable);
    }

    #[test]
    fn iq_payload_requires_exactly_one_child() {
        let iq = Element::new("iq", ns::CLIENT);
        assert!(iq_payload(&iq).is_none());
        let iq = iq.with_child(Element::new("ping", ns::PING));
        assert!(iq_payload(&iq).is_some());
        let iq = iq.with_child(Element::new("ping", ns::PING));
        assert!(iq_payload(&iq).is_none());
    }
}
