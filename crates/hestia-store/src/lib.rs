//! The storage contract of Hestia: accounts (users and devices, ISO/IEC 14543-5-8 §7 registration and §8 login
//! credentials), invitation tokens for invitation-gated registration, relationships (§10: versioned RFC 6121
//! rosters with their subscription state and IGRS relationship kind), device access rights and policies (§9), the
//! verification-code failure counter of each device, stanzas stored for offline accounts, and the gateway's
//! OAuth 2.0 authorization-server state (clients, grants, refresh tokens, revocations, signing keys).
//!
//! [`Store`] is an enum over the two backends — SQLite (the embedded default) and PostgreSQL (scale-out) — and every
//! contract method dispatches to its dialect. Data-manipulation SQL is written in the subset both dialects accept
//! (`$1` placeholders, `RETURNING`, `LIMIT … OFFSET`), so one statement text usually serves both; the schemas differ
//! and live in versioned migrations per dialect under `migrations/{sqlite,postgres}`, applied by [`Store::open`].

mod accounts;
mod app_grants;
mod device_state;
mod error;
mod federation;
mod invitations;
mod journal;
mod model;
mod oauth;
mod open;
mod relationship_model;
mod relationships;

pub use device_state::LastItem;
pub use error::StoreError;
pub use federation::{FederationLink, RemoteSubscription};
pub use journal::{JournalOp, JournalOutcome};
pub use model::{
    Account, AccountKind, AccountSummary, Credentials, DeviceInfo, NewAccount, ScramCredential,
    UserInfo, VerificationCodeHash,
};
pub use oauth::{OAuthClient, OAuthGrant, RefreshToken, SigningKey};
pub use relationship_model::{
    AccessRight, DeviceAccess, DevicePolicy, PendingRequest, RelationKind, RelationshipChange,
    RosterItem, StoredStanza, Subscription,
};

/// A handle on the database, cheap to clone (the pools are reference-counted).
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite in WAL mode with `synchronous=FULL`.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL, optionally confined to one schema.
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool; the body is expanded once per dialect, so the same
/// statement text is prepared against each.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::Store::Sqlite($pool) => $body,
            $crate::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

impl Store {
    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes every pooled connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// Now as unix seconds; a clock before 1970 reads as 0.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
