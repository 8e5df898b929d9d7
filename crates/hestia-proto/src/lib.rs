//! Typed protocol vocabulary shared by the server, the SDK and the tests: addresses (RFC 7622),
//! stream and stanza errors (RFC 6120 §4.9, §8.3), namespaces, stanza helpers, and the IGRS RA
//! wire names of ISO/IEC 14543-5-8 kept in one table-driven module ([`igrs`]).

pub mod device;
pub mod error;
pub mod igrs;
pub mod jid;
pub mod ns;
pub mod stanza;

pub use error::{ErrorType, StanzaError, StanzaErrorCondition, StreamError};
pub use jid::{Jid, JidError};
pub use stanza::{IqType, StanzaKind};
