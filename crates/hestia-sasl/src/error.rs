//! SASL failure conditions, named exactly as RFC 6120 §6.5 defines them.

/// A SASL failure; [`SaslError::condition`] gives the element name for `<failure/>` (RFC 6120 §6.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The client aborted the exchange (§6.5.1).
    #[error("authentication aborted")]
    Aborted,
    /// The account is disabled (§6.5.2).
    #[error("account disabled")]
    AccountDisabled,
    /// The credentials have expired (§6.5.3).
    #[error("credentials expired")]
    CredentialsExpired,
    /// The mechanism needs an encrypted stream (§6.5.4).
    #[error("encryption required")]
    EncryptionRequired,
    /// The payload was not valid base64 (§6.5.5).
    #[error("incorrect encoding")]
    IncorrectEncoding,
    /// The authorization identity is invalid or not permitted (§6.5.6).
    #[error("invalid authzid")]
    InvalidAuthzid,
    /// The mechanism is not supported or not offered (§6.5.7).
    #[error("invalid mechanism")]
    InvalidMechanism,
    /// The request does not follow the mechanism's syntax (§6.5.8).
    #[error("malformed request")]
    MalformedRequest,
    /// The mechanism is weaker than server policy allows (§6.5.9).
    #[error("mechanism too weak")]
    MechanismTooWeak,
    /// The credentials are wrong (§6.5.10); also used for unknown users so existence does not leak.
    #[error("not authorized")]
    NotAuthorized,
    /// A temporary server-side problem (§6.5.11).
    #[error("temporary authentication failure")]
    TemporaryAuthFailure,
}

impl SaslError {
    /// The RFC 6120 §6.5 condition element name, e.g. `"not-authorized"`.
    pub fn condition(&self) -> &'static str {
        match self {
            SaslError::Aborted => "aborted",
            SaslError::AccountDisabled => "account-disabled",
            SaslError::CredentialsExpired => "credentials-expired",
            SaslError::EncryptionRequired => "encryption-required",
            SaslError::IncorrectEncoding => "incorrect-encoding",
            SaslError::InvalidAuthzid => "invalid-authzid",
            SaslError::InvalidMechanism => "invalid-mechanism",
            SaslError::MalformedRequest => "malformed-request",
            SaslError::MechanismTooWeak => "mechanism-too-weak",
            SaslError::NotAuthorized => "not-authorized",
            SaslError::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_match_rfc_6120() {
        let cases = [
            (SaslError::Aborted, "aborted"),
            (SaslError::AccountDisabled, "account-disabled"),
            (SaslError::CredentialsExpired, "credentials-expired"),
            (SaslError::EncryptionRequired, "encryption-required"),
            (SaslError::IncorrectEncoding, "incorrect-encoding"),
            (SaslError::InvalidAuthzid, "invalid-authzid"),
            (SaslError::InvalidMechanism, "invalid-mechanism"),
            (SaslError::MalformedRequest, "malformed-request"),
            (SaslError::MechanismTooWeak, "mechanism-too-weak"),
            (SaslError::NotAuthorized, "not-authorized"),
            (SaslError::TemporaryAuthFailure, "temporary-auth-failure"),
        ];
        for (error, condition) in cases {
            assert_eq!(error.condition(), condition);
        }
    }
}
