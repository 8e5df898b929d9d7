//! Notification of an event to peers by webhook (ISO/IEC 10192-4-3 §6.2, §9): a subscription
//! made with a `callback` has its notifications POSTed to that URL, in `seq` order, each body
//! signed with the subscription's secret. A failed POST is retried with back-off; a
//! notification that fails every attempt is dropped (the peer sees the `seq` gap), and after
//! several such in a row the subscription is suspended until it is renewed.
//!
//! Signature: `Hestia-Signature: v1=<hex HMAC-SHA256(secret, "<Hestia-Timestamp>.<body>")>`,
//! so a receiver checks the body and refuses an old timestamp (a replay).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::model::CuiError;

/// Notifications waiting for one webhook before newer ones are dropped.
const QUEUE: usize = 256;
/// The shortest secret accepted: it is an HMAC key.
pub const MIN_SECRET: usize = 16;
const MAX_SECRET: usize = 256;
const MAX_URL: usize = 2048;

/// How hard a webhook is tried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Attempts per notification.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each next one.
    pub first_backoff: Duration,
    /// Notifications failed in a row before the subscription is suspended.
    pub suspend_after: u32,
    /// How long one POST may take.
    pub timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            attempts: 4,
            first_backoff: Duration::from_secs(1),
            suspend_after: 3,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Where and how a subscription's notifications are POSTed. No `Debug` of the secret.
#[derive(Clone)]
pub struct Callback {
    pub url: reqwest::Url,
    secret: Arc<str>,
    /// Where a bearer token for each POST comes from: a federation's callback grant, so the
    /// receiving gateway knows which link the notification belongs to.
    bearer: Option<Arc<dyn BearerSource>>,
}

/// Gives the current bearer token of a callback, refreshing it when it must.
pub trait BearerSource: Send + Sync + 'static {
    fn bearer(&self) -> futures_util::future::BoxFuture<'_, Option<String>>;
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("url", &self.url.as_str())
            .field("secret", &"<redacted>")
            .field("bearer", &self.bearer.is_some())
            .finish()
    }
}

impl PartialEq for Callback {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url && self.secret == other.secret
    }
}

