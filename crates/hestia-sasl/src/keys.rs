//! SCRAM key derivation (RFC 5802 §3, with SHA-256 per RFC 7677): `SaltedPassword := Hi(Normalize(password), salt,
//! i)`, `ClientKey := HMAC(SaltedPassword, "Client Key")`, `StoredKey := H(ClientKey)`,
//! `ServerKey := HMAC(SaltedPassword, "Server Key")`. Only StoredKey and ServerKey are kept, never the password.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{HashAlg, SaslError, saslprep};

/// Length of the salt [`ScramKeys::generate`] picks, in bytes.
const SALT_LEN: usize = 16;

/// Salted SCRAM keys as stored: never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// The salt given to `Hi`.
    pub salt: Vec<u8>,
    /// The `Hi` (PBKDF2) iteration count.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl ScramKeys {
    /// SASLprep `password`, run `Hi` (PBKDF2) and derive StoredKey and ServerKey. A password SASLprep rejects or a
    /// zero iteration count is [`SaslError::MalformedRequest`].
    pub fn derive(
        alg: HashAlg,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<ScramKeys, SaslError> {
        let salted = salted_password(alg, password, salt, iterations)?;
        let client_key = hmac(alg, &salted, b"Client Key")?;
        Ok(ScramKeys {
            salt: salt.to_vec(),
            iterations,
            stored_key: hash(alg, &client_key),
            server_key: hmac(alg, &salted, b"Server Key")?,
        })
    }

    /// [`ScramKeys::derive`] with a fresh random 16-byte salt.
    pub fn generate(alg: HashAlg, password: &str, iterations: u32) -> Result<ScramKeys, SaslError> {
        let mut salt = [0u8; SALT_LEN];
        rand::thread_rng().fill_bytes(&mut salt);
        ScramKeys::derive(alg, password, &salt, iterations)
    }

    /// Checks a plaintext password (SASL PLAIN) against these keys: derives with the stored salt and iteration count
    /// and compares StoredKey in constant time. A password SASLprep rejects never matches.
    pub fn verify_password(&self, alg: HashAlg, password: &str) -> bool {
        match ScramKeys::derive(alg, password, &self.salt, self.iterations) {
            Ok(candidate) => bool::from(candidate.stored_key.ct_eq(&self.stored_key)),
            Err(_) => false,
        }
    }
}

/// `SaltedPassword := Hi(Normalize(password), salt, i)` (RFC 5802 §3); `Hi` is PBKDF2 with HMAC as PRF.
pub(crate) fn salted_password(
    alg: HashAlg,
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<Vec<u8>, SaslError> {
    hi(alg, saslprep(password)?.as_bytes(), salt, iterations)
}

/// `Hi(str, salt, i)` on an already SASLprepped password; zero iterations is [`SaslError::MalformedRequest`].
pub(crate) fn hi(
    alg: HashAlg,
    prepared: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<Vec<u8>, SaslError> {
    if iterations == 0 {
        return Err(SaslError::MalformedRequest);
    }
    let mut out = vec![0u8; output_len(alg)];
    match alg {
        HashAlg::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(prepared, salt, iterations, &mut out),
        HashAlg::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(prepared, salt, iterations, &mut out),
    }
    Ok(out)
}

/// Output length of `alg` in bytes.
pub(crate) fn output_len(alg: HashAlg) -> usize {
    match alg {
        HashAlg::Sha1 => 20,
        HashAlg::Sha256 => 32,
    }
}

/// `H(data)`.
pub(crate) fn hash(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    match alg {
        HashAlg::Sha1 => Sha1::digest(data).to_vec(),
        HashAlg::Sha256 => Sha256::digest(data).to_vec(),
    }
}

/// `HMAC(key, data)`. HMAC takes keys of any length, so the error arm is unreachable in practice; it is reported
/// as a temporary failure rather than a panic.
pub(crate) fn hmac(alg: HashAlg, key: &[u8], data: &[u8]) -> Result<Vec<u8>, SaslError> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, SaslError> {
        let mut mac =
            <M as Mac>::new_from_slice(key).map_err(|_| SaslError::TemporaryAuthFailure)?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    }
    match alg {
        HashAlg::Sha1 => run::<Hmac<Sha1>>(key, data),
        HashAlg::Sha256 => run::<Hmac<Sha256>>(key, data),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        STANDARD.decode(s).unwrap()
    }

    #[test]
    fn pbkdf2_matches_rfc_6070() {
        // RFC 6070 test vector 2 (2 iterations, "password"/"salt").
        let salted = salted_password(HashAlg::Sha1, "password", b"salt", 2).unwrap();
        assert_eq!(
            salted,
            [
                0xea, 0x6c, 0x01, 0x4d, 0xc7, 0x2d, 0x6f, 0x8c, 0xcd, 0x1e, 0xd9, 0x2a, 0xce, 0x1d,
                0x41, 0xf0, 0xd8, 0xde, 0x89, 0x57
            ]
        );
    }

    #[test]
    fn derive_is_deterministic() {
        // The RFCs print no StoredKey/ServerKey; the exchanges in `scram` check them end to end.
        let cases = [
            (HashAlg::Sha1, "QSXCR+Q6sek8bf92", 20),
            (HashAlg::Sha256, "W22ZaJ0SNY7soEsUEjb6gQ==", 32),
        ];
        for (alg, salt, len) in cases {
            let a = ScramKeys::derive(alg, "pencil", &b64(salt), 4096).unwrap();
            let b = ScramKeys::derive(alg, "pencil", &b64(salt), 4096).unwrap();
            assert_eq!(a, b);
            assert_eq!(a.stored_key.len(), len);
            assert_eq!(a.server_key.len(), len);
            assert_eq!(a.iterations, 4096);
        }
    }

    #[test]
    fn verify_password_table() {
        let keys = ScramKeys::generate(HashAlg::Sha256, "pencil", 64).unwrap();
        assert_eq!(keys.salt.len(), SALT_LEN);
        let cases = [
            ("pencil", true),
            // SASLprep makes these equal to "pencil".
            ("pen\u{00AD}cil", true),
            ("Pencil", false),
            ("pencil ", false),
            ("", false),
            ("pen\u{0007}cil", false),
        ];
        for (password, expected) in cases {
            assert_eq!(
                keys.verify_password(HashAlg::Sha256, password),
                expected,
                "{password:?}"
            );
        }
        // Keys derived for one hash never verify under the other.
        assert!(!keys.verify_password(HashAlg::Sha1, "pencil"));
    }

    #[test]
    fn derive_rejects_bad_input() {
        assert_eq!(
            ScramKeys::derive(HashAlg::Sha1, "pencil", b"salt", 0),
            Err(SaslError::MalformedRequest)
        );
        assert_eq!(
            ScramKeys::derive(HashAlg::Sha1, "", b"salt", 1),
            Err(SaslError::MalformedRequest)
        );
    }

    #[test]
    fn generate_uses_fresh_salts() {
        let a = ScramKeys::generate(HashAlg::Sha1, "pencil", 1).unwrap();
        let b = ScramKeys::generate(HashAlg::Sha1, "pencil", 1).unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.stored_key, b.stored_key);
    }
}
