//! End-to-end with tokio-xmpp (crates.io, xmpp-rs project): two of its clients log in over
//! STARTTLS, exchange a message and an IQ, and ping the server.
//!
//! tokio-xmpp 6 builds its rustls `ClientConfig` itself from webpki-roots and/or the system
//! trust store (`connect::tls_common::establish_tls_connection`); it takes no root store. Its
//! public `ServerConnector` trait is the documented way to bring one's own transport, so
//! [`TrustingStartTls`] does STARTTLS exactly as tokio-xmpp's own connector does, but with a
//! root store holding only the test server's private CA. Everything after the TLS handshake
//! (SASL, binding, stanzas) is tokio-xmpp's own code. The channel binding is computed as
//! tokio-xmpp computes it (tls-exporter under TLS 1.3), so it logs in with SCRAM-SHA-256-PLUS.

// Test helpers outside #[test] functions fail loudly too.
#![allow(clippy::expect_used)]

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hestia_testkit::{PASSWORD, TestServer};
use sasl::common::ChannelBinding;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Lang, Message};
use tokio_xmpp::parsers::starttls;
use tokio_xmpp::rustls::pki_types::{CertificateDer, ServerName};
use tokio_xmpp::rustls::{ClientConfig, RootCertStore};
use tokio_xmpp::xmlstream::{
    FallibleStreamElement, PendingFeaturesRecv, ReadError, StreamHeader, Timeouts,
    XmppStreamElement, initiate_stream,
};
use tokio_xmpp::{Client, Error, Event, IqRequest, IqResponse, Stanza};

const WAIT: Duration = Duration::from_secs(20);

/// Prints tokio-xmpp's own warnings and errors (it retries failed connections silently otherwise); the test
/// harness shows it when the test fails. `E2E_DEBUG=1` adds the protocol trace.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn || e2e_debug()
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("log {} {}: {}", r.level(), r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

#[expect(
    clippy::disallowed_methods,
    reason = "test-harness switch, not server configuration"
)]
fn e2e_debug() -> bool {
    std::env::var("E2E_DEBUG").is_ok_and(|v| !v.is_empty())
}

fn init_log() {
    static LOG: StderrLog = StderrLog;
    if log::set_logger(&LOG).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// STARTTLS to a fixed address, trusting one CA.
#[derive(Clone)]
struct TrustingStartTls {
    addr: SocketAddr,
    tls: Arc<ClientConfig>,
}

impl std::fmt::Debug for TrustingStartTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustingStartTls")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TrustingStartTls {
    fn new(t: &TestServer) -> TrustingStartTls {
        let mut roots = RootCertStore::empty();
        let mut pem = t.ca_pem.as_slice();
        for cert in rustls_pemfile_certs(&mut pem) {
            roots.add(cert).expect("CA certificate");
        }
        let tls = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TrustingStartTls {
            addr: t.c2s_addr(),
            tls: Arc::new(tls),
        }
    }
}

/// The DER certificates of a PEM bundle (rustls' own PEM reader).
fn rustls_pemfile_certs(pem: &mut &[u8]) -> Vec<CertificateDer<'static>> {
    use tokio_xmpp::rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM")
}

fn invalid(e: impl std::fmt::Display) -> Error {
    Error::Io(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

impl ServerConnector for TrustingStartTls {
    type Stream = BufStream<tokio_rustls::client::TlsStream<TcpStream>>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), Error> {
        let domain = jid.domain().as_str().to_owned();
        let header = || StreamHeader {
            to: Some(Cow::Owned(domain.clone())),
            from: None,
            id: None,
        };
        let tcp = BufStream::new(TcpStream::connect(self.addr).await?);
        let plain = initiate_stream(tcp, ns, header(), timeouts).await?;
        let (features, mut stream) = plain
            .recv_features::<FallibleStreamElement>()
            .await
            .map_err(invalid)?;
        if !features.can_starttls() {
            return Err(invalid("server does not offer STARTTLS"));
        }
        stream
            .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
                starttls::Request,
            )))
            .await?;
        loop {
            match stream.next().await.map(|v| v.map(|v| v.into_read_error())) {
                Some(Ok(Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_))))) => break,
                Some(Ok(Ok(_))) | Some(Err(ReadError::SoftTimeout)) => {}
                other => return Err(invalid(format!("STARTTLS refused: {other:?}"))),
            }
        }
        let tcp = stream.into_inner().into_inner();
        let name = ServerName::try_from(domain.clone()).map_err(invalid)?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await?;
        let binding = {
            let (_, conn) = tls.get_ref();
            match conn.protocol_version() {
                Some(tokio_xmpp::rustls::ProtocolVersion::TLSv1_3) => ChannelBinding::TlsExporter(
                    conn.export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
                        .map_err(invalid)?,
                ),
                _ => ChannelBinding::None,
            }
        };
        let pending = initiate_stream(BufStream::new(tls), ns, header(), timeouts).await?;
        Ok((pending, binding))
    }
}

