//! Stream-level output (RFC 6120 §4): our stream header, `<stream:features/>` for each phase,
//! stream errors and the closing tag. Stream-namespace elements are written with the
//! conventional `stream:` prefix, which some clients match literally. Over WebSocket
//! (RFC 7395, [`Framing::WebSocket`]) the header and closing tag become the framing
//! namespace's `<open/>` and `<close/>`, and every element we write stands alone, declaring
//! the `stream:` prefix it uses.

use hestia_proto::{StreamError, ns};
use hestia_xml::{Element, StreamHeader};

/// Why a received header is refused, checked in RFC 6120 §4.9.3's order.
pub fn check_header(header: &StreamHeader, domain: &str) -> Result<(), StreamError> {
    if !header.is_stream_ns_ok {
        return Err(StreamError::InvalidNamespace);
    }
    if header.default_ns != ns::CLIENT {
        return Err(StreamError::InvalidNamespace);
    }
    match header.attr("to") {
        Some(to) if !to.eq_ignore_ascii_case(domain) => return Err(StreamError::HostUnknown),
        _ => {}
    }
    // RFC 6120 §4.7.5: a missing version means 0.9, which we do not speak; a higher major
    // version is refused, a higher minor one answered as 1.0.
    match header.attr("version").and_then(|v| v.split_once('.')) {
        Some(("1", minor)) if minor.parse::<u32>().is_ok() => Ok(()),
        _ => Err(StreamError::UnsupportedVersion),
    }
}

/// RFC 7395's framing namespace, of `<open/>` and `<close/>`.
pub const FRAMING_NS: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// How the stream is framed on the wire: one XML document over a byte pipe (RFC 6120), or
/// one complete element per WebSocket message (RFC 7395).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// `<stream:stream>` … `</stream:stream>` over TCP or TLS.
    #[default]
    Stream,
    /// `<open/>`, elements and `<close/>`, one per WebSocket message.
    WebSocket,
}

impl Framing {
    /// The `transport` label of connection metrics.
    pub fn transport(self) -> &'static str {
        match self {
            Framing::Stream => "tcp",
            Framing::WebSocket => "websocket",
        }
    }

    /// What opens `<stream:features>` and `<stream:error>`: standalone elements over
    /// WebSocket must declare the prefix themselves (RFC 7395 §3.3.2).
    fn stream_prefix_decl(self) -> &'static [u8] {
        match self {
            Framing::Stream => b"",
            Framing::WebSocket => b" xmlns:stream='http://etherx.jabber.org/streams'",
        }
    }
}

/// Our response header (RFC 6120 §4.7; RFC 7395 §3.4 over WebSocket).
pub fn write_header(
    out: &mut Vec<u8>,
    framing: Framing,
    domain: &str,
    stream_id: &str,
    to: Option<&str>,
) {
    match framing {
        Framing::Stream => out.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='"),
        Framing::WebSocket => out.extend_from_slice(b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='"),
    }
    out.extend_from_slice(stream_id.as_bytes());
    out.extend_from_slice(b"' from='");
    out.extend_from_slice(domain.as_bytes());
    if let Some(to) = to {
        // Only echo a syntactically valid address (never raw client bytes into XML).
        if let Ok(jid) = hestia_proto::Jid::parse(to) {
            out.extend_from_slice(b"' to='");
            out.extend_from_slice(escape_attr(&jid.to_string()).as_bytes());
        }
    }
    out.extend_from_slice(b"' version='1.0' xml:lang='en'");
    out.extend_from_slice(match framing {
        Framing::Stream => b">",
        Framing::WebSocket => b"/>",
    });
}

/// `s` escaped for a single-quoted attribute value.
pub(crate) fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
}

/// `<stream:features>children</stream:features>`.
pub fn write_features(out: &mut Vec<u8>, framing: Framing, children: &[Element]) {
    out.extend_from_slice(b"<stream:features");
    out.extend_from_slice(framing.stream_prefix_decl());
    out.push(b'>');
    for c in children {
        c.write_to(out, ns::CLIENT);
    }
    out.extend_from_slice(b"</stream:features>");
}

/// `<stream:error>…</stream:error></stream:stream>`.
pub fn write_error(out: &mut Vec<u8>, framing: Framing, error: StreamError, text: Option<&str>) {
    write_error_detail(out, framing, error, text, None);
}

/// As [`write_error`], with an application-specific condition element (RFC 6120 §4.9.4).
pub fn write_error_detail(
    out: &mut Vec<u8>,
    framing: Framing,
    error: StreamError,
    text: Option<&str>,
    detail: Option<&Element>,
) {
    let el = error.to_element(text);
    out.extend_from_slice(b"<stream:error");
    out.extend_from_slice(framing.stream_prefix_decl());
    out.push(b'>');
    for c in el.children().chain(detail) {
        c.write_to(out, ns::CLIENT);
    }
    out.extend_from_slice(b"</stream:error>");
    write_close(out, framing);
}

/// The end of our stream: the closing tag, or RFC 7395's `<close/>`.
pub fn write_close(out: &mut Vec<u8>, framing: Framing) {
    out.extend_from_slice(match framing {
        Framing::Stream => b"</stream:stream>",
        Framing::WebSocket => b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
    });
}

