//! Notification of an event to peers by webhook (ISO/IEC 10192-4-3 §6.2, §9): a subscription
//! made with a `callback` has its notifications POSTed to that URL, in `seq` order, each body
//! signed with the subscription's secret. A failed POST is retried with back-off; a
//! notification that fails every attempt is dropped (the peer sees the `seq` gap), and after
//! several such in a row the subscription is suspended until it is renewed.
//!
//! Signature: `Hestia-Signature: v1=<hex HMAC-SHA256(secret, "<Hestia-Timestamp>.<body>")>`,
//! so a receiver checks the body and refuses an old timestamp (a replay).

use std::net::{IpAddr, SocketAddr};
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
    /// the same machine) when `reach` allows loopback, to no address `reach` refuses, and a
    /// secret of 16–256 characters. A host name is checked again when it is resolved, at
    /// each delivery ([`Reach::client`]).
    pub fn parse(url: &str, secret: &str, reach: Reach) -> Result<Callback, CuiError> {
        if url.len() > MAX_URL {
            return Err(CuiError::bad_request("callback.url is too long"));
        }
        let url = reqwest::Url::parse(url)
            .map_err(|e| CuiError::bad_request(format!("callback.url: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        let ip = match host {
            "localhost" => Some(IpAddr::from([127, 0, 0, 1])),
            _ => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok(),
        };
        let is_loopback = ip.is_some_and(|ip| ip.to_canonical().is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if is_loopback && reach.loopback => {}
            _ => {
                return Err(CuiError::bad_request(
                    "callback.url must be https (http only to a loopback address)",
                ));
            }
        }
        if let Some(refused) = ip.and_then(|ip| reach.refuses(ip)) {
            return Err(CuiError::bad_request(format!(
                "callback.url may not reach {refused}"
            )));
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

/// Which addresses a webhook may reach (`cui.webhook_loopback`, `cui.webhook_private`): never
/// an unspecified, multicast or broadcast one; loopback and private, link-local (the cloud
/// metadata address 169.254.169.254 among them) and unique-local ones only when allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    pub loopback: bool,
    pub private: bool,
}

impl Default for Reach {
    /// A gateway on a loopback port (tests, the demo): loopback allowed, private refused.
    fn default() -> Self {
        Reach {
            loopback: true,
            private: false,
        }
    }
}

impl Reach {
    /// What kind of address `ip` is when a webhook may not reach it.
    pub fn refuses(self, ip: IpAddr) -> Option<&'static str> {
        let ip = ip.to_canonical();
        let is_private = match ip {
            IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
            IpAddr::V6(v6) => {
                let first = v6.segments()[0];
                // fc00::/7 unique local, fe80::/10 link local.
                first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80
            }
        };
        let is_broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        if ip.is_unspecified() || ip.is_multicast() || is_broadcast {
            Some("an unspecified, multicast or broadcast address")
        } else if ip.is_loopback() && !self.loopback {
            Some("a loopback address")
        } else if is_private && !self.private {
            Some("a private or link-local address")
        } else {
            None
        }
    }

    /// The HTTP client of webhook deliveries: every name it resolves is checked against this
    /// reach when it connects (so a name cannot be re-pointed after the subscription was
    /// checked), and it follows no redirect.
    pub fn client(self) -> reqwest::Client {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver(self)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "webhook client not built; deliveries will fail");
                reqwest::Client::new()
            })
    }
}

/// Resolves with the system resolver and refuses a name any of whose addresses is refused.
struct GuardedResolver(Reach);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let reach = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(refused) = addrs.iter().find_map(|a| reach.refuses(a.ip())) {
                tracing::warn!(host, "webhook refused: the name resolves to {refused}");
                return Err(format!("{host} resolves to {refused}").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
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

    const SECRET: &str = "0123456789abcdef";
    const DEMO: Reach = Reach {
        loopback: true,
        private: false,
    };

    #[test]
    fn callbacks_are_https_or_loopback_http_with_a_real_secret() {
        for ok in [
            "https://peer.example/hooks/1",
            "http://127.0.0.1:8080/x",
            "http://[::1]/x",
            "http://localhost/x",
            "https://203.0.113.7/x",
        ] {
            assert!(Callback::parse(ok, SECRET, DEMO).is_ok(), "{ok}");
        }
        for bad in [
            "http://peer.example/x",
            "ftp://127.0.0.1/x",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(Callback::parse(bad, SECRET, DEMO).is_err(), "{bad}");
        }
        assert!(Callback::parse("https://peer.example/", "short", DEMO).is_err());
        let c = Callback::parse("https://peer.example/", SECRET, DEMO).expect("ok");
        assert!(
            !format!("{c:?}").contains(SECRET),
            "the secret is never shown"
        );
    }

    #[test]
    fn private_link_local_and_metadata_addresses_are_refused_unless_allowed() {
        let private = "callback.url may not reach a private or link-local address";
        for url in [
            "https://10.1.2.3/x",
            "https://172.16.0.1/x",
            "https://172.31.255.255/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fc00::1]/x",
            "https://[fd12:3456::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:10.0.0.1]/x",
        ] {
            let refused = Callback::parse(url, SECRET, DEMO).expect_err(url);
            assert_eq!(refused.message, private, "{url}");
            let allowed = Reach {
                loopback: true,
                private: true,
            };
            assert!(Callback::parse(url, SECRET, allowed).is_ok(), "{url}");
        }
        for url in ["https://0.0.0.0/x", "https://[::]/x", "https://224.0.0.1/x"] {
            let refused = Callback::parse(url, SECRET, DEMO).expect_err(url);
            assert_eq!(
                refused.message,
                "callback.url may not reach an unspecified, multicast or broadcast address"
            );
        }
        assert!(Callback::parse("https://172.32.0.1/x", SECRET, DEMO).is_ok());
    }

    #[test]
    fn loopback_is_refused_over_either_scheme_when_not_allowed() {
        let strict = Reach {
            loopback: false,
            private: false,
        };
        let e = Callback::parse("http://127.0.0.1:8080/x", SECRET, strict).expect_err("http");
        assert_eq!(
            e.message,
            "callback.url must be https (http only to a loopback address)"
        );
        for url in [
            "https://127.0.0.1/x",
            "https://localhost/x",
            "https://[::1]/x",
        ] {
            let e = Callback::parse(url, SECRET, strict).expect_err(url);
            assert_eq!(e.message, "callback.url may not reach a loopback address");
        }
    }

    #[tokio::test]
    async fn a_name_is_checked_again_when_it_is_resolved() {
        use reqwest::dns::Resolve as _;
        let name = |n: &str| n.parse::<reqwest::dns::Name>().expect("name");
        let strict = GuardedResolver(Reach {
            loopback: false,
            private: false,
        });
        let refused = strict
            .resolve(name("localhost"))
            .await
            .err()
            .expect("refused");
        assert!(
            refused.to_string().contains("a loopback address"),
            "{refused}"
        );
        let demo = GuardedResolver(DEMO);
        let addrs: Vec<SocketAddr> = demo
            .resolve(name("localhost"))
            .await
            .map_err(|e| e.to_string())
            .expect("resolved")
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
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
