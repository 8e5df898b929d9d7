//! A small async XMPP client (RFC 6120 client-to-server streams) used by Hestia's tests, the load generator and
//! the CLI, and the seed of the device SDK.
//!
//! Its states are types, so a misuse does not compile:
//! [`Connected`] (TCP, TLS via STARTTLS or direct TLS, stream open; XEP-0077 registration)
//! → [`Authenticated`] (SASL: SCRAM-SHA-1/256 with or without `-PLUS`, PLAIN, EXTERNAL; RFC 6120 §6)
//! → [`Bound`] (resource bound, RFC 6120 §7; send, receive, IQ round trips, XEP-0199 ping)
//! → optionally [`Sender`] + [`Receiver`] for two tasks.
//!
//! ```no_run
//! # async fn demo(addr: std::net::SocketAddr, ca: Vec<u8>) -> Result<(), hestia_client::ClientError> {
//! use hestia_client::{ConnectOptions, Connected};
//! let opts = ConnectOptions::new(addr, "home.example").with_ca_pem(ca);
//! let mut session = Connected::connect(&opts).await?
//!     .authenticate("lamp-1", "secret").await?
//!     .bind(None).await?;
//! session.send_presence().await?;
//! session.ping().await?;
//! session.close().await
//! # }
//! ```

mod conn;
mod connected;
pub mod device;
mod error;
mod options;
mod sasl;
mod session;
pub mod simulator;
mod stream_management;
mod tls;

pub use connected::Connected;
pub use error::ClientError;
pub use options::{ConnectOptions, Transport};
pub use session::{Authenticated, Bound, Receiver, Resumption, Sender};
pub use tls::load_pem_certs;

pub use hestia_sasl::Mechanism;
pub use hestia_xml::Element;

#[cfg(test)]
mod tests;
