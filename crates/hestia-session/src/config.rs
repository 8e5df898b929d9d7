//! Options of client-to-server streams.

use std::sync::Arc;
use std::time::Duration;

use hestia_xml::Limits;

use crate::sm::AckPolicy;

/// Everything a c2s connection needs to know besides the IRSP itself.
#[derive(Debug, Clone)]
pub struct C2sOptions {
    /// TLS for STARTTLS and direct TLS; None = no TLS at all (tests and benchmarks only).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Refuse SASL and registration until the stream is encrypted.
    pub is_tls_required: bool,
    pub pre_auth_limits: Limits,
    pub post_auth_limits: Limits,
    /// Top-level elements a client may send before authenticating.
    pub max_pre_auth_stanzas: u32,
    /// An unauthenticated (or unbound) stream is closed after this long.
    pub auth_timeout: Duration,
    /// A bound connection silent this long is pinged (zero = never) …
    pub keepalive_interval: Duration,
    /// … and closed with `connection-timeout` if it then stays silent this long.
    pub keepalive_timeout: Duration,
    /// Bytes per second per connection (0 = unlimited) and the burst allowance.
    pub max_bytes_per_second: u64,
    pub burst_bytes: u64,
    /// Failed logins allowed per source address, and per account, within `failed_login_window`.
    pub max_failed_logins_per_address: u32,
    pub max_failed_logins_per_account: u32,
    pub failed_login_window: Duration,
    /// SASL attempts allowed on one stream before it is closed.
    pub max_auth_attempts_per_stream: u32,
    /// Exempt loopback sources from the failed-login throttle.
    pub is_loopback_exempt: bool,
    /// Outbound stanzas queued for a connection before further ones bounce.
    pub outbound_queue: usize,
    /// XEP-0198: longest a resumable session hibernates after losing its connection (zero =
    /// resumption not offered).
    pub resume_timeout: Duration,
    /// XEP-0198: when acknowledgements are requested, and the bound on unacknowledged stanzas.
    pub ack_policy: AckPolicy,
}

impl Default for C2sOptions {
    fn default() -> Self {
        C2sOptions {
            tls: None,
            is_tls_required: true,
            pre_auth_limits: Limits::PRE_AUTH,
            post_auth_limits: Limits::default(),
            max_pre_auth_stanzas: 32,
            auth_timeout: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(30),
            max_bytes_per_second: 0,
            burst_bytes: 1 << 20,
            max_failed_logins_per_address: 20,
            max_failed_logins_per_account: 10,
            failed_login_window: Duration::from_secs(300),
            max_auth_attempts_per_stream: 3,
            is_loopback_exempt: false,
            outbound_queue: 4096,
            resume_timeout: Duration::from_secs(300),
            ack_policy: AckPolicy {
                every: 5,
                delay: Duration::from_secs(2),
                max_unacked: 500,
            },
        }
    }
}
