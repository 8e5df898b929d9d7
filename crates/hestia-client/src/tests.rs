//! The client against a scripted in-process server: each test plays one conversation over loopback TCP and
//! checks both what the client sent and what it made of the answers.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hestia_proto::igrs::RegistrationStatus;
use hestia_proto::{StanzaErrorCondition, StreamError, ns};
use hestia_sasl::{ChannelBinding, HashAlg, Mechanism, ScramKeys, ScramServer};
use hestia_xml::{Element, Limits, StreamEvent, StreamParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{ClientError, ConnectOptions, Connected, Transport, load_pem_certs};

const DOMAIN: &str = "example.org";
const SERVER_HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' from='example.org' id='s1' version='1.0'>";

/// The server end of one scripted conversation.
struct Peer<S> {
    io: S,
    parser: StreamParser,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    fn new(io: S) -> Peer<S> {
        Peer {
            io,
            parser: StreamParser::new(Limits::default()),
        }
    }

    async fn event(&mut self) -> StreamEvent {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(ev) = self.parser.next().expect("client sent well-formed XML") {
                return ev;
            }
            let n = self.io.read(&mut buf).await.expect("read");
            assert!(n > 0, "client hung up");
            self.parser.feed(&buf[..n]);
        }
    }

    /// Expects a stream header, then answers with ours and these features.
    async fn open(&mut self, features: &str) {
        self.parser.reset();
        let StreamEvent::Open(header) = self.event().await else {
            panic!("expected stream header")
        };
        assert_eq!(header.attr("to"), Some(DOMAIN));
        assert_eq!(header.attr("version"), Some("1.0"));
        self.write(&format!(
            "{SERVER_HEADER}<stream:features>{features}</stream:features>"
        ))
        .await;
    }

    async fn element(&mut self) -> Element {
        match self.event().await {
            StreamEvent::Stanza(el) => el,
            other => panic!("expected an element, got {other:?}"),
        }
    }

    async fn write(&mut self, xml: &str) {
        self.io.write_all(xml.as_bytes()).await.expect("write");
    }

    /// SCRAM as the server, with the password "secret".
    async fn scram(
        &mut self,
        mechanism: Mechanism,
        binding: Option<ChannelBinding>,
        offers_plus: bool,
    ) {
        let auth = self.element().await;
        assert_eq!(auth.attr("mechanism"), Some(mechanism.name()));
        let mut server = ScramServer::new(mechanism, binding, offers_plus).expect("server");
        let first = server
            .client_first(&B64.decode(auth.text()).expect("b64"))
            .expect("client-first");
        assert_eq!(first.username, "lamp");
        let alg = mechanism.hash().unwrap_or(HashAlg::Sha256);
        let keys = ScramKeys::generate(alg, "secret", 4096).expect("keys");
        let challenge = B64.encode(server.server_first(Some(&keys), 4096));
        self.write(&format!(
            "<challenge xmlns='{}'>{challenge}</challenge>",
            ns::SASL
        ))
        .await;
        let response = self.element().await;
        let server_final = server
            .client_final(&B64.decode(response.text()).expect("b64"))
            .expect("proof ok");
        self.write(&format!(
            "<success xmlns='{}'>{}</success>",
            ns::SASL,
            B64.encode(server_final)
        ))
        .await;
    }

    /// Answers a bind request with `lamp@example.org/<resource or generated>`.
    async fn bind(&mut self) {
        let iq = self.element().await;
        let bind = iq.get_child("bind", ns::BIND).expect("bind payload");
        let resource = bind
            .get_child("resource", ns::BIND)
            .map_or("gen1".to_owned(), |r| r.text());
        let id = iq.attr("id").expect("id");
        self.write(&format!(
            "<iq type='result' id='{id}'><bind xmlns='{}'><jid>lamp@{DOMAIN}/{resource}</jid></bind></iq>",
            ns::BIND
        ))
        .await;
    }
}

fn mechanisms(names: &[&str]) -> String {
    let list: String = names
        .iter()
        .map(|m| format!("<mechanism>{m}</mechanism>"))
        .collect();
    format!("<mechanisms xmlns='{}'>{list}</mechanisms>", ns::SASL)
}

fn bind_feature() -> String {
    format!("<bind xmlns='{}'/>", ns::BIND)
}

async fn listen() -> (TcpListener, ConnectOptions) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let opts = ConnectOptions::new(addr, DOMAIN).with_timeout(Duration::from_secs(5));
    (listener, opts)
}

async fn accept(listener: &TcpListener) -> Peer<TcpStream> {
    Peer::new(listener.accept().await.expect("accept").0)
}

