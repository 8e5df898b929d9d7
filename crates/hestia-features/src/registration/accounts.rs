//! The account-server operations of 14543-5-9 §8.2 — register, modify user or device
//! information, change password, delete account, reset device verification code — written once
//! and called by in-band registration, the CLI and the admin HTTP API alike.

use std::net::IpAddr;
use std::sync::Arc;

use hestia_proto::Jid;
use hestia_proto::igrs::ForcedLogout;
use hestia_proto::igrs::RegistrationStatus;
use hestia_router::Irsp;
use hestia_router::throttle::Throttle;
use hestia_sasl::{HashAlg, ScramKeys};
use hestia_store::{
    AccountKind, Credentials, DeviceInfo, NewAccount, ScramCredential, StoreError, UserInfo,
    VerificationCodeHash,
};

use super::config::{RegistrationConfig, RegistrationPolicy};
use super::proto::NewRegistration;

/// Where a registration comes from: in-band ones are subject to policy and throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    InBand { ip: Option<IpAddr> },
    Admin,
}

/// Performs account-server operations under the registration config.
#[derive(Debug)]
pub struct Registrar {
    cfg: RegistrationConfig,
    throttle: Throttle<IpAddr>,
}

fn internal(e: StoreError) -> RegistrationStatus {
    tracing::error!(error = %e, "store failure during account operation");
    RegistrationStatus::InternalError
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Registrar {
    pub fn new(cfg: RegistrationConfig) -> Registrar {
        let throttle = Throttle::new(cfg.throttle_max, cfg.throttle_period.get());
        Registrar { cfg, throttle }
    }

    pub fn config(&self) -> &RegistrationConfig {
        &self.cfg
    }

    /// Creates an account; nothing is half-created on failure.
    pub async fn register(
        &self,
        irsp: &Irsp,
        reg: NewRegistration,
        origin: Origin,
    ) -> Result<Jid, RegistrationStatus> {
        let jid = Jid::bare(&reg.username, irsp.domain.domain())
            .map_err(|_| RegistrationStatus::IdViolatesAddressRules)?;
        let invitation = match origin {
            Origin::InBand { ip } => self.admit_in_band(ip, &reg)?,
            Origin::Admin => None,
        };
        let credentials = self.credentials(&reg.password)?;
        let verification_code = match (&reg.kind, &reg.verification_code) {
            (AccountKind::Device, Some(code)) => Some(self.hash_code(code)?),
            (AccountKind::Device, None) => return Err(RegistrationStatus::MalformedField),
            (AccountKind::User, _) => None,
        };
        let localpart = jid.local().unwrap_or_default().to_owned();
        let new = NewAccount {
            localpart,
            kind: reg.kind,
            credentials,
            user: reg.user,
            device: reg.device,
            verification_code,
        };
        let spend = invitation.as_deref().map(|token| (token, now()));
        match irsp.store.create_account_with_invitation(new, spend).await {
            Ok(()) => {
                metrics::counter!("hestia_registrations_total", "kind" => kind_label(reg.kind))
                    .increment(1);
                tracing::info!(account = %jid, kind = kind_label(reg.kind), "account registered");
                Ok(jid)
            }
            Err(StoreError::Conflict) => Err(RegistrationStatus::IdExists),
            Err(StoreError::InvitationInvalid) => Err(RegistrationStatus::NotAllowed),
            Err(e) => Err(internal(e)),
        }
    }

    /// Policy, secret checks and throttle; returns the invitation token to spend. The token is
    /// spent in the same transaction that creates the account, so no refused attempt (bad
    /// password, throttled, name taken) uses it up.
    fn admit_in_band(
        &self,
        ip: Option<IpAddr>,
        reg: &NewRegistration,
    ) -> Result<Option<String>, RegistrationStatus> {
        let invitation = match self.cfg.policy {
            RegistrationPolicy::Open => None,
            RegistrationPolicy::Closed => return Err(RegistrationStatus::NotAllowed),
            RegistrationPolicy::Invitation => Some(
                reg.invitation
                    .as_deref()
                    .ok_or(RegistrationStatus::NotAllowed)?,
            ),
        };
        self.check_secrets(reg)?;
        if let Some(ip) = ip.filter(|ip| !(self.cfg.throttle_exempt_loopback && ip.is_loopback())) {
            if !self.throttle.is_allowed(&ip) {
                return Err(RegistrationStatus::TooManyAttempts);
            }
            self.throttle.record(&ip);
        }
        Ok(invitation.map(str::to_owned))
    }

    /// The length rules of [`Self::credentials`] and [`Self::hash_code`], checked before any
    /// hashing or anything is spent.
    fn check_secrets(&self, reg: &NewRegistration) -> Result<(), RegistrationStatus> {
        let is_short = |s: &str, min: usize| s.chars().count() < min;
        let code = reg
            .verification_code
            .as_deref()
            .filter(|_| reg.kind == AccountKind::Device);
        if is_short(&reg.password, self.cfg.min_password_length)
            || code.is_some_and(|c| is_short(c, self.cfg.min_verification_code_length))
        {
            return Err(RegistrationStatus::PolicyFailed);
        }
        Ok(())
    }

    /// Salted SCRAM keys for both hashes; the password itself is dropped here.
    pub fn credentials(&self, password: &str) -> Result<Credentials, RegistrationStatus> {
        if password.chars().count() < self.cfg.min_password_length {
            return Err(RegistrationStatus::PolicyFailed);
        }
        let make = |alg| {
            ScramKeys::generate(alg, password, self.cfg.scram_iterations)
                .map(ScramCredential::from)
                .map_err(|_| RegistrationStatus::PolicyFailed)
        };
        Ok(Credentials {
            sha1: make(HashAlg::Sha1)?,
            sha256: make(HashAlg::Sha256)?,
        })
    }

    /// A verification code hashed with a per-device salt (PBKDF2-SHA-256).
    pub fn hash_code(&self, code: &str) -> Result<VerificationCodeHash, RegistrationStatus> {
        hash_verification_code(code, self.cfg.min_verification_code_length)
    }

    pub async fn change_password(
        &self,
        irsp: &Irsp,
        localpart: &str,
        password: &str,
    ) -> Result<(), RegistrationStatus> {
        let creds = self.credentials(password)?;
        irsp.store
            .set_credentials(localpart, &creds)
            .await
            .map_err(not_found_or_internal)
    }

    pub async fn reset_verification_code(
        &self,
        irsp: &Irsp,
        localpart: &str,
        code: &str,
    ) -> Result<(), RegistrationStatus> {
        let hash = self.hash_code(code)?;
        irsp.store
            .set_verification_code(localpart, &hash)
            .await
            .map_err(not_found_or_internal)
    }

    pub async fn update_user_info(
        &self,
        irsp: &Irsp,
        localpart: &str,
        info: &UserInfo,
    ) -> Result<(), RegistrationStatus> {
        irsp.store
            .update_user_info(localpart, info)
            .await
            .map_err(not_found_or_internal)
    }

    pub async fn update_device_info(
        &self,
        irsp: &Irsp,
        localpart: &str,
        info: &DeviceInfo,
    ) -> Result<(), RegistrationStatus> {
        irsp.store
            .update_device_info(localpart, info)
            .await
            .map_err(not_found_or_internal)
    }
}

/// PBKDF2 iterations of stored verification codes: fixed, so that changing the SCRAM iteration
/// count of passwords does not invalidate the codes printed on devices.
const VERIFICATION_CODE_ITERATIONS: u32 = 4096;

/// A verification code hashed with a fresh per-device salt, if it meets the length policy.
pub fn hash_verification_code(
    code: &str,
    min_length: usize,
) -> Result<VerificationCodeHash, RegistrationStatus> {
    if code.chars().count() < min_length {
        return Err(RegistrationStatus::PolicyFailed);
    }
    let keys = ScramKeys::generate(HashAlg::Sha256, code, VERIFICATION_CODE_ITERATIONS)
        .map_err(|_| RegistrationStatus::PolicyFailed)?;
    Ok(VerificationCodeHash {
        salt: keys.salt,
        hash: keys.stored_key,
    })
}

/// Checks a code against its stored hash in constant time.
pub fn verify_code(stored: &VerificationCodeHash, code: &str) -> bool {
    ScramKeys {
        salt: stored.salt.clone(),
        iterations: VERIFICATION_CODE_ITERATIONS,
        stored_key: stored.hash.clone(),
        server_key: Vec::new(),
    }
    .verify_password(HashAlg::Sha256, code)
}

fn not_found_or_internal(e: StoreError) -> RegistrationStatus {
    match e {
        StoreError::NotFound => RegistrationStatus::MalformedField,
        e => internal(e),
    }
}

pub fn kind_label(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::User => "user",
        AccountKind::Device => "device",
    }
}

