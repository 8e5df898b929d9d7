//! Certificates: the private CA and server certificate made on first start, certificates from
//! files for production, device certificates issued by the CA for SASL EXTERNAL (XEP-0178),
//! the rustls server configuration (TLS 1.2 and 1.3), and the TLS listener of the HTTP port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// id-on-xmppAddr (RFC 6120 §13.7.1.4).
const XMPP_ADDR_OID: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 8, 5];

/// Where the generated material lives inside the data directory.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl Pki {
    pub fn in_dir(dir: &Path) -> Pki {
        Pki {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
        }
    }

    /// Makes the CA and a server certificate for `domain` unless they exist already.
    pub fn ensure(&self, domain: &str) -> Result<()> {
        if !self.ca_cert.exists() || !self.ca_key.exists() {
            let key = KeyPair::generate().context("generating CA key")?;
            let mut params = CertificateParams::default();
            params.distinguished_name.push(
                DnType::CommonName,
                format!("Hestia private CA for {domain}"),
            );
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.not_after = rcgen::date_time_ymd(2046, 1, 1);
            let cert = params.self_signed(&key).context("self-signing CA")?;
            write_private(&self.ca_key, key.serialize_pem().as_bytes())?;
            std::fs::write(&self.ca_cert, cert.pem())?;
        }
        if !self.server_cert.exists() || !self.server_key.exists() {
            let mut names = vec![domain.to_owned()];
            if domain != "localhost" {
                names.push("localhost".into());
            }
            let mut params = CertificateParams::new(names).context("server certificate names")?;
            params
                .subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
            params.distinguished_name.push(DnType::CommonName, domain);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.not_after = rcgen::date_time_ymd(2045, 1, 1);
            let (cert, key) = self.issue(params)?;
            write_private(&self.server_key, key.as_bytes())?;
            std::fs::write(&self.server_cert, cert)?;
        }
        Ok(())
    }

    /// Signs `params` with the CA; returns (certificate PEM, key PEM).
    fn issue(&self, params: CertificateParams) -> Result<(String, String)> {
        let ca_key_pem = std::fs::read_to_string(&self.ca_key).context("reading CA key")?;
        let ca_key = KeyPair::from_pem(&ca_key_pem).context("parsing CA key")?;
        let ca_pem = std::fs::read_to_string(&self.ca_cert).context("reading CA certificate")?;
        let ca_params =
            CertificateParams::from_ca_cert_pem(&ca_pem).context("parsing CA certificate")?;
        let ca = ca_params.self_signed(&ca_key).context("rebuilding CA")?;
        let key = KeyPair::generate()?;
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .context("signing certificate")?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// A client certificate for `jid` (a device) with the xmppAddr SAN; returns (cert, key) PEM.
    pub fn issue_device_certificate(&self, jid: &str) -> Result<(String, String)> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, jid);
        params.subject_alt_names.push(SanType::OtherName((
            XMPP_ADDR_OID.to_vec(),
            rcgen::OtherNameValue::Utf8String(jid.to_owned()),
        )));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_after = rcgen::date_time_ymd(2045, 1, 1);
        self.issue(params)
    }
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(data)?;
    Ok(())
}

/// The rustls configuration: our certificate, TLS 1.2 and 1.3, client certificates optional
/// and verified against the CA when `client_ca` is given (for SASL EXTERNAL), and the ALPN
/// protocols offered (`xmpp-client` for direct TLS, `http/1.1` for the HTTP port).
pub fn server_config(
    cert_pem: &Path,
    key_pem: &Path,
    client_ca: Option<&Path>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .with_context(|| format!("reading {}", cert_pem.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", cert_pem.display()))?;
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .with_context(|| format!("reading {}", key_pem.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| anyhow!("TLS versions: {e}"))?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)? {
                roots.add(c?)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| anyhow!("client verifier: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("certificate and key do not match")?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// How long a client of the HTTPS port has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP port over TLS, for `axum::serve`: each handshake runs in its own task, bounded by
/// [`HANDSHAKE_TIMEOUT`], so a slow or silent client holds up nobody; axum serves the
/// connections whose handshake completed.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `listener` until `shutdown`, handshaking with `config`.
    pub fn start(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let handshakes = tracker.clone();
        crate::listener::accept_until_shutdown("HTTPS", listener, shutdown, tracker, {
            move |tcp, peer| {
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                handshakes.spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTPS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "HTTPS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop ended (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
