//! Stream errors (RFC 6120 §4.9.3) and stanza errors (RFC 6120 §8.3.3), named exactly as the RFC
//! names them and able to write their own XML.

use hestia_xml::Element;

use crate::ns;

/// A stream-level error condition; sending one closes the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamError {
    BadFormat,
    BadNamespacePrefix,
    Conflict,
    ConnectionTimeout,
    HostGone,
    HostUnknown,
    ImproperAddressing,
    InternalServerError,
    InvalidFrom,
    InvalidNamespace,
    InvalidXml,
    NotAuthorized,
    NotWellFormed,
    PolicyViolation,
    RemoteConnectionFailed,
    Reset,
    ResourceConstraint,
    RestrictedXml,
    SeeOtherHost,
    SystemShutdown,
    UndefinedCondition,
    UnsupportedEncoding,
    UnsupportedFeature,
    UnsupportedStanzaType,
    UnsupportedVersion,
}

const STREAM_ERRORS: &[(StreamError, &str)] = &[
    (StreamError::BadFormat, "bad-format"),
    (StreamError::BadNamespacePrefix, "bad-namespace-prefix"),
    (StreamError::Conflict, "conflict"),
    (StreamError::ConnectionTimeout, "connection-timeout"),
    (StreamError::HostGone, "host-gone"),
    (StreamError::HostUnknown, "host-unknown"),
    (StreamError::ImproperAddressing, "improper-addressing"),
    (StreamError::InternalServerError, "internal-server-error"),
    (StreamError::InvalidFrom, "invalid-from"),
    (StreamError::InvalidNamespace, "invalid-namespace"),
    (StreamError::InvalidXml, "invalid-xml"),
    (StreamError::NotAuthorized, "not-authorized"),
    (StreamError::NotWellFormed, "not-well-formed"),
    (StreamError::PolicyViolation, "policy-violation"),
    (
        StreamError::RemoteConnectionFailed,
        "remote-connection-failed",
    ),
    (StreamError::Reset, "reset"),
    (StreamError::ResourceConstraint, "resource-constraint"),
    (StreamError::RestrictedXml, "restricted-xml"),
    (StreamError::SeeOtherHost, "see-other-host"),
    (StreamError::SystemShutdown, "system-shutdown"),
    (StreamError::UndefinedCondition, "undefined-condition"),
    (StreamError::UnsupportedEncoding, "unsupported-encoding"),
    (StreamError::UnsupportedFeature, "unsupported-feature"),
    (
        StreamError::UnsupportedStanzaType,
        "unsupported-stanza-type",
    ),
    (StreamError::UnsupportedVersion, "unsupported-version"),
];

impl StreamError {
    /// The defined-condition element name.
    pub fn condition(self) -> &'static str {
        STREAM_ERRORS
            .iter()
            .find(|(e, _)| *e == self)
            .map_or("undefined-condition", |(_, n)| n)
    }

    pub fn from_condition(name: &str) -> Option<StreamError> {
        STREAM_ERRORS
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(e, _)| *e)
    }

    /// `<stream:error><condition xmlns='…streams'/><text>…</text></stream:error>`.
    pub fn to_element(self, text: Option<&str>) -> Element {
        let mut el = Element::new("error", ns::STREAM)
            .with_child(Element::new(self.condition(), ns::STREAM_ERRORS));
        if let Some(text) = text {
            el.push_child(Element::new("text", ns::STREAM_ERRORS).with_text(text));
        }
        el
    }

    /// Reads the condition of a received `<stream:error/>`.
    pub fn from_element(el: &Element) -> Option<StreamError> {
        el.children()
            .filter(|c| c.ns() == ns::STREAM_ERRORS && c.name() != "text")
            .find_map(|c| StreamError::from_condition(c.name()))
    }
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.condition())
    }
}

