//! The gateway's OAuth 2.0 authorization server: C2C authorization of ISO/IEC 10192-4-3 §8
//! (`../shared/DESIGN.md` §4). A peer gateway is a registered confidential client; a user of this
//! gateway links their identity to it (creating a user identity federation) with the
//! authorization-code grant and PKCE ([`authorize`], RFC 6749 §4.1, RFC 7636) or, where there is
//! no browser, the device authorization grant ([`device`], RFC 8628); adds an identity to an
//! existing federation by token exchange ([`exchange`], RFC 8693). Access tokens are JWTs
//! (RFC 9068, [`jwt`]) signed with rotated keys published as a JWK Set ([`keys`]); refresh tokens
//! rotate on use and a replay revokes their family ([`token`]); introspection (RFC 7662),
//! revocation (RFC 7009) and metadata (RFC 8414) complete it. [`access`] accepts the tokens on
//! `/cui/v1`. See `docs/oauth.md`.

pub mod access;
mod authorize;
pub mod clients;
pub mod config;
mod device;
mod error;
mod exchange;
mod introspect;
pub mod jwt;
mod keys;
mod metadata;
pub(crate) mod pages;
mod revoke;
pub mod scope;
mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use hestia_store::Store;

pub use clients::{ClientError, NewClient, RegisteredClient};
pub use config::{Clock, OAuthConfig, OAuthSettings};
pub use error::OAuthError;
pub use scope::{Scope, Scopes};

use crate::HesGateway;
use crate::limits::{Face, KeyedLimit};

/// The largest form body any endpoint reads; every OAuth request is a few hundred bytes.
pub const MAX_FORM_BYTES: usize = 8 * 1024;

/// The authorization server's state: settings, keys, pending codes, revocations, the cache of
/// verified tokens. Clients, grants, refresh tokens and keys live in the store.
#[derive(Debug)]
pub struct AuthServer {
    settings: OAuthSettings,
    store: Store,
    keys: keys::KeyRing,
    codes: authorize::Codes,
    devices: device::DeviceCodes,
    accepted: access::Accepted,
    /// Token-endpoint requests per client per minute.
    rate: KeyedLimit<String>,
}

impl AuthServer {
    pub fn new(store: Store, settings: OAuthSettings) -> AuthServer {
        let per_minute = settings.token_requests_per_minute;
        let rate = KeyedLimit::new(per_minute, Duration::from_secs(60), per_minute);
        AuthServer {
            settings,
            store,
            keys: keys::KeyRing::default(),
            codes: authorize::Codes::default(),
            devices: device::DeviceCodes::default(),
            accepted: access::Accepted::default(),
            rate,
        }
    }

    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    fn now(&self) -> i64 {
        self.settings.clock.now()
    }

    /// Makes a new signing key current now (the admin API's rotation); its `kid`. The previous
    /// key stays published until the tokens it signed have expired.
    pub async fn rotate_keys(&self) -> Result<String, ClientError> {
        let now = self.now();
        let kid = self
            .keys
            .rotate(&self.store, now, self.settings.access_ttl)
            .await
            .map_err(ClientError::internal)?;
        // Retired keys and spent tokens go with the same call, so nothing needs a timer.
        self.store
            .prune_oauth(now)
            .await
            .map_err(ClientError::internal)?;
        Ok(kid)
    }
}

/// The OAuth routes, merged at the root of the server's HTTP port: `/oauth/*` and
/// `/.well-known/oauth-authorization-server`.
pub fn router<S: Clone + Send + Sync + 'static>(gateway: Arc<HesGateway>) -> Router<S> {
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::metadata),
        )
        .route("/oauth/jwks.json", get(metadata::jwks))
        .route(
            "/oauth/authorize",
            get(authorize::show).post(authorize::decide),
        )
        .route("/oauth/token", post(token::token))
        .route(
            "/oauth/device_authorization",
            post(device::authorize_device),
        )
        .route("/oauth/device", get(device::show).post(device::decide))
        .route("/oauth/introspect", post(introspect::introspect))
        .route("/oauth/revoke", post(revoke::revoke))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            (gateway.clone(), Face::OAuth),
            crate::limits::guard,
        ))
        .with_state(gateway)
}

/// 32 random bytes, base64url: codes, refresh tokens, ids.
pub(crate) fn random_token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The SHA-256 of a secret, how it is looked up without comparing it byte by byte.
pub(crate) fn digest(secret: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(secret.as_bytes()).into()
}