#[tokio::test]
async fn plain_scram_register_bind_iq_and_close() {
    let (listener, opts) = listen().await;
    let opts = opts.with_transport(Transport::Plain);
    let server = async {
        let mut peer = accept(&listener).await;
        peer.open(&mechanisms(&["PLAIN", "SCRAM-SHA-256"])).await;
        let iq = peer.element().await;
        let query = iq.get_child("query", ns::REGISTER).expect("register query");
        assert_eq!(
            query.get_child("username", ns::REGISTER).map(|u| u.text()),
            Some("lamp".into())
        );
        assert!(
            query.get_child("serial", "urn:test").is_some(),
            "extra fields inside <query/>"
        );
        let err = hestia_proto::StanzaError::new(StanzaErrorCondition::Conflict)
            .with_app(RegistrationStatus::IdExists.to_element());
        let reply = hestia_proto::stanza::error_reply(&iq, &err);
        peer.write(&reply.to_xml(ns::CLIENT)).await;
        peer.scram(Mechanism::ScramSha256, None, false).await;
        peer.open(&bind_feature()).await;
        peer.bind().await;
        let ping = peer.element().await;
        assert!(ping.get_child("ping", ns::PING).is_some());
        let id = ping.attr("id").expect("id");
        // A message arrives before the answer: it must be queued, not lost.
        peer.write(&format!(
            "<message from='a@{DOMAIN}'><body>hi</body></message> <iq type='result' id='{id}'/>"
        ))
        .await;
        assert!(matches!(peer.event().await, StreamEvent::Close));
        peer.write("</stream:stream>").await;
    };
    let client = async {
        let mut c = Connected::connect(&opts).await.expect("connect");
        assert!(!c.is_tls());
        assert_eq!(c.mechanisms(), ["PLAIN", "SCRAM-SHA-256"]);
        let serial = Element::new("serial", "urn:test").with_text("42");
        let err = c
            .register("lamp", "secret", vec![serial])
            .await
            .expect_err("conflict");
        assert_eq!(err.stanza_condition(), Some(StanzaErrorCondition::Conflict));
        let app = err
            .stanza_error()
            .and_then(|e| e.app.clone())
            .expect("IGRS status");
        assert!(app.is("status", hestia_proto::igrs::NS_REGISTER));
        let auth = c.authenticate("lamp", "secret").await.expect("auth");
        assert_eq!(auth.mechanism(), Mechanism::ScramSha256);
        let mut s = auth.bind(Some("r1")).await.expect("bind");
        assert_eq!(s.jid().to_string(), "lamp@example.org/r1");
        s.ping().await.expect("ping");
        let msg = s.recv().await.expect("queued message");
        assert_eq!(msg.name(), "message");
        assert!(
            s.recv_timeout(Duration::from_millis(50))
                .await
                .expect("ok")
                .is_none()
        );
        s.close().await.expect("close");
    };
    tokio::join!(server, client);
}

#[tokio::test]
async fn starttls_scram_plus_and_split() {
    let cert = rcgen::generate_simple_self_signed(vec![DOMAIN.to_owned()]).expect("cert");
    let cert_pem = cert.cert.pem();
    let (listener, opts) = listen().await;
    let opts = opts.with_ca_pem(cert_pem.clone());
    let server = async {
        let mut peer = accept(&listener).await;
        peer.open(&format!(
            "<starttls xmlns='{}'><required/></starttls>",
            ns::TLS
        ))
        .await;
        assert!(peer.element().await.is("starttls", ns::TLS));
        peer.write(&format!("<proceed xmlns='{}'/>", ns::TLS)).await;
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(load_pem_certs(cert_pem.as_bytes()).expect("pem"), key)
        .expect("server config");
        let tls = tokio_rustls::TlsAcceptor::from(Arc::new(config))
            .accept(peer.io)
            .await
            .expect("handshake");
        let exporter = tls
            .get_ref()
            .1
            .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
            .expect("exporter");
        let mut peer = Peer::new(tls);
        peer.open(&mechanisms(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]))
            .await;
        let binding = ChannelBinding {
            kind: "tls-exporter".into(),
            data: exporter,
        };
        peer.scram(Mechanism::ScramSha256Plus, Some(binding), true)
            .await;
        peer.open(&bind_feature()).await;
        peer.bind().await;
        let msg = peer.element().await;
        assert_eq!(msg.attr("to"), Some("b@example.org"));
        peer.write("<message from='b@example.org'><body>pong</body></message>")
            .await;
        peer.write(&format!(
            "<stream:error><conflict xmlns='{}'/></stream:error>",
            ns::STREAM_ERRORS
        ))
        .await;
    };
    let client = async {
        let c = Connected::connect(&opts).await.expect("connect");
        assert!(c.is_tls());
        let auth = c.authenticate("lamp", "secret").await.expect("auth");
        assert_eq!(auth.mechanism(), Mechanism::ScramSha256Plus);
        let (mut tx, mut rx) = auth.bind(None).await.expect("bind").into_split();
        tx.send(&Element::new("message", ns::CLIENT).with_attr("to", "b@example.org"))
            .await
            .expect("send");
        assert_eq!(rx.recv().await.expect("message").name(), "message");
        let err = rx.recv().await.expect_err("stream error");
        assert_eq!(err.stream_error(), Some(StreamError::Conflict));
    };
    tokio::join!(server, client);
}

#[tokio::test]
async fn sasl_failure_and_missing_starttls_are_reported() {
    let (listener, opts) = listen().await;
    let server = async {
        let mut peer = accept(&listener).await;
        peer.open(&mechanisms(&["PLAIN"])).await;
        let mut peer = accept(&listener).await;
        peer.open(&mechanisms(&["PLAIN"])).await;
        assert_eq!(peer.element().await.attr("mechanism"), Some("PLAIN"));
        peer.write(&format!(
            "<failure xmlns='{}'><not-authorized/><text>no</text></failure>",
            ns::SASL
        ))
        .await;
    };
    let client = async {
        let err = Connected::connect(&opts).await.err().expect("no STARTTLS");
        assert!(
            matches!(&err, ClientError::Tls(m) if m.contains("STARTTLS")),
            "{err}"
        );
        let plain = opts.clone().with_transport(Transport::Plain);
        let c = Connected::connect(&plain).await.expect("connect");
        let err = c
            .authenticate("lamp", "wrong")
            .await
            .err()
            .expect("failure");
        assert_eq!(err.sasl_condition(), Some("not-authorized"));
    };
    tokio::join!(server, client);
}
