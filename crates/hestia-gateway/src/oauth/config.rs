//! The authorization server's options (`[oauth]`), each with its default, and the settings resolved
//! from them at startup.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use hestia_config::Duration;

hestia_config::section! {
    /// The gateway's OAuth 2.0 authorization server (C2C authorization, ISO/IEC 10192-4-3 §8):
    /// endpoints under /oauth on the HTTP port, JWT access tokens accepted on /cui/v1.
    pub struct OAuthConfig {
        /// Issuer identifier (RFC 8414), the base URL peers reach this server at, e.g.
        /// "https://home-b.example"; empty = "http://" + http.listen.
        pub issuer: String = String::new(),
        /// Audience (`aud`) of the access tokens /cui/v1 accepts; empty = issuer + "/cui/v1".
        pub audience: String = String::new(),
        /// Lifetime of an access token (a JWT, verifiable without asking this server).
        pub access_token_ttl: Duration = Duration::secs(600),
        /// Lifetime of a refresh token; each use returns a new one (rotation).
        pub refresh_token_ttl: Duration = Duration::secs(30 * 24 * 3600),
        /// Lifetime of a device code and its user code (RFC 8628).
        pub device_code_ttl: Duration = Duration::secs(600),
        /// Least time between two polls of one device code; sooner is `slow_down`.
        pub device_poll_interval: Duration = Duration::secs(5),
        /// Age at which the signing key is replaced by a new one on next use (0 = only when the
        /// admin API asks); the previous key stays published until its tokens have expired.
        pub key_rotation: Duration = Duration::secs(30 * 24 * 3600),
        /// Token-endpoint requests one client may make per minute; more get 429.
        pub token_requests_per_minute: u32 = 120,
    }
}

/// Unix seconds, from the system clock or, in tests, from a value the test moves.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// A clock that reads `at` (unix seconds); the test moves it with [`Clock::advance`].
    pub fn manual(at: i64) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(at))))
    }

    pub fn now(&self) -> i64 {
        match &self.0 {
            Some(t) => t.load(Ordering::Relaxed),
            None => unix_now(),
        }
    }

    /// Moves a manual clock forward; the system clock is not moved.
    pub fn advance(&self, secs: i64) {
        if let Some(t) = &self.0 {
            t.fetch_add(secs, Ordering::Relaxed);
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What the server runs with: the configuration resolved (issuer and audience filled in,
/// durations in seconds) and its clock.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    pub device_code_ttl: i64,
    pub device_interval: i64,
    /// None = rotate only on request.
    pub key_rotation: Option<i64>,
    pub token_requests_per_minute: u32,
    pub clock: Clock,
}

impl OAuthSettings {
    /// `config` with an empty issuer replaced by `default_issuer` (no trailing `/`).
    pub fn new(config: &OAuthConfig, default_issuer: &str) -> OAuthSettings {
        let issuer = if config.issuer.is_empty() {
            default_issuer
        } else {
            &config.issuer
        }
        .trim_end_matches('/')
        .to_owned();
        let audience = if config.audience.is_empty() {
            format!("{issuer}/cui/v1")
        } else {
            config.audience.clone()
        };
        let secs = |d: Duration| i64::try_from(d.get().as_secs()).unwrap_or(i64::MAX);
        OAuthSettings {
            issuer,
            audience,
            access_ttl: secs(config.access_token_ttl).max(1),
            refresh_ttl: secs(config.refresh_token_ttl).max(1),
            device_code_ttl: secs(config.device_code_ttl).max(1),
            device_interval: secs(config.device_poll_interval).max(1),
            key_rotation: Some(secs(config.key_rotation)).filter(|s| *s > 0),
            token_requests_per_minute: config.token_requests_per_minute,
            clock: Clock::default(),
        }
    }

    /// Problems with `config`, one line each (for the server's validation).
    pub fn problems(config: &OAuthConfig) -> Vec<String> {
        let mut p = Vec::new();
        for (key, url) in [
            ("oauth.issuer", &config.issuer),
            ("oauth.audience", &config.audience),
        ] {
            if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
                p.push(format!("{key} {url:?} must be an http(s) URL"));
            }
        }
        if config.issuer.contains(['?', '#']) {
            p.push("oauth.issuer must have no query or fragment (RFC 8414)".into());
        }
        if config.access_token_ttl.get().as_secs() == 0 {
            p.push("oauth.access_token_ttl must be at least 1s".into());
        }
        p
    }
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings::new(&OAuthConfig::default(), "http://localhost:5280")
    }
}
