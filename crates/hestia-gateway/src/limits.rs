//! Size, rate and time limits on what a stranger can send to the gateway's HTTP API (`/cui/v1`
//! and `/oauth/*`), configured by `[cui]`: token buckets per source address and per bearer
//! token (and, at the token endpoint, per OAuth client), a request timeout, the largest body,
//! the event streams one user may hold open, and which webhook addresses are refused.
//! Every refusal is an API error with its exact code (`docs/cui.md`, "Limits and errors").

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::HesGateway;
use crate::model::{CuiError, ErrorCode};
use crate::oauth::OAuthError;
use crate::webhook::Reach;

/// When webhooks may reach a loopback address (`cui.webhook_loopback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookLoopback {
    /// When the HTTP port itself is bound to loopback (a demo or test machine).
    Auto,
    Allow,
    Refuse,
}

hestia_config::section! {
    /// Limits of the gateway's HTTP API (/cui/v1 and /oauth/*) on what anyone may send.
    pub struct CuiConfig {
        /// Largest request body of /cui/v1, in bytes; larger is 413 payload_too_large.
        pub max_body_bytes: usize = 16 * 1024,
        /// Longest a request may take to be answered (an event stream, once open, is not
        /// bounded); longer is 504 timeout.
        pub request_timeout: hestia_config::Duration = hestia_config::Duration::secs(30),
        /// Requests per second from one source address, sustained (0 = unlimited); more are
        /// 429 rate_limited with Retry-After.
        pub address_requests_per_second: u32 = 20,
        /// Requests one source address may send at once above that rate.
        pub address_burst: u32 = 100,
        /// Requests per second with one bearer token, sustained (0 = unlimited).
        pub token_requests_per_second: u32 = 50,
        /// Requests with one bearer token at once above that rate.
        pub token_burst: u32 = 200,
        /// Exempt loopback addresses from the per-address limit (per-token limits still apply).
        pub loopback_exempt: bool = true,
        /// Event streams (SSE and WebSocket) one user may hold open; one more is 429.
        pub max_streams_per_user: usize = 8,
        /// Webhooks to a loopback address (over http or https): "auto" = allowed when the HTTP
        /// port is bound to loopback, "allow", or "refuse".
        pub webhook_loopback: WebhookLoopback = WebhookLoopback::Auto,
        /// Webhooks to private, link-local and unique-local addresses (10/8, 172.16/12,
        /// 192.168/16, 169.254/16 with the cloud metadata address, fc00::/7, fe80::/10).
        pub webhook_private: bool = false,
    }
}

type Buckets<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Token buckets keyed by `K` (GCRA, the `governor` crate): the one rate limiter of the API.
#[derive(Debug)]
pub struct KeyedLimit<K: Hash + Eq + Clone> {
    buckets: Option<Buckets<K>>,
    clock: DefaultClock,
}

/// The most keys a limiter remembers before it forgets those whose bucket is full again.
const MAX_KEYS: usize = 100_000;

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    /// `per_period` requests each `period`, `burst` at once; 0 per period = unlimited.
    pub fn new(per_period: u32, period: Duration, burst: u32) -> KeyedLimit<K> {
        let buckets = NonZeroU32::new(per_period).map(|n| {
            let quota = Quota::with_period(period / n.get())
                .unwrap_or_else(|| Quota::per_second(n))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(n));
            RateLimiter::keyed(quota)
        });
        KeyedLimit {
            buckets,
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `key`'s bucket; when empty, the whole seconds until it may retry.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        if buckets.len() > MAX_KEYS {
            // Bound memory under an address- or token-spraying attack.
            buckets.retain_recent();
        }
        buckets.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The limits in force, resolved from [`CuiConfig`] at startup.
#[derive(Debug)]
pub struct Limits {
    pub config: CuiConfig,
    /// Webhooks may reach loopback addresses (`webhook_loopback` resolved).
    pub webhook_loopback: bool,
    by_address: KeyedLimit<IpAddr>,
    by_token: KeyedLimit<[u8; 32]>,
    streams: Mutex<HashMap<String, usize>>,
}

impl Default for Limits {
    /// The defaults of a gateway whose HTTP port is on loopback.
    fn default() -> Self {
        Limits::new(CuiConfig::default(), true)
    }
}

impl Limits {
    pub fn new(config: CuiConfig, is_loopback_port: bool) -> Limits {
        let second = Duration::from_secs(1);
        Limits {
            webhook_loopback: match config.webhook_loopback {
                WebhookLoopback::Auto => is_loopback_port,
                WebhookLoopback::Allow => true,
                WebhookLoopback::Refuse => false,
            },
            by_address: KeyedLimit::new(
                config.address_requests_per_second,
                second,
                config.address_burst,
            ),
            by_token: KeyedLimit::new(config.token_requests_per_second, second, config.token_burst),
            streams: Mutex::default(),
            config,
        }
    }

    /// Which addresses webhooks may reach.
    pub fn webhook_reach(&self) -> Reach {
        Reach {
            loopback: self.webhook_loopback,
            private: self.config.webhook_private,
        }
    }

    /// Validation of `[cui]`: every problem, for the server's config check.
    pub fn problems(config: &CuiConfig) -> Vec<String> {
        let mut p = Vec::new();
        if config.max_body_bytes < 1024 {
            p.push("cui.max_body_bytes must be at least 1024".into());
        }
        if config.request_timeout.get().is_zero() {
            p.push("cui.request_timeout must be greater than 0".into());
        }
        if config.max_streams_per_user == 0 {
            p.push("cui.max_streams_per_user must be greater than 0".into());
        }
        p
    }

