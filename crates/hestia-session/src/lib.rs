//! Client-to-server XMPP streams (RFC 6120) for the IRSP: login (ISO/IEC 14543-5-8 §8) with
//! STARTTLS or direct TLS, SASL, connection-ID binding, XEP-0198 stream management
//! ([`sm`]), and the per-connection limits that protect the server from what a stranger can
//! send.
//!
//! One task per connection ([`connection`]); its state is [`Phase`](connection::Phase), an enum
//! whose variants carry only what is valid in them; handlers never read sockets — the task
//! feeds them parsed events and writes what they queue.

pub mod bind;
pub mod c2s;
pub mod config;
pub mod connection;
pub mod io;
pub mod logout;
pub mod sasl;
pub mod sm;
pub mod stream;
pub mod websocket;

pub use c2s::C2s;
pub use config::C2sOptions;

use hestia_router::Clause;

/// The clauses the c2s stream layer implements (feeds `docs/conformance.md`).
pub fn clauses() -> Vec<Clause> {
    let c = |standard, clause, title| Clause {
        standard,
        clause,
        title,
    };
    vec![
        c(
            "ISO/IEC 14543-5-8",
            "§8",
            "Login: TLS, SASL and connection-ID binding",
        ),
        c(
            "ISO/IEC 14543-5-8",
            "§12",
            "Logout: graceful, TCP loss, and silence found by keep-alive pings",
        ),
        c("XEP-0199", "§4.1", "Server-to-client ping as keep-alive"),
        c(
            "XEP-0198",
            "§3, §4",
            "Stream management: enable after bind, <r/>/<a/> counting, bounded unacknowledged queue, handled-count-too-high",
        ),
        c(
            "XEP-0198",
            "§5",
            "Resumption: hibernation under the same full JID, takeover of a half-alive connection, unacknowledged stanzas stored or bounced",
        ),
        c(
            "ISO/IEC 14543-5-8",
            "§14",
            "Security: TLS, SASL, limits on stranger input, server-stamped from",
        ),
        c(
            "RFC 6120",
            "§4",
            "XML streams: headers, versions, features, stream errors, whitespace keep-alives",
        ),
        c("RFC 6120", "§5", "STARTTLS (required by default)"),
        c(
            "RFC 6120",
            "§6",
            "SASL: SCRAM-SHA-256, SCRAM-SHA-1 (+PLUS, tls-exporter), PLAIN under TLS, EXTERNAL",
        ),
        c(
            "RFC 6120",
            "§7",
            "Resource binding = connection-ID binding, server-generated or requested",
        ),
        c(
            "RFC 6120",
            "§8.1.2.1",
            "from stamped by the server; spoofing refused with invalid-from",
        ),
        c(
            "RFC 6120",
            "§11",
            "Restricted XML: no DTD, comments, PIs or custom entities",
        ),
        c("RFC 9266", "§2", "tls-exporter channel binding"),
        c(
            "XEP-0178",
            "§3",
            "SASL EXTERNAL with device X.509 certificates",
        ),
        c("XEP-0368", "§2", "Direct TLS listener"),
        c(
            "RFC 7395",
            "§3",
            "XMPP over WebSocket at /xmpp-websocket: `xmpp` subprotocol, `<open/>`/`<close/>` framing, one element per message",
        ),
        c("XEP-0440", "§2", "Advertised channel-binding types"),
        c("XEP-0478", "§2", "Advertised stanza size limit"),
    ]
}
