//! The XEP-0198 wire vocabulary: the nonzas a client sends (`<enable/>`, `<resume/>`, `<r/>`,
//! `<a/>`) parsed into typed values, and the ones the server answers with.

use hestia_proto::{StanzaErrorCondition, ns};
use hestia_xml::Element;

/// A stream-management element received from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nonza {
    /// `<enable resume='true' max='…'/>`: `max` is the client's preferred resumption window.
    Enable { is_resume: bool, max: Option<u64> },
    /// `<resume previd='…' h='…'/>`.
    Resume { previd: String, h: u32 },
    /// `<r/>`: the client asks how many of its stanzas we handled.
    Request,
    /// `<a h='…'/>`: the client has handled `h` of our stanzas.
    Ack { h: u32 },
}

/// Why a stream-management element was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NonzaError {
    #[error("unknown stream-management element <{0}/>")]
    Unknown(String),
    #[error("<{0}/> needs an h attribute between 0 and 2^32-1")]
    BadH(&'static str),
    #[error("<resume/> needs a previd")]
    NoPrevid,
}

impl Nonza {
    /// Parses an element of the `urn:xmpp:sm:3` namespace.
    pub fn parse(el: &Element) -> Result<Nonza, NonzaError> {
        match el.name() {
            "enable" => Ok(Nonza::Enable {
                is_resume: matches!(el.attr("resume"), Some("true" | "1")),
                max: el.attr("max").and_then(|m| m.parse().ok()),
            }),
            "resume" => Ok(Nonza::Resume {
                previd: el
                    .attr("previd")
                    .filter(|p| !p.is_empty())
                    .ok_or(NonzaError::NoPrevid)?
                    .to_owned(),
                h: h_of(el, "resume")?,
            }),
            "r" => Ok(Nonza::Request),
            "a" => Ok(Nonza::Ack { h: h_of(el, "a")? }),
            other => Err(NonzaError::Unknown(other.to_owned())),
        }
    }
}

fn h_of(el: &Element, name: &'static str) -> Result<u32, NonzaError> {
    el.attr("h")
        .and_then(|h| h.parse().ok())
        .ok_or(NonzaError::BadH(name))
}

/// `<enabled id='…' resume='true' max='…'/>`, or a bare `<enabled/>` without resumption.
pub fn enabled(resumption: Option<(&str, u64)>) -> Element {
    let el = Element::new("enabled", ns::SM);
    match resumption {
        Some((id, max)) => el
            .with_attr("id", id)
            .with_attr("resume", "true")
            .with_attr("max", max.to_string()),
        None => el,
    }
}

/// `<resumed previd='…' h='…'/>`.
pub fn resumed(previd: &str, h: u32) -> Element {
    Element::new("resumed", ns::SM)
        .with_attr("previd", previd)
        .with_attr("h", h.to_string())
}

/// `<failed><condition/></failed>`, with our handled count when a session is known.
pub fn failed(condition: StanzaErrorCondition, h: Option<u32>) -> Element {
    let mut el = Element::new("failed", ns::SM)
        .with_child(Element::new(condition.name(), ns::STANZA_ERRORS));
    if let Some(h) = h {
        el.set_attr("h", h.to_string());
    }
    el
}

/// `<r/>`.
pub fn request() -> Element {
    Element::new("r", ns::SM)
}

/// `<a h='…'/>`.
pub fn ack(h: u32) -> Element {
    Element::new("a", ns::SM).with_attr("h", h.to_string())
}

/// The application condition of the `undefined-condition` stream error sent for an `h` larger
/// than the number of stanzas sent (XEP-0198 §4).
pub fn handled_count_too_high(h: u32, send_count: u32) -> Element {
    Element::new("handled-count-too-high", ns::SM)
        .with_attr("h", h.to_string())
        .with_attr("send-count", send_count.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Result<Nonza, NonzaError> {
        let el = hestia_xml::parse_element(xml, ns::CLIENT).expect("xml");
        Nonza::parse(&el)
    }

    #[test]
    fn nonzas_parse() {
        let x = "xmlns='urn:xmpp:sm:3'";
        let cases = [
            (
                format!("<enable {x} resume='true' max='600'/>"),
                Ok(Nonza::Enable {
                    is_resume: true,
                    max: Some(600),
                }),
            ),
            (
                format!("<enable {x}/>"),
                Ok(Nonza::Enable {
                    is_resume: false,
                    max: None,
                }),
            ),
            (
                format!("<enable {x} resume='1' max='soon'/>"),
                Ok(Nonza::Enable {
                    is_resume: true,
                    max: None,
                }),
            ),
            (
                format!("<resume {x} previd='abc' h='4'/>"),
                Ok(Nonza::Resume {
                    previd: "abc".into(),
                    h: 4,
                }),
            ),
            (format!("<resume {x} h='4'/>"), Err(NonzaError::NoPrevid)),
            (
                format!("<resume {x} previd='abc'/>"),
                Err(NonzaError::BadH("resume")),
            ),
            (format!("<r {x}/>"), Ok(Nonza::Request)),
            (
                format!("<a {x} h='4294967295'/>"),
                Ok(Nonza::Ack { h: u32::MAX }),
            ),
            (
                format!("<a {x} h='4294967296'/>"),
                Err(NonzaError::BadH("a")),
            ),
            (format!("<a {x} h='-1'/>"), Err(NonzaError::BadH("a"))),
            (format!("<a {x}/>"), Err(NonzaError::BadH("a"))),
            (
                format!("<enabled {x}/>"),
                Err(NonzaError::Unknown("enabled".into())),
            ),
        ];
        for (xml, want) in cases {
            assert_eq!(parse(&xml), want, "{xml}");
        }
    }

    #[test]
    fn answers_serialise() {
        let xml = |el: Element| el.to_xml(ns::CLIENT);
        assert_eq!(
            xml(enabled(Some(("id1", 300)))),
            "<enabled xmlns=\"urn:xmpp:sm:3\" id=\"id1\" resume=\"true\" max=\"300\"/>"
        );
        assert_eq!(xml(enabled(None)), "<enabled xmlns=\"urn:xmpp:sm:3\"/>");
        assert_eq!(
            xml(failed(StanzaErrorCondition::ItemNotFound, None)),
            "<failed xmlns=\"urn:xmpp:sm:3\"><item-not-found xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/></failed>"
        );
        assert_eq!(
            xml(handled_count_too_high(5, 3)),
            "<handled-count-too-high xmlns=\"urn:xmpp:sm:3\" h=\"5\" send-count=\"3\"/>"
        );
    }
}
