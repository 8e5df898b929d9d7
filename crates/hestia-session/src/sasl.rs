//! SASL authentication (RFC 6120 §6, ISO/IEC 14543-5-8 §8 login): SCRAM-SHA-256/-SHA-1 with
//! and without -PLUS (tls-exporter), PLAIN only under TLS, EXTERNAL with a device certificate
//! issued by the IRSP's CA (XEP-0178). Failed logins are throttled per address and account.

use base64::Engine as _;
use hestia_proto::{Jid, StreamError, ns};
use hestia_sasl::{ChannelBinding, HashAlg, Mechanism, SaslError, ScramKeys, ScramServer};
use hestia_store::{AccountKind, Credentials};
use hestia_xml::Element;

use crate::connection::{Account, Connection, Exit, Phase, Step};

/// A SCRAM exchange waiting for the client's final message.
pub struct SaslExchange {
    mechanism: Mechanism,
    scram: ScramServer,
    localpart: String,
    account: Option<(AccountKind, bool)>,
}

impl std::fmt::Debug for SaslExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslExchange")
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Fake iteration count shown for unknown users, equal to the default real one.
const FAKE_ITERATIONS: u32 = 4096;

fn for_hash(creds: &Credentials, alg: HashAlg) -> ScramKeys {
    match alg {
        HashAlg::Sha1 => ScramKeys::from(&creds.sha1),
        HashAlg::Sha256 => ScramKeys::from(&creds.sha256),
    }
}

