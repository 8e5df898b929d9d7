//! SASL mechanism names as advertised in `<mechanisms/>` (RFC 6120 §6.4.1, RFC 4422 §3.1) and the hash each SCRAM
//! family member uses (SCRAM-SHA-1 from RFC 5802, SCRAM-SHA-256 from RFC 7677).

use crate::keys;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1 (RFC 5802).
    Sha1,
    /// SHA-256 (RFC 7677).
    Sha256,
}

impl HashAlg {
    /// Output length of the hash in bytes (also the length of StoredKey, ServerKey and proofs).
    pub fn output_len(self) -> usize {
        keys::output_len(self)
    }
}

/// A SASL mechanism Hestia knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// `SCRAM-SHA-256-PLUS`: SCRAM-SHA-256 with channel binding.
    ScramSha256Plus,
    /// `SCRAM-SHA-1-PLUS`: SCRAM-SHA-1 with channel binding.
    ScramSha1Plus,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-1`.
    ScramSha1,
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `EXTERNAL` (RFC 4422 Appendix A), e.g. with TLS client certificates.
    External,
}

impl Mechanism {
    /// Every mechanism, strongest first (the order to advertise and to prefer).
    pub const ALL: [Mechanism; 6] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
        Mechanism::External,
    ];

    /// The registered mechanism name, e.g. `"SCRAM-SHA-256-PLUS"`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Plain => "PLAIN",
            Mechanism::External => "EXTERNAL",
        }
    }

    /// Parses a mechanism name; names are matched exactly (they are upper-case by definition, RFC 4422 §3.1).
    pub fn from_name(s: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The SCRAM hash, or `None` for non-SCRAM mechanisms.
    pub fn hash(self) -> Option<HashAlg> {
        match self {
            Mechanism::ScramSha256Plus | Mechanism::ScramSha256 => Some(HashAlg::Sha256),
            Mechanism::ScramSha1Plus | Mechanism::ScramSha1 => Some(HashAlg::Sha1),
            Mechanism::Plain | Mechanism::External => None,
        }
    }

    /// Whether this is a channel-binding (`-PLUS`) variant.
    pub fn is_plus(self) -> bool {
        matches!(self, Mechanism::ScramSha256Plus | Mechanism::ScramSha1Plus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let cases = [
            (
                "SCRAM-SHA-256-PLUS",
                Mechanism::ScramSha256Plus,
                Some(HashAlg::Sha256),
                true,
            ),
            (
                "SCRAM-SHA-1-PLUS",
                Mechanism::ScramSha1Plus,
                Some(HashAlg::Sha1),
                true,
            ),
            (
                "SCRAM-SHA-256",
                Mechanism::ScramSha256,
                Some(HashAlg::Sha256),
                false,
            ),
            (
                "SCRAM-SHA-1",
                Mechanism::ScramSha1,
                Some(HashAlg::Sha1),
                false,
            ),
            ("PLAIN", Mechanism::Plain, None, false),
            ("EXTERNAL", Mechanism::External, None, false),
        ];
        for (name, mechanism, hash, is_plus) in cases {
            assert_eq!(mechanism.name(), name);
            assert_eq!(Mechanism::from_name(name), Some(mechanism));
            assert_eq!(mechanism.hash(), hash);
            assert_eq!(mechanism.is_plus(), is_plus);
        }
    }

    #[test]
    fn unknown_names_are_rejected() {
        for name in ["", "scram-sha-1", "SCRAM-SHA-512", "DIGEST-MD5", "PLAIN "] {
            assert_eq!(Mechanism::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn output_lengths() {
        assert_eq!(HashAlg::Sha1.output_len(), 20);
        assert_eq!(HashAlg::Sha256.output_len(), 32);
    }
}
