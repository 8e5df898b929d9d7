//! Sans-IO XML stream codec for XMPP (RFC 6120 §4 streams, §11 restricted XML).
//!
//! Bytes go in through [`StreamParser::feed`], [`StreamEvent`]s come out of
//! [`StreamParser::next`]; `Ok(None)` means "need more bytes". The accepted XML is the subset
//! RFC 6120 §11 allows: UTF-8 only, no DTD, no comments, no processing instructions (the XML
//! declaration before the stream header is accepted and ignored), no entity references beyond
//! the five predefined ones and character references. Size, depth and attribute limits
//! ([`Limits`]) are enforced inside the parser before offending input is buffered in full.
//!
//! Stanzas are delivered as [`Element`]s, a small owned DOM that also serialises itself.
//!
//! The tokenizer is hand-written rather than built on `rxml`: the limits have to cut off input
//! mid-token, errors have to map one-to-one onto stream error conditions, and a small stanza is
//! parsed in one pass with no per-byte allocation.

mod element;
mod error;
mod input;
mod lexer;
mod parser;
mod text;
mod tree;

pub use element::{Element, Node, XML_NS};
pub use error::XmlError;
pub use parser::{FEED_SLACK, Limits, StreamEvent, StreamHeader, StreamParser, parse_element};
pub use tree::STREAM_NS;
