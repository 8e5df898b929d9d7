//! XEP-0065 payloads the proxy answers — the streamhost answer and the activation request — and
//! the stream name (DST.ADDR) both ends connect with.

use hestia_proto::{Jid, StanzaError, StanzaErrorCondition as Cond, ns};
use hestia_xml::Element;
use sha1::{Digest, Sha1};

/// An activation request (`set` with `<activate/>`, XEP-0065 §5.3.3): relay the stream `sid`
/// between the requester and `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub sid: String,
    pub target: Jid,
}

/// Why a request to the proxy is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("an activation needs a sid")]
    MissingSid,
    #[error("an activation needs exactly one <activate/>")]
    ActivateCount,
    #[error("the target of an activation is a full JID")]
    BareTarget,
    #[error("the target of an activation is not a JID")]
    BadTarget,
}

impl From<ParseError> for StanzaError {
    fn from(e: ParseError) -> StanzaError {
        let condition = match e {
            ParseError::BadTarget => Cond::JidMalformed,
            _ => Cond::BadRequest,
        };
        StanzaError::new(condition).with_text(e.to_string())
    }
}

impl Activation {
    /// Parses the `<query/>` payload of an IQ `set` to the proxy.
    pub fn parse(query: &Element) -> Result<Activation, ParseError> {
        let sid = query
            .attr("sid")
            .filter(|s| !s.is_empty())
            .ok_or(ParseError::MissingSid)?;
        let mut activates = query
            .children()
            .filter(|c| c.is("activate", ns::BYTESTREAMS));
        let (Some(activate), None) = (activates.next(), activates.next()) else {
            return Err(ParseError::ActivateCount);
        };
        let target = Jid::parse(activate.text().trim()).map_err(|_| ParseError::BadTarget)?;
        if !target.is_full() {
            return Err(ParseError::BareTarget);
        }
        Ok(Activation {
            sid: sid.to_owned(),
            target,
        })
    }
}

/// The streamhost answer: where to connect.
pub fn streamhost(jid: &Jid, host: &str, port: u16) -> Element {
    Element::new("query", ns::BYTESTREAMS).with_child(
        Element::new("streamhost", ns::BYTESTREAMS)
            .with_attr("jid", jid.to_string())
            .with_attr("host", host)
            .with_attr("port", port.to_string()),
    )
}

/// The name of one stream: lower-case hex SHA-1 of SID + initiator full JID + target full JID
/// (XEP-0065 §5.3.2), which both ends send as the SOCKS5 DST.ADDR.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DstAddr(String);

impl DstAddr {
    pub fn of(sid: &str, initiator: &Jid, target: &Jid) -> DstAddr {
        let mut h = Sha1::new();
        h.update(sid.as_bytes());
        h.update(initiator.to_string().as_bytes());
        h.update(target.to_string().as_bytes());
        DstAddr(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Accepts exactly what [`DstAddr::of`] produces: 40 lower-case hex digits.
    pub fn parse(s: &str) -> Option<DstAddr> {
        let is_hash = s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        is_hash.then(|| DstAddr(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).expect("jid")
    }

    #[test]
    fn stream_name_is_the_hex_sha1_of_sid_initiator_target() {
        // Cross-checked with Python's hashlib.sha1(b"mySID" + initiator + target).
        let dst = DstAddr::of(
            "mySID",
            &jid("requester@example.com/foo"),
            &jid("target@example.org/bar"),
        );
        assert_eq!(dst.as_str(), "2e45ce941bf465393585e33be9ccff347e00b430");
        assert_eq!(DstAddr::parse(dst.as_str()), Some(dst));
    }

    #[test]
    fn requests_parse_or_name_their_error() {
        let q = |children: Vec<Element>, sid: Option<&str>| {
            let mut q = Element::new("query", ns::BYTESTREAMS);
            if let Some(sid) = sid {
                q.set_attr("sid", sid);
            }
            for c in children {
                q.push_child(c);
            }
            q
        };
        let activate = |t: &str| Element::new("activate", ns::BYTESTREAMS).with_text(t);
        let cases: Vec<(Element, Result<Activation, Cond>)> = vec![
            (
                q(vec![activate("bob@localhost/desk")], Some("s1")),
                Ok(Activation {
                    sid: "s1".into(),
                    target: jid("bob@localhost/desk"),
                }),
            ),
            (
                q(vec![activate("bob@localhost/desk")], None),
                Err(Cond::BadRequest),
            ),
            (q(vec![], Some("s1")), Err(Cond::BadRequest)),
            (
                q(vec![activate("a@x/1"), activate("b@x/2")], Some("s1")),
                Err(Cond::BadRequest),
            ),
            (
                q(vec![activate("bob@localhost")], Some("s1")),
                Err(Cond::BadRequest),
            ),
            (
                q(vec![activate("@@/")], Some("s1")),
                Err(Cond::JidMalformed),
            ),
        ];
        for (query, expected) in cases {
            let got = Activation::parse(&query).map_err(|e| StanzaError::from(e).condition);
            assert_eq!(got, expected, "{query}");
        }
    }

    #[test]
    fn malformed_stream_names_are_not_parsed() {
        for s in ["", "abc", &"g".repeat(40), &"A".repeat(40), &"a".repeat(41)] {
            assert_eq!(DstAddr::parse(s), None, "{s:?}");
        }
    }
}