/// Logs `name` in and waits until tokio-xmpp reports it online; returns the client and its
/// bound full JID.
async fn online(t: &TestServer, name: &str) -> (Client, Jid) {
    let jid = BareJid::from_str(&format!("{name}@{}", t.domain())).expect("jid");
    let mut client =
        Client::new_with_connector(jid, PASSWORD, TrustingStartTls::new(t), Timeouts::tight());
    loop {
        match tokio::time::timeout(WAIT, client.next()).await {
            Ok(Some(Event::Online { bound_jid, .. })) => return (client, bound_jid),
            Ok(Some(Event::Disconnected(e))) => panic!("{name} could not log in: {e}"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("{name}: client ended before going online"),
            Err(_) => panic!("{name}: not online within {WAIT:?}"),
        }
    }
}

/// The next stanza `client` receives (skipping non-stanza events).
async fn next_stanza(client: &mut Client) -> Stanza {
    loop {
        match tokio::time::timeout(WAIT, client.next()).await {
            Ok(Some(Event::Stanza(s))) => return s,
            Ok(Some(Event::Disconnected(e))) => panic!("disconnected: {e}"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("client ended"),
            Err(_) => panic!("no stanza within {WAIT:?}"),
        }
    }
}

#[tokio::test]
async fn tokio_xmpp_clients_message_iq_and_ping() {
    init_log();
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let (mut alice, alice_jid) = online(&t, "alice").await;
    let (mut bob, bob_jid) = online(&t, "bob").await;
    assert_eq!(
        alice_jid.to_bare().to_string(),
        format!("alice@{}", t.domain())
    );
    // tokio-xmpp binds the channel when it can: the strongest mechanism we offer.
    let session = t
        .server
        .irsp
        .directory
        .all()
        .into_iter()
        .find(|h| h.info.jid.to_string() == alice_jid.to_string())
        .expect("alice's session");
    assert_eq!(session.info.mechanism, "SCRAM-SHA-256-PLUS");

    // Message to Bob's full JID arrives from Alice's full JID.
    let msg = Message::chat(Some(bob_jid.clone()))
        .with_body(Lang(String::new()), "hello from tokio-xmpp".into());
    alice.send_stanza(msg.into()).await.expect("send message");
    match next_stanza(&mut bob).await {
        Stanza::Message(m) => {
            assert_eq!(m.from.as_ref(), Some(&alice_jid));
            assert_eq!(
                m.get_best_body(vec![]).map(|(_, b)| b.as_str()),
                Some("hello from tokio-xmpp")
            );
        }
        other => panic!("bob expected a message, got {other:?}"),
    }

    // IQ round trip: Alice asks Bob (custom namespace), Bob answers with a payload.
    let query: Element = "<query xmlns='urn:example:hestia:e2e'>ping?</query>"
        .parse()
        .expect("payload");
    let token = alice
        .send_iq(Some(bob_jid.clone()), IqRequest::Get(query))
        .await;
    let request = next_stanza(&mut bob).await;
    let Stanza::Iq(Iq::Get {
        from: Some(from),
        id,
        payload,
        ..
    }) = request
    else {
        panic!("bob expected an IQ get, got {request:?}");
    };
    assert_eq!(from, alice_jid);
    assert_eq!(payload.text(), "ping?");
    let answer: Element = "<query xmlns='urn:example:hestia:e2e'>pong</query>"
        .parse()
        .expect("payload");
    let reply = Iq::Result {
        from: None,
        to: Some(from),
        id,
        payload: Some(answer),
    };
    bob.send_stanza(reply.into()).await.expect("send reply");
    match tokio::time::timeout(WAIT, token).await {
        Ok(Ok(IqResponse::Result(Some(p)))) => assert_eq!(p.text(), "pong"),
        other => panic!("alice expected Bob's result, got {other:?}"),
    }

    // XEP-0199 ping to the server.
    let ping = Element::from(tokio_xmpp::parsers::ping::Ping);
    let server = Jid::from_str(&t.domain()).expect("domain jid");
    let token = alice.send_iq(Some(server), IqRequest::Get(ping)).await;
    match tokio::time::timeout(WAIT, token).await {
        Ok(Ok(IqResponse::Result(_))) => {}
        other => panic!("server ping failed: {other:?}"),
    }

    alice.send_end().await.expect("alice end");
    bob.send_end().await.expect("bob end");
    t.stop().await;
}
