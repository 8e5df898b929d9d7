//! Codec errors, one variant per RFC 6120 §4.9.3 stream error condition the codec can detect.

/// Why the XML stream was rejected. Each variant maps to exactly one stream error condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Syntax error (mismatched or malformed tags, bad references, stray text): `not-well-formed`.
    #[error("not well-formed: {0}")]
    NotWellFormed(String),
    /// A construct RFC 6120 §11.1 forbids (DTD, comment, processing instruction, custom
    /// entity reference): `restricted-xml`.
    #[error("restricted XML: {0}")]
    RestrictedXml(&'static str),
    /// A size, depth or attribute-count limit was exceeded: `policy-violation`.
    #[error("policy violation: {0}")]
    PolicyViolation(&'static str),
    /// The root is not `stream` in `http://etherx.jabber.org/streams`, or a prefix is not
    /// declared: `invalid-namespace`.
    #[error("invalid namespace")]
    InvalidNamespace,
    /// The input is not UTF-8 (invalid bytes, a UTF-16 byte order mark, or an XML declaration
    /// naming another encoding): `unsupported-encoding`.
    #[error("unsupported encoding")]
    UnsupportedEncoding,
}

impl XmlError {
    /// Shorthand for [`XmlError::NotWellFormed`].
    pub(crate) fn nwf(what: &str) -> XmlError {
        XmlError::NotWellFormed(what.to_owned())
    }
}
