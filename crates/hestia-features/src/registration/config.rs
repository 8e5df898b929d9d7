//! Registration options.

use hestia_config::Duration;

/// Who may create accounts in-band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationPolicy {
    /// Anyone may register (throttled per source address).
    Open,
    /// Only the CLI and the admin API create accounts.
    Closed,
    /// In-band registration needs an unused invitation token made with `hestia invite`.
    Invitation,
}

hestia_config::section! {
    /// Registration of users and devices (ISO/IEC 14543-5-8 §7).
    pub struct RegistrationConfig {
        /// Who may register in-band: "open", "closed" or "invitation".
        pub policy: RegistrationPolicy = RegistrationPolicy::Open,
        /// Shortest password accepted, in characters.
        pub min_password_length: usize = 8,
        /// Shortest device verification code accepted, in characters.
        pub min_verification_code_length: usize = 6,
        /// PBKDF2 iterations of the stored SCRAM keys (RFC 7677 asks for at least 4096).
        pub scram_iterations: u32 = 4096,
        /// In-band registrations allowed per source address within `throttle_period`.
        pub throttle_max: u32 = 5,
        /// Window of the per-address registration throttle.
        pub throttle_period: Duration = Duration::secs(3600),
        /// Exempt loopback addresses from the registration throttle, as Prosody does.
        pub throttle_exempt_loopback: bool = true,
    }
}