    /// One request from `peer` with `token`: Err(seconds to wait) once a bucket is empty.
    pub(crate) fn admit(&self, peer: Option<IpAddr>, token: Option<&str>) -> Result<(), u64> {
        if let Some(ip) = peer
            && !(ip.is_loopback() && self.config.loopback_exempt)
        {
            self.by_address.check(&ip)?;
        }
        if let Some(token) = token {
            self.by_token.check(&crate::oauth::digest(token))?;
        }
        Ok(())
    }

    /// Counts one more open event stream of `user`; the slot gives it back when dropped.
    pub fn open_stream(self: &Arc<Self>, user: &str) -> Result<StreamSlot, CuiError> {
        let mut open = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(user.to_owned()).or_default();
        if *count >= self.config.max_streams_per_user {
            return Err(CuiError::new(
                ErrorCode::RateLimited,
                format!(
                    "at most {} event streams may be open at once",
                    self.config.max_streams_per_user
                ),
            ));
        }
        *count += 1;
        Ok(StreamSlot {
            limits: self.clone(),
            user: user.to_owned(),
        })
    }
}

/// One open event stream, counted against its user until dropped.
#[derive(Debug)]
pub struct StreamSlot {
    limits: Arc<Limits>,
    user: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .limits
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// How a refusal is written: the CUI's `{code, message, messageId}` or OAuth's
/// `{error, error_description}` (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy)]
pub enum Face {
    Cui,
    OAuth,
}

/// The middleware of both routers: rate limits per address and per token, then the request
/// timeout.
pub async fn guard(
    State((gateway, face)): State<(Arc<HesGateway>, Face)>,
    req: Request,
    next: Next,
) -> Response {
    let limits = gateway.limits();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let token = crate::http::bearer(req.headers());
    if let Err(retry_after) = limits.admit(peer, token) {
        return match face {
            Face::Cui => {
                let message = "too many requests; retry after the Retry-After seconds";
                let mut response = CuiError::new(ErrorCode::RateLimited, message).into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
                response
            }
            Face::OAuth => OAuthError::too_many_requests(retry_after).into_response(),
        };
    }
    answer_within(limits.config.request_timeout.get(), face, next.run(req)).await
}

/// The answer, or `timeout` (OAuth: `temporarily_unavailable`) once `timeout` has passed.
async fn answer_within(
    timeout: Duration,
    face: Face,
    answer: impl Future<Output = Response>,
) -> Response {
    match tokio::time::timeout(timeout, answer).await {
        Ok(response) => response,
        Err(_) => {
            let message = format!("the request took longer than {} s", timeout.as_secs_f64());
            match face {
                Face::Cui => CuiError::new(ErrorCode::Timeout, message).into_response(),
                Face::OAuth => OAuthError::temporarily_unavailable(message).into_response(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_says_how_long_to_wait() {
        let limit = KeyedLimit::new(1, Duration::from_secs(60), 2);
        assert_eq!(limit.check(&"a"), Ok(()));
        assert_eq!(limit.check(&"a"), Ok(()));
        let wait = limit.check(&"a").expect_err("empty");
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(limit.check(&"b"), Ok(()), "keys are independent");
        let unlimited = KeyedLimit::new(0, Duration::from_secs(1), 0);
        for _ in 0..1000 {
            assert_eq!(unlimited.check(&"a"), Ok(()));
        }
    }

    #[test]
    fn loopback_is_exempt_from_the_address_limit_only() {
        let config = CuiConfig {
            address_requests_per_second: 1,
            address_burst: 1,
            token_requests_per_second: 1,
            token_burst: 1,
            ..CuiConfig::default()
        };
        let limits = Limits::new(config, true);
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        let far = Some(IpAddr::from([203, 0, 113, 7]));
        for _ in 0..5 {
            assert_eq!(limits.admit(local, None), Ok(()));
        }
        assert_eq!(limits.admit(far, None), Ok(()));
        assert!(limits.admit(far, None).is_err());
        assert_eq!(limits.admit(local, Some("t1")), Ok(()));
        assert!(
            limits.admit(local, Some("t1")).is_err(),
            "tokens are limited"
        );
        assert_eq!(limits.admit(local, Some("t2")), Ok(()));
    }

    #[tokio::test]
    async fn a_request_slower_than_the_timeout_is_answered_timeout() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "late".into_response()
        };
        let answer = answer_within(Duration::from_millis(50), Face::Cui, slow).await;
        assert_eq!(answer.status(), axum::http::StatusCode::GATEWAY_TIMEOUT);
        let body = axum::body::to_bytes(answer.into_body(), 4096)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["code"], "timeout");
        assert_eq!(body["message"], "the request took longer than 0.05 s");
        let quick = async { "soon".into_response() };
        let answer = answer_within(Duration::from_secs(30), Face::OAuth, quick).await;
        assert_eq!(answer.status(), axum::http::StatusCode::OK);
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "late".into_response()
        };
        let answer = answer_within(Duration::from_millis(50), Face::OAuth, slow).await;
        assert_eq!(answer.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn streams_are_counted_per_user_until_closed() {
        let limits = Arc::new(Limits::new(
            CuiConfig {
                max_streams_per_user: 2,
                ..CuiConfig::default()
            },
            true,
        ));
        let a = limits.open_stream("alice").expect("first");
        let _b = limits.open_stream("alice").expect("second");
        let refused = limits.open_stream("alice").expect_err("third");
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert!(limits.open_stream("bob").is_ok(), "per user");
        drop(a);
        assert!(
            limits.open_stream("alice").is_ok(),
            "a closed stream frees its slot"
        );
    }
}