/// Deletes an account and everything it owned, then ends its sessions. False if it did not
/// exist.
pub async fn delete_account(irsp: &Arc<Irsp>, localpart: &str) -> Result<bool, RegistrationStatus> {
    let jid = Jid::bare(localpart, irsp.domain.domain()).ok();
    let _writes = irsp.relations.lock_writes().await;
    // Its contacts see it go offline while its relationships are still known.
    for session in jid.iter().flat_map(|j| irsp.directory.sessions_of(j)) {
        if session.is_available() {
            let unavailable = hestia_xml::Element::new("presence", hestia_proto::ns::CLIENT)
                .with_attr("type", "unavailable")
                .with_attr("from", session.info.jid.to_string());
            hestia_router::presence::broadcast(irsp, &session.info.jid, unavailable).await;
        }
    }
    let contacts = irsp
        .store
        .rosters_containing(localpart)
        .await
        .map_err(internal)?;
    let existed = irsp
        .store
        .delete_account(localpart)
        .await
        .map_err(internal)?;
    irsp.relations
        .forget(contacts.iter().map(String::as_str).chain([localpart]));
    irsp.catalog.forget(localpart);
    if existed {
        // Account deletion removes it from every other roster (14543-5-8 §10): push that.
        for owner in &contacts {
            if let Ok(snapshot) = irsp.relations.snapshot(&irsp.store, owner).await {
                hestia_router::relations::roster_push(irsp, &snapshot, localpart, snapshot.version);
            }
        }
    }
    if let Some(jid) = &jid {
        end_sessions(irsp, jid, ForcedLogout::AccountDeleted);
    }
    if existed {
        tracing::info!(account = localpart, "account deleted");
    }
    Ok(existed)
}

/// Disables or enables an account; disabling ends its sessions.
pub async fn set_disabled(
    irsp: &Irsp,
    localpart: &str,
    is_disabled: bool,
) -> Result<(), RegistrationStatus> {
    irsp.store
        .set_disabled(localpart, is_disabled)
        .await
        .map_err(not_found_or_internal)?;
    if is_disabled && let Ok(jid) = Jid::bare(localpart, irsp.domain.domain()) {
        end_sessions(irsp, &jid, ForcedLogout::AccountDisabled);
    }
    Ok(())
}

/// Closes every connection of an account with a stream error.
pub fn end_sessions(irsp: &Irsp, jid: &Jid, why: ForcedLogout) -> usize {
    let sessions = irsp.directory.sessions_of(jid);
    for s in &sessions {
        hestia_router::push::force_logout(irsp, s, why);
    }
    sessions.len()
}
