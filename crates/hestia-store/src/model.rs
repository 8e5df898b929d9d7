//! The records of the contract: accounts, their SCRAM credentials, user and IGRS device information.

use serde::{Deserialize, Serialize};

/// Whether an account is a person or a device (14543-5-8 §3); stored as the text `user` / `device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// A person, `name@D`, possibly online from several terminals.
    User,
    /// A device, `<device-id>@D`, holding one connection.
    Device,
}

impl AccountKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Device => "device",
        }
    }
}

impl TryFrom<String> for AccountKind {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.as_str() {
            "user" => Ok(AccountKind::User),
            "device" => Ok(AccountKind::Device),
            _ => Err(format!("unknown account kind {text:?}")),
        }
    }
}

/// One salted SCRAM credential (never a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The per-account salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

/// The stored form of derived keys, and back: one conversion for registration, login and the
/// gateway's sign-in.
impl From<hestia_sasl::ScramKeys> for ScramCredential {
    fn from(k: hestia_sasl::ScramKeys) -> ScramCredential {
        ScramCredential {
            salt: k.salt,
            iterations: k.iterations,
            stored_key: k.stored_key,
            server_key: k.server_key,
        }
    }
}

impl From<&ScramCredential> for hestia_sasl::ScramKeys {
    fn from(c: &ScramCredential) -> hestia_sasl::ScramKeys {
        hestia_sasl::ScramKeys {
            salt: c.salt.clone(),
            iterations: c.iterations,
            stored_key: c.stored_key.clone(),
            server_key: c.server_key.clone(),
        }
    }
}

/// The credentials of an account, one per SCRAM mechanism offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// For SCRAM-SHA-1.
    pub sha1: ScramCredential,
    /// For SCRAM-SHA-256.
    pub sha256: ScramCredential,
}

/// IGRS device information given at registration (14543-5-8 §7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The IGRS device type.
    pub device_type: String,
    /// Model name.
    pub model: String,
    /// Manufacturer name.
    pub manufacturer: String,
    /// Serial number.
    pub serial: String,
}

/// User information.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserInfo {
    /// Display name.
    pub name: Option<String>,
    /// Contact e-mail address.
    pub email: Option<String>,
}

/// A verification code stored hashed with a per-device salt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationCodeHash {
    /// The per-device salt.
    pub salt: Vec<u8>,
    /// The hash of the code with the salt.
    pub hash: Vec<u8>,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The localpart of the account's bare JID, as the caller normalised it.
    pub localpart: String,
    /// User or device.
    pub kind: AccountKind,
    /// SCRAM credentials.
    pub credentials: Credentials,
    /// A disabled account cannot log in (`account-disabled`).
    pub is_disabled: bool,
    /// User information; empty for devices.
    pub user: UserInfo,
    /// `Some` exactly for device accounts.
    pub device: Option<DeviceInfo>,
    /// The device's verification code, if one was set.
    pub verification_code: Option<VerificationCodeHash>,
    /// Creation time, unix seconds.
    pub created_at: i64,
}

/// An account to register.
///
/// A device account always gets a device row: `device: None` stores [`DeviceInfo::default`]. For a user account
/// `device` and `verification_code` are not stored.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The localpart, already normalised by the caller.
    pub localpart: String,
    /// User or device.
    pub kind: AccountKind,
    /// SCRAM credentials.
    pub credentials: Credentials,
    /// User information.
    pub user: UserInfo,
    /// Device information (device accounts).
    pub device: Option<DeviceInfo>,
    /// Initial verification code (device accounts).
    pub verification_code: Option<VerificationCodeHash>,
}

/// Summary row for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountSummary {
    /// The account's localpart.
    pub localpart: String,
    /// User or device.
    pub kind: AccountKind,
    /// Whether login is refused.
    pub is_disabled: bool,
    /// Creation time, unix seconds.
    pub created_at: i64,
}