/// The `type` of a stanza error (RFC 6120 §8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    Auth,
    Cancel,
    Continue,
    Modify,
    Wait,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorType> {
        [
            ErrorType::Auth,
            ErrorType::Cancel,
            ErrorType::Continue,
            ErrorType::Modify,
            ErrorType::Wait,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// A stanza-level defined condition (RFC 6120 §8.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StanzaErrorCondition {
    BadRequest,
    Conflict,
    FeatureNotImplemented,
    Forbidden,
    Gone,
    InternalServerError,
    ItemNotFound,
    JidMalformed,
    NotAcceptable,
    NotAllowed,
    NotAuthorized,
    PolicyViolation,
    RecipientUnavailable,
    Redirect,
    RegistrationRequired,
    RemoteServerNotFound,
    RemoteServerTimeout,
    ResourceConstraint,
    ServiceUnavailable,
    SubscriptionRequired,
    UndefinedCondition,
    UnexpectedRequest,
}

use StanzaErrorCondition as C;

/// Condition, wire name and the error type the RFC's examples pair it with.
const STANZA_ERRORS: &[(StanzaErrorCondition, &str, ErrorType)] = &[
    (C::BadRequest, "bad-request", ErrorType::Modify),
    (C::Conflict, "conflict", ErrorType::Cancel),
    (
        C::FeatureNotImplemented,
        "feature-not-implemented",
        ErrorType::Cancel,
    ),
    (C::Forbidden, "forbidden", ErrorType::Auth),
    (C::Gone, "gone", ErrorType::Cancel),
    (
        C::InternalServerError,
        "internal-server-error",
        ErrorType::Cancel,
    ),
    (C::ItemNotFound, "item-not-found", ErrorType::Cancel),
    (C::JidMalformed, "jid-malformed", ErrorType::Modify),
    (C::NotAcceptable, "not-acceptable", ErrorType::Modify),
    (C::NotAllowed, "not-allowed", ErrorType::Cancel),
    (C::NotAuthorized, "not-authorized", ErrorType::Auth),
    (C::PolicyViolation, "policy-violation", ErrorType::Modify),
    (
        C::RecipientUnavailable,
        "recipient-unavailable",
        ErrorType::Wait,
    ),
    (C::Redirect, "redirect", ErrorType::Modify),
    (
        C::RegistrationRequired,
        "registration-required",
        ErrorType::Auth,
    ),
    (
        C::RemoteServerNotFound,
        "remote-server-not-found",
        ErrorType::Cancel,
    ),
    (
        C::RemoteServerTimeout,
        "remote-server-timeout",
        ErrorType::Wait,
    ),
    (
        C::ResourceConstraint,
        "resource-constraint",
        ErrorType::Wait,
    ),
    (
        C::ServiceUnavailable,
        "service-unavailable",
        ErrorType::Cancel,
    ),
    (
        C::SubscriptionRequired,
        "subscription-required",
        ErrorType::Auth,
    ),
    (
        C::UndefinedCondition,
        "undefined-condition",
        ErrorType::Cancel,
    ),
    (C::UnexpectedRequest, "unexpected-request", ErrorType::Wait),
];

impl StanzaErrorCondition {
    fn entry(self) -> (&'static str, ErrorType) {
        STANZA_ERRORS
            .iter()
            .find(|(c, _, _)| *c == self)
            .map_or(("undefined-condition", ErrorType::Cancel), |(_, n, t)| {
                (n, *t)
            })
    }

    pub fn name(self) -> &'static str {
        self.entry().0
    }

    pub fn default_type(self) -> ErrorType {
        self.entry().1
    }

    pub fn from_name(name: &str) -> Option<StanzaErrorCondition> {
        STANZA_ERRORS
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(c, _, _)| *c)
    }
}

/// A stanza error with optional human text and an optional application-specific child
/// (for Hestia: the IGRS error or status element).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    pub condition: StanzaErrorCondition,
    pub error_type: ErrorType,
    pub text: Option<String>,
    pub app: Option<Element>,
}

impl StanzaError {
    pub fn new(condition: StanzaErrorCondition) -> StanzaError {
        StanzaError {
            condition,
            error_type: condition.default_type(),
            text: None,
            app: None,
        }
    }

    pub fn with_text(mut self, text: impl Into<String>) -> StanzaError {
        self.text = Some(text.into());
        self
    }

    pub fn with_app(mut self, app: Element) -> StanzaError {
        self.app = Some(app);
        self
    }

    /// `<error type='…'><condition xmlns='…stanzas'/>[<text/>][app]</error>` in `jabber:client`.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("error", ns::CLIENT)
            .with_attr("type", self.error_type.as_str())
            .with_child(Element::new(self.condition.name(), ns::STANZA_ERRORS));
        if let Some(text) = &self.text {
            el.push_child(Element::new("text", ns::STANZA_ERRORS).with_text(text.clone()));
        }
        if let Some(app) = &self.app {
            el.push_child(app.clone());
        }
        el
    }

    /// Reads the `<error/>` child of an error stanza.
    pub fn from_stanza(stanza: &Element) -> Option<StanzaError> {
        let el = stanza.children().find(|c| c.name() == "error")?;
        let condition = el
            .children()
            .filter(|c| c.ns() == ns::STANZA_ERRORS && c.name() != "text")
            .find_map(|c| StanzaErrorCondition::from_name(c.name()))?;
        let error_type = el
            .attr("type")
            .and_then(ErrorType::parse)
            .unwrap_or(condition.default_type());
        Some(StanzaError {
            condition,
            error_type,
            text: el.get_child("text", ns::STANZA_ERRORS).map(|t| t.text()),
            app: el.children().find(|c| c.ns() != ns::STANZA_ERRORS).cloned(),
        })
    }
}

impl From<StanzaErrorCondition> for StanzaError {
    fn from(condition: StanzaErrorCondition) -> Self {
        StanzaError::new(condition)
    }
}

impl std::fmt::Display for StanzaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.condition.name())?;
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StanzaError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_condition_round_trips() {
        for (e, name) in STREAM_ERRORS {
            assert_eq!(e.condition(), *name);
            assert_eq!(StreamError::from_condition(name), Some(*e));
            let el = e.to_element(Some("why"));
            assert_eq!(StreamError::from_element(&el), Some(*e));
        }
        assert_eq!(
            STREAM_ERRORS.len(),
            25,
            "RFC 6120 §4.9.3 defines 25 conditions"
        );
    }

    #[test]
    fn every_stanza_condition_round_trips() {
        for (c, name, t) in STANZA_ERRORS {
            let err = StanzaError::new(*c).with_text("x");
            let stanza = Element::new("iq", ns::CLIENT).with_child(err.to_element());
            let back = StanzaError::from_stanza(&stanza).expect("parsed");
            assert_eq!(back.condition, *c);
            assert_eq!(back.error_type, *t);
            assert_eq!(c.name(), *name);
            assert_eq!(back.text.as_deref(), Some("x"));
        }
        assert_eq!(
            STANZA_ERRORS.len(),
            22,
            "RFC 6120 §8.3.3 defines 22 conditions"
        );
    }
}
