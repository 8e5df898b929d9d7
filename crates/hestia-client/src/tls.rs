//! TLS for the client (RFC 6120 §5, XEP-0368): rustls with the ring provider, trust anchors from a PEM, an
//! optional client certificate (XEP-0178), and the `tls-exporter` channel binding of RFC 9266.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::{ClientError, ConnectOptions};

/// The exporter label of RFC 9266 §2.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// The exporter output length of RFC 9266 §2, in bytes.
const EXPORTER_LEN: usize = 32;

/// Every certificate in a PEM; an error if there is none or the PEM is malformed.
pub fn load_pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Tls(format!("invalid certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(ClientError::Tls("no certificate in PEM".to_owned()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM.
fn load_pem_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, ClientError> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| ClientError::Tls(format!("invalid private key PEM: {e}")))
}

/// A rustls client configuration trusting exactly the certificates of `ca_pem`, TLS 1.2 and 1.3.
fn client_config(opts: &ConnectOptions) -> Result<Arc<ClientConfig>, ClientError> {
    let ca_pem = opts.ca_pem.as_deref().ok_or_else(|| {
        ClientError::Tls("no trust anchors: set ConnectOptions::with_ca_pem to use TLS".to_owned())
    })?;
    let mut roots = RootCertStore::empty();
    for cert in load_pem_certs(ca_pem)? {
        roots
            .add(cert)
            .map_err(|e| ClientError::Tls(format!("unusable CA certificate: {e}")))?;
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots);
    let config = match &opts.client_cert {
        Some((chain, key)) => builder
            .with_client_auth_cert(load_pem_certs(chain)?, load_pem_key(key)?)
            .map_err(|e| ClientError::Tls(format!("unusable client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Runs the TLS handshake over `tcp`, verifying the server's certificate for `opts.domain`.
pub(crate) async fn handshake(
    tcp: TcpStream,
    opts: &ConnectOptions,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let config = client_config(opts)?;
    let name = ServerName::try_from(opts.domain.clone())
        .map_err(|e| ClientError::Tls(format!("invalid TLS server name {:?}: {e}", opts.domain)))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| ClientError::Tls(format!("handshake failed: {e}")))
}

/// The `tls-exporter` channel-binding data of an established connection (RFC 9266).
pub(crate) fn exporter(tls: &TlsStream<TcpStream>) -> Result<Vec<u8>, ClientError> {
    tls.get_ref()
        .1
        .export_keying_material(vec![0u8; EXPORTER_LEN], EXPORTER_LABEL, None)
        .map_err(|e| ClientError::Tls(format!("cannot export channel binding: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_is_an_error() {
        assert!(matches!(load_pem_certs(b""), Err(ClientError::Tls(_))));
        assert!(matches!(
            load_pem_certs(b"not pem at all"),
            Err(ClientError::Tls(_))
        ));
    }

    #[test]
    fn tls_without_ca_is_a_clear_error() {
        let opts = ConnectOptions::new(([127, 0, 0, 1], 5222).into(), "example.org");
        let err = client_config(&opts).expect_err("no CA");
        assert!(err.to_string().contains("with_ca_pem"), "{err}");
    }

    #[test]
    fn client_certificate_is_loaded() {
        let ca = rcgen::generate_simple_self_signed(vec!["example.org".to_owned()]).expect("ca");
        let device = rcgen::generate_simple_self_signed(vec!["lamp.example.org".to_owned()])
            .expect("device");
        let opts = ConnectOptions::new(([127, 0, 0, 1], 5222).into(), "example.org")
            .with_ca_pem(ca.cert.pem())
            .with_client_cert(device.cert.pem(), device.key_pair.serialize_pem());
        let config = client_config(&opts).expect("config");
        assert!(config.client_auth_cert_resolver.has_certs());
        let bad = opts.with_client_cert(device.cert.pem(), "no key");
        assert!(matches!(client_config(&bad), Err(ClientError::Tls(_))));
    }
}