/// The SASL mechanisms element.
pub fn mechanisms(names: &[&str]) -> Element {
    names
        .iter()
        .fold(Element::new("mechanisms", ns::SASL), |m, n| {
            m.with_child(Element::new("mechanism", ns::SASL).with_text(*n))
        })
}

/// STARTTLS offer, marked required when it is.
pub fn starttls(is_required: bool) -> Element {
    let mut el = Element::new("starttls", ns::TLS);
    if is_required {
        el.push_child(Element::new("required", ns::TLS));
    }
    el
}

/// XEP-0440: the channel-binding types we support.
pub fn channel_binding_types() -> Element {
    Element::new("sasl-channel-binding", ns::SASL_CB)
        .with_child(Element::new("channel-binding", ns::SASL_CB).with_attr("type", "tls-exporter"))
}

/// XEP-0478: announce the stanza size limit so clients can stay under it. `idle_seconds` 0
/// means no idle timeout: the element is then left out, as both values must be positive
/// integers (clients such as tokio-xmpp refuse the features otherwise).
pub fn stream_limits(max_bytes: usize, idle_seconds: u64) -> Element {
    let mut el = Element::new("limits", ns::STREAM_LIMITS)
        .with_child(Element::new("max-bytes", ns::STREAM_LIMITS).with_text(max_bytes.to_string()));
    if idle_seconds > 0 {
        el.push_child(
            Element::new("idle-seconds", ns::STREAM_LIMITS).with_text(idle_seconds.to_string()),
        );
    }
    el
}

/// Resource binding and the (optional, RFC 6121 legacy) session establishment.
pub fn bind_features() -> Vec<Element> {
    vec![
        Element::new("bind", ns::BIND),
        Element::new("session", ns::SESSION).with_child(Element::new("optional", ns::SESSION)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use hestia_xml::{Limits, StreamEvent, StreamParser};

    fn header(xml: &str) -> StreamHeader {
        let mut p = StreamParser::new(Limits::default());
        p.feed(xml.as_bytes());
        match p.next() {
            Ok(Some(StreamEvent::Open(h))) => h,
            other => panic!("{other:?}"),
        }
    }

    const NS: &str = "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'";

    #[test]
    fn header_checks() {
        let cases = [
            (format!("<stream:stream {NS} to='d' version='1.0'>"), Ok(())),
            (format!("<stream:stream {NS} version='1.0'>"), Ok(())),
            (format!("<stream:stream {NS} to='D' version='1.1'>"), Ok(())),
            (format!("<stream:stream {NS} to='other' version='1.0'>"), Err(StreamError::HostUnknown)),
            (format!("<stream:stream {NS} to='d'>"), Err(StreamError::UnsupportedVersion)),
            (format!("<stream:stream {NS} to='d' version='2.0'>"), Err(StreamError::UnsupportedVersion)),
            (
                "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>".into(),
                Err(StreamError::InvalidNamespace),
            ),
        ];
        for (xml, want) in cases {
            assert_eq!(check_header(&header(&xml), "d"), want, "{xml}");
        }
    }

    #[test]
    fn stream_limits_leave_out_a_zero_idle_timeout() {
        let mut out = Vec::new();
        stream_limits(262_144, 0).write_to(&mut out, ns::CLIENT);
        let s = String::from_utf8(out).expect("utf8");
        assert!(s.contains("max-bytes") && s.contains(">262144<"), "{s}");
        assert!(!s.contains("idle-seconds"), "{s}");
        let mut out = Vec::new();
        stream_limits(262_144, 300).write_to(&mut out, ns::CLIENT);
        let s = String::from_utf8(out).expect("utf8");
        assert!(s.contains("idle-seconds") && s.contains(">300<"), "{s}");
    }

    #[test]
    fn error_is_prefixed_and_closes() {
        let mut out = Vec::new();
        write_error(
            &mut out,
            Framing::Stream,
            StreamError::PolicyViolation,
            Some("too big"),
        );
        let s = String::from_utf8(out).expect("utf8");
        assert!(
            s.starts_with(
                "<stream:error><policy-violation xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/>"
            ),
            "{s}"
        );
        assert!(s.ends_with("</stream:error></stream:stream>"), "{s}");
    }

    #[test]
    fn websocket_framing_writes_standalone_elements() {
        let mut out = Vec::new();
        write_header(&mut out, Framing::WebSocket, "d", "i1", None);
        write_features(&mut out, Framing::WebSocket, &[]);
        write_error(
            &mut out,
            Framing::WebSocket,
            StreamError::NotWellFormed,
            None,
        );
        let s = String::from_utf8(out).expect("utf8");
        assert_eq!(
            s,
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='i1' from='d' version='1.0' xml:lang='en'/>\
             <stream:features xmlns:stream='http://etherx.jabber.org/streams'></stream:features>\
             <stream:error xmlns:stream='http://etherx.jabber.org/streams'>\
             <not-well-formed xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>\
             <close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"
        );
    }
}
