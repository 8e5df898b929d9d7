//! Where and how to connect.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hestia_sasl::Mechanism;

/// How the stream is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No TLS. Only for loopback benchmarks against a server configured to allow it.
    Plain,
    /// Plain TCP upgraded with STARTTLS (RFC 6120 §5); fails if the server does not offer it.
    StartTls,
    /// TLS from the first byte (XEP-0368 direct TLS).
    DirectTls,
}

/// Everything [`Connected::connect`](crate::Connected::connect) needs.
#[derive(Clone)]
pub struct ConnectOptions {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The stream's `to` and the TLS server name.
    pub domain: String,
    /// How the stream is secured.
    pub transport: Transport,
    /// Trust anchors in PEM (every certificate in it is trusted). Required for TLS: the client has no
    /// built-in web PKI roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate chain and private key, both PEM, for SASL EXTERNAL (XEP-0178).
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// Bind the socket to this source address before connecting (tests use 127.0.0.2 and so on).
    pub local_addr: Option<IpAddr>,
    /// Force this SASL mechanism (it is sent even if not offered, so tests can see the server refuse it);
    /// `None` picks the best offered: SCRAM-SHA-256-PLUS > SCRAM-SHA-1-PLUS > SCRAM-SHA-256 > SCRAM-SHA-1 >
    /// PLAIN, `-PLUS` only over TLS.
    pub mechanism: Option<Mechanism>,
    /// Limit for each step: TCP connect, TLS handshake, each request and its answer, each `recv`.
    pub timeout: Duration,
}

impl ConnectOptions {
    /// STARTTLS, best mechanism, 10 s per step, no CA yet (set one with [`Self::with_ca_pem`]).
    pub fn new(addr: SocketAddr, domain: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            addr,
            domain: domain.into(),
            transport: Transport::StartTls,
            ca_pem: None,
            client_cert: None,
            local_addr: None,
            mechanism: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// Trust the certificates in this PEM.
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> ConnectOptions {
        self.ca_pem = Some(pem.into());
        self
    }

    pub fn with_transport(mut self, transport: Transport) -> ConnectOptions {
        self.transport = transport;
        self
    }

    pub fn with_mechanism(mut self, mechanism: Mechanism) -> ConnectOptions {
        self.mechanism = Some(mechanism);
        self
    }

    pub fn with_local_addr(mut self, ip: IpAddr) -> ConnectOptions {
        self.local_addr = Some(ip);
        self
    }

    /// Present this certificate chain and key (both PEM) in the TLS handshake.
    pub fn with_client_cert(
        mut self,
        chain_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> ConnectOptions {
        self.client_cert = Some((chain_pem.into(), key_pem.into()));
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> ConnectOptions {
        self.timeout = timeout;
        self
    }
}

impl fmt::Debug for ConnectOptions {
    // Hand-written so the client's private key stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("addr", &self.addr)
            .field("domain", &self.domain)
            .field("transport", &self.transport)
            .field("has_ca_pem", &self.ca_pem.is_some())
            .field("has_client_cert", &self.client_cert.is_some())
            .field("local_addr", &self.local_addr)
            .field("mechanism", &self.mechanism)
            .field("timeout", &self.timeout)
            .finish()
    }
}
