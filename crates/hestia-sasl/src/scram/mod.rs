//! SCRAM (RFC 5802) with SHA-1 and SHA-256 (RFC 7677), with and without channel binding (`-PLUS`, RFC 5802 §6, using
//! `tls-exporter` from RFC 9266): a sans-IO server ([`server::ScramServer`]) and client ([`client::ScramClient`]).
//!
//! `AuthMessage := client-first-message-bare "," server-first-message "," client-final-message-without-proof`,
//! `ClientSignature := HMAC(StoredKey, AuthMessage)`, `ClientProof := ClientKey XOR ClientSignature`,
//! `ServerSignature := HMAC(ServerKey, AuthMessage)` (RFC 5802 §3).

pub(crate) mod client;
mod message;
pub(crate) mod server;

use crate::{HashAlg, Mechanism, SaslError};

/// The SCRAM hash of `mechanism`, or [`SaslError::InvalidMechanism`] for PLAIN and EXTERNAL.
fn scram_hash(mechanism: Mechanism) -> Result<HashAlg, SaslError> {
    mechanism.hash().ok_or(SaslError::InvalidMechanism)
}

/// `a XOR b` for equal-length inputs.
fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// `client-first-message-bare "," server-first-message "," client-final-message-without-proof`.
fn auth_message(
    client_first_bare: &str,
    server_first: &str,
    client_final_without_proof: &str,
) -> String {
    format!("{client_first_bare},{server_first},{client_final_without_proof}")
}

#[cfg(test)]
mod tests;
