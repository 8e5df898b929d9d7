//! Client-to-server XMPP streams (RFC 6120) for the IRSP: login (ISO/IEC 14543-5-8 §8) with
//! STARTTLS or direct TLS, SASL, connection-ID binding, and the per-connection limits that
//! protect the server from what a stranger can send.
//!
//! One task per connection ([`connection`]); its state is [`Phase`](connection::Phase), an enum
//! whose variants carry only what is valid in them; handlers never read sockets — the task
//! feeds them parsed events and writes what they queue.

pub mod bind;
pub mod c2s;
pub mod config;
pub mod connection;
pub mod io;
pub mod sasl;
pub mod stream;

pub use c2s::C2s;
pub use config::C2sOptions;