impl Connection {
    /// Mechanisms offered on this stream, strongest first.
    pub(crate) fn offered_mechanisms(&self) -> Vec<&'static str> {
        let Some(tls) = &self.tls else {
            return vec![Mechanism::ScramSha256.name(), Mechanism::ScramSha1.name()];
        };
        let mut m = Vec::new();
        if tls.binding.is_some() {
            m.extend([
                Mechanism::ScramSha256Plus.name(),
                Mechanism::ScramSha1Plus.name(),
            ]);
        }
        m.extend([
            Mechanism::ScramSha256.name(),
            Mechanism::ScramSha1.name(),
            Mechanism::Plain.name(),
        ]);
        if tls.peer_certificate.is_some() {
            m.push(Mechanism::External.name());
        }
        m
    }

    fn binding(&self) -> Option<ChannelBinding> {
        let data = self.tls.as_ref()?.binding.clone()?;
        Some(ChannelBinding::tls_exporter(data))
    }

    pub(crate) async fn on_sasl(&mut self, el: Element) -> Result<Step, Exit> {
        let outcome = match el.name() {
            "auth" => self.on_auth(&el).await,
            "response" => Box::pin(self.on_response(&el)).await,
            "abort" => Err(SaslError::Aborted),
            _ => Err(SaslError::MalformedRequest),
        };
        match outcome {
            Ok(step) => Ok(step),
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: SaslError) -> Result<Step, Exit> {
        self.phase = Phase::Connected { sasl: None };
        self.pending_first = None;
        let failure =
            Element::new("failure", ns::SASL).with_child(Element::new(e.condition(), ns::SASL));
        failure.write_to(&mut self.out, ns::CLIENT);
        if matches!(e, SaslError::Aborted) {
            return Ok(Step::Continue);
        }
        metrics::counter!("hestia_auth_failures_total", "condition" => e.condition()).increment(1);
        self.auth_attempts += 1;
        if self.auth_attempts >= self.c2s.options.max_auth_attempts_per_stream {
            return Err(Exit::stream(
                StreamError::PolicyViolation,
                "too many authentication failures",
            ));
        }
        Ok(Step::Continue)
    }

    fn is_throttle_exempt(&self) -> bool {
        self.c2s.options.is_loopback_exempt && self.peer.ip().is_loopback()
    }

    fn record_failure(&self, localpart: Option<&str>) {
        if !self.is_throttle_exempt() {
            self.c2s.failed_by_ip.record(&self.peer.ip());
        }
        if let Some(l) = localpart {
            self.c2s.failed_by_account.record(&l.to_owned());
        }
    }

    async fn on_auth(&mut self, el: &Element) -> Result<Step, SaslError> {
        let name = el.attr("mechanism").unwrap_or_default();
        let mechanism = Mechanism::from_name(name)
            .filter(|m| self.offered_mechanisms().contains(&m.name()))
            .ok_or(SaslError::InvalidMechanism)?;
        if !self.is_throttle_exempt() && !self.c2s.failed_by_ip.is_allowed(&self.peer.ip()) {
            return Err(SaslError::TemporaryAuthFailure);
        }
        let initial = decode(el)?;
        match mechanism {
            Mechanism::Plain => self.plain(initial.unwrap_or_default()).await,
            Mechanism::External => self.external(initial.unwrap_or_default()).await,
            _ => self.scram_first(mechanism, initial).await,
        }
    }

    async fn lookup(
        &self,
        localpart: &str,
    ) -> Result<Option<(Credentials, bool, AccountKind)>, SaslError> {
        if !self.c2s.failed_by_account.is_allowed(&localpart.to_owned()) {
            return Err(SaslError::TemporaryAuthFailure);
        }
        self.c2s
            .irsp
            .store
            .credentials(localpart)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "credential lookup failed");
                SaslError::TemporaryAuthFailure
            })
    }

    async fn plain(&mut self, msg: Vec<u8>) -> Result<Step, SaslError> {
        let creds = hestia_sasl::parse_plain(&msg)?;
        let localpart = hestia_proto::jid::normalize_localpart(&creds.username)
            .map_err(|_| SaslError::NotAuthorized)?;
        self.check_authzid(creds.authzid.as_deref(), &localpart)?;
        let found = self.lookup(&localpart).await?;
        let is_ok = found.as_ref().is_some_and(|(c, ..)| {
            for_hash(c, HashAlg::Sha256).verify_password(HashAlg::Sha256, &creds.password)
        });
        match found {
            Some((_, is_disabled, kind)) if is_ok => {
                self.succeed(Mechanism::Plain, localpart, kind, is_disabled, None)
            }
            _ => {
                self.record_failure(Some(&localpart));
                Err(SaslError::NotAuthorized)
            }
        }
    }

    fn check_authzid(&self, authzid: Option<&str>, localpart: &str) -> Result<(), SaslError> {
        let Some(authzid) = authzid.filter(|a| !a.is_empty()) else {
            return Ok(());
        };
        let own = Jid::bare(localpart, self.c2s.irsp.domain.domain())
            .map_err(|_| SaslError::InvalidAuthzid)?;
        match Jid::parse(authzid) {
            Ok(j) if j == own => Ok(()),
            _ => Err(SaslError::InvalidAuthzid),
        }
    }

    async fn scram_first(
        &mut self,
        mechanism: Mechanism,
        initial: Option<Vec<u8>>,
    ) -> Result<Step, SaslError> {
        let Some(first) = initial.filter(|m| !m.is_empty()) else {
            // No initial response: RFC 6120 §6.4.2 — send an empty challenge and wait.
            self.out
                .extend_from_slice(b"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
            self.phase = Phase::Connected { sasl: None };
            self.pending_first = Some(mechanism);
            return Ok(Step::Continue);
        };
        let offers_plus = self
            .offered_mechanisms()
            .iter()
            .any(|m| m.ends_with("-PLUS"));
        let mut scram = ScramServer::new(mechanism, self.binding(), offers_plus)?;
        let client_first = scram.client_first(&first)?;
        if let Some(authzid) = client_first.authzid.as_deref() {
            let local =
                hestia_proto::jid::normalize_localpart(&client_first.username).unwrap_or_default();
            self.check_authzid(Some(authzid), &local)?;
        }
        let localpart =
            hestia_proto::jid::normalize_localpart(&client_first.username).unwrap_or_default();
        let found = if localpart.is_empty() {
            None
        } else {
            self.lookup(&localpart).await?
        };
        let alg = mechanism.hash().ok_or(SaslError::InvalidMechanism)?;
        let keys = found.as_ref().map(|(c, ..)| for_hash(c, alg));
        let server_first = scram.server_first(keys.as_ref(), FAKE_ITERATIONS);
        self.write_sasl("challenge", &server_first);
        self.phase = Phase::Connected {
            sasl: Some(SaslExchange {
                mechanism,
                scram,
                localpart,
                account: found.map(|(_, d, k)| (k, d)),
            }),
        };
        Ok(Step::Continue)
    }

    async fn on_response(&mut self, el: &Element) -> Result<Step, SaslError> {
        let msg = decode(el)?.unwrap_or_default();
        if let Some(mechanism) = self.pending_first.take() {
            // The answer to our empty challenge is the client-first-message.
            return self.scram_first(mechanism, Some(msg)).await;
        }
        let Phase::Connected { sasl } = &mut self.phase else {
            return Err(SaslError::MalformedRequest);
        };
        let Some(mut exchange) = sasl.take() else {
            return Err(SaslError::MalformedRequest);
        };
        match exchange.scram.client_final(&msg) {
            Ok(server_final) => {
                let (kind, is_disabled) = exchange.account.ok_or(SaslError::NotAuthorized)?;
                self.succeed(
                    exchange.mechanism,
                    exchange.localpart,
                    kind,
                    is_disabled,
                    Some(server_final),
                )
            }
            Err(e) => {
                self.record_failure(Some(&exchange.localpart));
                Err(e)
            }
        }
    }

    async fn external(&mut self, authzid: Vec<u8>) -> Result<Step, SaslError> {
        let cert = self
            .tls
            .as_ref()
            .and_then(|t| t.peer_certificate.clone())
            .ok_or(SaslError::NotAuthorized)?;
        let identities = crate::sasl::certificate_identities(&cert);
        let authzid = String::from_utf8(authzid).map_err(|_| SaslError::IncorrectEncoding)?;
        let domain = self.c2s.irsp.domain.domain().to_owned();
        // XEP-0178 §3: with one identity in the certificate the authzid may be empty; with
        // several it must name one of them.
        let chosen = identities
            .iter()
            .find(|j| authzid.is_empty() || j.to_string() == authzid);
        let jid = match (chosen, authzid.is_empty() && identities.len() > 1) {
            (Some(j), false) if j.domain() == domain && j.local().is_some() => j.clone(),
            _ => return Err(SaslError::NotAuthorized),
        };
        let localpart = jid.local().unwrap_or_default().to_owned();
        match self.lookup(&localpart).await? {
            Some((_, is_disabled, kind)) => {
                self.succeed(Mechanism::External, localpart, kind, is_disabled, None)
            }
            None => Err(SaslError::NotAuthorized),
        }
    }

    fn succeed(
        &mut self,
        mechanism: Mechanism,
        localpart: String,
        kind: AccountKind,
        is_disabled: bool,
        additional: Option<Vec<u8>>,
    ) -> Result<Step, SaslError> {
        if is_disabled {
            return Err(SaslError::AccountDisabled);
        }
        self.c2s.failed_by_account.clear(&localpart);
        match additional {
            Some(data) => self.write_sasl("success", &data),
            None => self
                .out
                .extend_from_slice(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
        }
        metrics::counter!("hestia_auth_success_total", "mechanism" => mechanism.name())
            .increment(1);
        self.phase = Phase::Authenticated {
            account: Account {
                localpart,
                kind,
                mechanism: mechanism.name(),
            },
        };
        Ok(Step::Restart)
    }

    fn write_sasl(&mut self, name: &str, data: &[u8]) {
        Element::new(name, ns::SASL)
            .with_text(B64.encode(data))
            .write_to(&mut self.out, ns::CLIENT);
    }
}

/// Base64 content of a SASL element: None if absent, empty for "=" (RFC 6120 §6.4.2).
fn decode(el: &Element) -> Result<Option<Vec<u8>>, SaslError> {
    let text = el.text();
    let text = text.trim();
    match text {
        "" => Ok(None),
        "=" => Ok(Some(Vec::new())),
        t => B64
            .decode(t)
            .map(Some)
            .map_err(|_| SaslError::IncorrectEncoding),
    }
}

/// XMPP addresses a certificate vouches for: SAN otherName id-on-xmppAddr (RFC 6120 §13.7.1.4)
/// and, failing that, the subject common name.
pub fn certificate_identities(der: &[u8]) -> Vec<Jid> {
    use x509_parser::prelude::*;
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::OtherName(oid, value) = name
                && oid.to_id_string() == "1.3.6.1.5.5.7.8.5"
                && let Some(j) = xmpp_addr(value)
            {
                out.push(j);
            }
        }
    }
    if out.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Some(j) = cn.as_str().ok().and_then(|s| Jid::parse(s).ok()) {
                out.push(j);
            }
        }
    }
    out
}

/// The UTF8String inside an otherName value ([0] EXPLICIT UTF8String).
fn xmpp_addr(value: &[u8]) -> Option<Jid> {
    use x509_parser::der_parser::ber::parse_ber_any_r;
    let (_, any) = parse_ber_any_r(value, 8).ok()?;
    let inner = any.as_slice().ok()?;
    let s = std::str::from_utf8(strip_utf8string(inner)).ok()?;
    Jid::parse(s).ok()
}

fn strip_utf8string(data: &[u8]) -> &[u8] {
    // A nested UTF8String TLV (tag 0x0c) with a short length, as rcgen and OpenSSL write it.
    match data {
        [0x0c, len, rest @ ..] if (*len as usize) <= rest.len() && *len < 0x80 => {
            &rest[..*len as usize]
        }
        _ => data,
    }
}
