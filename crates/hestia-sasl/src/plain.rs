//! The PLAIN mechanism (RFC 4616): `[authzid] NUL authcid NUL passwd`, UTF-8. The server checks the password with
//! [`crate::ScramKeys::verify_password`], so it never stores plaintext; RFC 6120 §6.3.1 lets it offer PLAIN only
//! over TLS, which is the caller's policy.

use std::fmt;

use crate::{SaslError, saslprep};

/// The fields of a PLAIN message.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// The authorization identity, if one was given (not SASLprepped: in XMPP it is a JID).
    pub authzid: Option<String>,
    /// The authentication identity, SASLprepped.
    pub username: String,
    /// The password as sent; [`crate::ScramKeys::verify_password`] SASLpreps it.
    pub password: String,
}

impl fmt::Debug for PlainCredentials {
    // Hand-written so the password stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("authzid", &self.authzid)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Parses a PLAIN message. Anything but exactly two NULs, invalid UTF-8, an empty authcid or password, or an
/// authcid SASLprep rejects is [`SaslError::MalformedRequest`].
pub fn parse_plain(msg: &[u8]) -> Result<PlainCredentials, SaslError> {
    let msg = std::str::from_utf8(msg).map_err(|_| SaslError::MalformedRequest)?;
    let mut parts = msg.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::MalformedRequest);
    };
    if authcid.is_empty() || password.is_empty() {
        return Err(SaslError::MalformedRequest);
    }
    Ok(PlainCredentials {
        authzid: (!authzid.is_empty()).then(|| authzid.to_owned()),
        username: saslprep(authcid)?,
        password: password.to_owned(),
    })
}

/// Encodes a PLAIN message without an authzid: `NUL username NUL password`.
pub fn encode_plain(username: &str, password: &str) -> Vec<u8> {
    format!("\0{username}\0{password}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(authzid: Option<&str>, username: &str, password: &str) -> PlainCredentials {
        PlainCredentials {
            authzid: authzid.map(str::to_owned),
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }

    #[test]
    fn table() {
        let cases: &[(&[u8], Result<PlainCredentials, SaslError>)] = &[
            (
                b"\0tim\0tanstaaftanstaaf",
                Ok(creds(None, "tim", "tanstaaftanstaaf")),
            ),
            (
                b"Ursel\0Kurt\0xipj3plmq",
                Ok(creds(Some("Ursel"), "Kurt", "xipj3plmq")),
            ),
            (
                b"admin@example.com\0juliet\0pass word",
                Ok(creds(Some("admin@example.com"), "juliet", "pass word")),
            ),
            // SASLprep applies to the user name.
            (
                "\0ju\u{00AD}liet\0p".as_bytes(),
                Ok(creds(None, "juliet", "p")),
            ),
            (b"", Err(SaslError::MalformedRequest)),
            (b"juliet", Err(SaslError::MalformedRequest)),
            (b"\0juliet", Err(SaslError::MalformedRequest)),
            (b"juliet\0secret", Err(SaslError::MalformedRequest)),
            (b"\0\0secret", Err(SaslError::MalformedRequest)),
            (b"\0juliet\0", Err(SaslError::MalformedRequest)),
            (b"\0juliet\0secret\0", Err(SaslError::MalformedRequest)),
            (b"a\0b\0c\0d", Err(SaslError::MalformedRequest)),
            (b"\0jul\xffiet\0secret", Err(SaslError::MalformedRequest)),
            (b"\0jul\x07iet\0secret", Err(SaslError::MalformedRequest)),
        ];
        for (msg, expected) in cases {
            assert_eq!(
                &parse_plain(msg),
                expected,
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn encode_round_trips() {
        let msg = encode_plain("juliet", "r0m30myr0m30");
        assert_eq!(msg, b"\0juliet\0r0m30myr0m30");
        assert_eq!(parse_plain(&msg), Ok(creds(None, "juliet", "r0m30myr0m30")));
    }

    #[test]
    fn debug_redacts_password() {
        let shown = format!("{:?}", creds(None, "juliet", "r0m30myr0m30"));
        assert!(!shown.contains("r0m30"), "{shown}");
    }
}