impl Callback {
    /// A callback from a request: an `https` URL, or `http` to a loopback address (a peer on
    /// the same machine), and a secret of 16–256 characters.
    pub fn parse(url: &str, secret: &str) -> Result<Callback, CuiError> {
        if url.len() > MAX_URL {
            return Err(CuiError::bad_request("callback.url is too long"));
        }
        let url = reqwest::Url::parse(url)
            .map_err(|e| CuiError::bad_request(format!("callback.url: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        let is_loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if is_loopback => {}
            _ => {
                return Err(CuiError::bad_request(
                    "callback.url must be https (http only to a loopback address)",
                ));
            }
        }
        if !(MIN_SECRET..=MAX_SECRET).contains(&secret.chars().count()) {
            return Err(CuiError::bad_request(format!(
                "callback.secret is {MIN_SECRET} to {MAX_SECRET} characters"
            )));
        }
        Ok(Callback {
            url,
            secret: secret.into(),
            bearer: None,
        })
    }

    /// The callback with a bearer token on every POST.
    pub fn with_bearer(mut self, source: Arc<dyn BearerSource>) -> Callback {
        self.bearer = Some(source);
        self
    }

    /// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
    pub fn signature(&self, timestamp: u64, body: &str) -> String {
        sign(&self.secret, timestamp, body)
    }
}

/// Now in unix seconds, the time a signature covers.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The signature a receiver recomputes with the shared secret.
pub fn sign(secret: &str, timestamp: u64, body: &str) -> String {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// A subscription's delivery state, shared by the subscription and its delivery task.
#[derive(Debug, Default)]
pub struct Health {
    failed_in_a_row: AtomicU32,
    suspended: AtomicBool,
}

impl Health {
    pub fn is_suspended(&self) -> bool {
        self.suspended.load(Ordering::Relaxed)
    }

    /// Renewing a subscription gives its webhook another chance.
    pub fn resume(&self) {
        self.failed_in_a_row.store(0, Ordering::Relaxed);
        self.suspended.store(false, Ordering::Relaxed);
    }
}

/// One notification to POST.
#[derive(Debug)]
pub struct Delivery {
    pub event_id: String,
    pub envelope: String,
}

/// The sending side of one subscription's webhook.
#[derive(Debug)]
pub struct Webhook {
    pub callback: Callback,
    pub health: Arc<Health>,
    tx: mpsc::Sender<Delivery>,
}

impl Webhook {
    /// Starts the delivery task of a callback; it ends when the webhook is dropped.
    pub fn start(
        callback: Callback,
        client: reqwest::Client,
        policy: Policy,
        tasks: &tokio_util::task::TaskTracker,
    ) -> Webhook {
        let (tx, rx) = mpsc::channel(QUEUE);
        let health = Arc::new(Health::default());
        tasks.spawn(deliver(
            callback.clone(),
            client,
            policy,
            health.clone(),
            rx,
        ));
        Webhook {
            callback,
            health,
            tx,
        }
    }

    /// Queues a notification; false when suspended or the queue is full (it is dropped).
    pub fn send(&self, delivery: Delivery) -> bool {
        !self.health.is_suspended() && self.tx.try_send(delivery).is_ok()
    }
}

async fn deliver(
    callback: Callback,
    client: reqwest::Client,
    policy: Policy,
    health: Arc<Health>,
    mut rx: mpsc::Receiver<Delivery>,
) {
    while let Some(delivery) = rx.recv().await {
        if health.is_suspended() {
            continue;
        }
        if post_with_retries(&callback, &client, &policy, &delivery).await {
            health.failed_in_a_row.store(0, Ordering::Relaxed);
            metrics::counter!("hestia_gateway_webhooks_total", "outcome" => "delivered")
                .increment(1);
            continue;
        }
        metrics::counter!("hestia_gateway_webhooks_total", "outcome" => "dropped").increment(1);
        let failed = health.failed_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if failed >= policy.suspend_after {
            health.suspended.store(true, Ordering::Relaxed);
            tracing::warn!(url = %callback.url, failed, "webhook suspended after repeated failures");
        }
    }
}

/// True once one attempt got a 2xx.
async fn post_with_retries(
    callback: &Callback,
    client: &reqwest::Client,
    policy: &Policy,
    delivery: &Delivery,
) -> bool {
    let mut backoff = policy.first_backoff;
    for attempt in 1..=policy.attempts {
        let timestamp = unix_now();
        let mut post = client.post(callback.url.clone());
        if let Some(source) = &callback.bearer {
            match source.bearer().await {
                Some(token) => post = post.bearer_auth(token),
                None => tracing::debug!(url = %callback.url, "no bearer token for a webhook"),
            }
        }
        let sent = post
            .timeout(policy.timeout)
            .header("content-type", "application/json")
            .header("hestia-event-id", &delivery.event_id)
            .header("hestia-timestamp", timestamp.to_string())
            .header(
                "hestia-signature",
                callback.signature(timestamp, &delivery.envelope),
            )
            .body(delivery.envelope.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => {
                tracing::debug!(url = %callback.url, attempt, status = %r.status(), "webhook refused")
            }
            Err(e) => tracing::debug!(url = %callback.url, attempt, error = %e, "webhook failed"),
        }
        if attempt < policy.attempts {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_https_or_loopback_http_with_a_real_secret() {
        let secret = "0123456789abcdef";
        for ok in [
            "https://peer.example/hooks/1",
            "http://127.0.0.1:8080/x",
            "http://[::1]/x",
            "http://localhost/x",
        ] {
            assert!(Callback::parse(ok, secret).is_ok(), "{ok}");
        }
        for bad in [
            "http://peer.example/x",
            "ftp://127.0.0.1/x",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(Callback::parse(bad, secret).is_err(), "{bad}");
        }
        assert!(Callback::parse("https://peer.example/", "short").is_err());
        let c = Callback::parse("https://peer.example/", secret).expect("ok");
        assert!(
            !format!("{c:?}").contains(secret),
            "the secret is never shown"
        );
    }

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let s = sign("0123456789abcdef", 1_700_000_000, "{}");
        assert!(s.starts_with("v1=") && s.len() == 3 + 64, "{s}");
        assert_ne!(s, sign("0123456789abcdef", 1_700_000_001, "{}"));
        assert_ne!(s, sign("0123456789abcdef", 1_700_000_000, "{ }"));
        assert_ne!(s, sign("0123456789abcdeF", 1_700_000_000, "{}"));
    }
}
