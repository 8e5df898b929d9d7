//! The one error type of the client, with accessors for the conditions tests assert on.

use hestia_proto::{StanzaError, StanzaErrorCondition, StreamError};

/// Everything that can go wrong on a client connection.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// TLS could not be set up: bad PEM, handshake failure, STARTTLS not offered or refused.
    #[error("TLS error: {0}")]
    Tls(String),
    /// The server sent XML the codec rejected.
    #[error("XML error: {0}")]
    Xml(#[from] hestia_xml::XmlError),
    /// The server sent `<stream:error/>` with this condition (RFC 6120 §4.9).
    #[error("stream error from server: {0}")]
    Stream(StreamError),
    /// The server answered SASL with `<failure/>`; the RFC 6120 §6.5 condition name, e.g. `"not-authorized"`.
    #[error("SASL failure: {0}")]
    Sasl(String),
    /// An IQ was answered with an error (RFC 6120 §8.3). Boxed: an error carries an application element and
    /// would otherwise make every `Result` of this crate large.
    #[error("stanza error: {0}")]
    Stanza(Box<StanzaError>),
    /// The server did something the protocol does not allow here, or the client cannot proceed (for example a
    /// required feature is not offered, or the server's SCRAM signature does not verify).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A step did not finish within [`ConnectOptions::timeout`](crate::ConnectOptions::timeout).
    #[error("timed out")]
    Timeout,
    /// The server closed the stream (`</stream:stream>`) or the connection.
    #[error("stream closed by the server")]
    Closed,
}

impl ClientError {
    /// The condition of a received `<stream:error/>`.
    pub fn stream_error(&self) -> Option<StreamError> {
        match self {
            ClientError::Stream(e) => Some(*e),
            _ => None,
        }
    }

    /// The condition of a received SASL `<failure/>`.
    pub fn sasl_condition(&self) -> Option<&str> {
        match self {
            ClientError::Sasl(c) => Some(c),
            _ => None,
        }
    }

    /// The condition of a received stanza error.
    pub fn stanza_condition(&self) -> Option<StanzaErrorCondition> {
        match self {
            ClientError::Stanza(e) => Some(e.condition),
            _ => None,
        }
    }

    /// The received stanza error, with its text and application-specific child.
    pub fn stanza_error(&self) -> Option<&StanzaError> {
        match self {
            ClientError::Stanza(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}
