//! SASL for Hestia (RFC 4422 as profiled for XMPP by RFC 6120 §6): the mechanisms the server offers and the client
//! speaks, as sans-IO state machines that take and return the raw SASL payloads (the XMPP layer does the base64 and
//! the `<auth/>`/`<challenge/>`/`<response/>`/`<success/>`/`<failure/>` elements).
//!
//! - SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), with and without channel binding (`-PLUS`, using
//!   `tls-exporter` from RFC 9266): [`ScramServer`], [`ScramClient`], [`ScramKeys`].
//! - PLAIN (RFC 4616): [`parse_plain`], [`encode_plain`].
//! - Failure conditions (RFC 6120 §6.5): [`SaslError`].
//! - SASLprep (RFC 4013): [`saslprep()`].

mod channel_binding;
mod error;
mod keys;
mod mechanism;
mod plain;
mod saslprep;
mod scram;

pub use channel_binding::{ChannelBinding, TLS_EXPORTER, TLS_EXPORTER_LABEL, TLS_EXPORTER_LEN};
pub use error::SaslError;
pub use keys::ScramKeys;
pub use mechanism::{HashAlg, Mechanism};
pub use plain::{PlainCredentials, encode_plain, parse_plain};
pub use saslprep::saslprep;
pub use scram::client::ScramClient;
pub use scram::server::{ClientFirst, ScramServer};
