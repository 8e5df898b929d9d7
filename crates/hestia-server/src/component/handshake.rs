//! The XEP-0114 §3 handshake: the component proves the shared secret by sending
//! `hex(SHA-1(stream id + secret))`, lowercase hex; the server compares in constant time.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// `hex(SHA-1(stream_id + secret))` in lowercase.
pub fn digest(stream_id: &str, secret: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(stream_id.as_bytes());
    hasher.update(secret.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `offered` (hex in either case, surrounding whitespace ignored) is the digest.
pub fn verify(stream_id: &str, secret: &str, offered: &str) -> bool {
    let expected = digest(stream_id, secret);
    let offered = offered.trim().to_ascii_lowercase();
    // Lengths are public (always 40); only the content is compared in constant time.
    expected.len() == offered.len() && bool::from(expected.as_bytes().ct_eq(offered.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_lowercase_hex_sha1_of_id_then_secret() {
        // Stream id 3BF96D32 and secret "secret"; the empty input is SHA-1's known vector.
        let cases = [
            (
                "3BF96D32",
                "secret",
                "b09ea9b3b7f586be8a08d0a3dd7466f110aeb136",
            ),
            ("", "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ];
        for (id, secret, hex) in cases {
            assert_eq!(digest(id, secret), hex, "{id}/{secret}");
        }
    }

    #[test]
    fn verify_accepts_only_the_right_digest() {
        let good = digest("abc", "s3cret");
        assert!(verify("abc", "s3cret", &good));
        assert!(verify(
            "abc",
            "s3cret",
            &format!(" {} ", good.to_uppercase())
        ));
        assert!(!verify("abc", "other", &good));
        assert!(!verify("abd", "s3cret", &good));
        assert!(!verify("abc", "s3cret", ""));
        assert!(!verify("abc", "s3cret", &good[..39]));
    }
}
