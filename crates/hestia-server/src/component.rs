//! The XEP-0114 external component port of the application-server interface
//! (ISO/IEC 14543-5-9 §7.3, §8.3): an application server connects over TCP as
//! `<name>.<domain>` with `jabber:component:accept`, proves the shared secret with
//! `<handshake>hex(SHA-1(stream id + secret))</handshake>` (XEP-0114 §3), and then sends
//! stanzas *as* the accounts that granted it ([`AppServer::grant`]) — see [`connected`].
//!
//! Refusals: a name without a configured secret gets `host-unknown`, a wrong digest
//! `not-authorized`, no handshake within `component.auth_timeout` `connection-timeout`. A second
//! connection for a name already connected is refused with `conflict` and the established one
//! keeps working, as Prosody does by default (`component_conflict_resolve = "kick_new"`): a
//! replaced component would lose the answers it is waiting for.

mod connected;
mod handshake;
mod push;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hestia_config::Secret;
use hestia_proto::{Jid, StreamError, ns};
use hestia_router::Irsp;
use hestia_router::appserver::AppServer;
use hestia_session::stream::{Framing, write_close, write_error};
use hestia_xml::{Limits, StreamEvent, StreamParser, XmlError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use handshake::digest;

/// The clauses the component port implements (feeds `docs/conformance.md`).
pub fn clauses() -> Vec<hestia_router::Clause> {
    use hestia_router::Clause;
    vec![
        Clause::new(
            "XEP-0114",
            "§3",
            "Component handshake: hex(SHA-1(stream id + secret)), constant-time check; host-unknown, not-authorized",
        ),
        Clause::new(
            "ISO/IEC 14543-5-9",
            "§7.3",
            "Application server acting for granting accounts over the component port, with their rights",
        ),
    ]
}

/// Everything the component port needs besides the IRSP.
#[derive(Debug, Clone)]
pub struct ComponentOptions {
    /// Handshake secret by application-server name.
    pub secrets: BTreeMap<String, Secret>,
    /// Until the handshake succeeds.
    pub auth_timeout: Duration,
    /// XML limits before the handshake (as c2s before authentication).
    pub pre_auth_limits: Limits,
    /// XML limits after it (as c2s after authentication).
    pub limits: Limits,
}

/// The component port: accepts connections and runs each on the server's tracker.
#[derive(Debug)]
pub struct ComponentPort {
    irsp: Arc<Irsp>,
    options: ComponentOptions,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// How a connection ends: the stream error to send, or none (the peer closed or vanished).
pub(crate) type Exit = Option<(StreamError, &'static str)>;

/// Bounds writing the final stream error to a peer that does not read.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

impl ComponentPort {
    pub fn new(
        irsp: Arc<Irsp>,
        options: ComponentOptions,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Arc<ComponentPort> {
        Arc::new(ComponentPort {
            irsp,
            options,
            shutdown,
            tracker,
        })
    }

    /// Binds `addr` (empty = off) and accepts on the tracker until shutdown.
    pub async fn listen(self: &Arc<Self>, addr: &str) -> Result<Option<SocketAddr>> {
        if addr.is_empty() {
            return Ok(None);
        }
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the component port on {addr}"))?;
        let local = listener.local_addr()?;
        let port = self.clone();
        crate::listener::accept_until_shutdown(
            "component",
            listener,
            self.shutdown.clone(),
            &self.tracker,
            move |tcp, peer| port.spawn_connection(tcp, peer),
        );
        Ok(Some(local))
    }

    /// Serves one accepted connection on the tracker, in a span the handshake names.
    fn spawn_connection(self: &Arc<Self>, tcp: TcpStream, peer: SocketAddr) {
        let span = tracing::info_span!("component", %peer, name = tracing::field::Empty);
        let port = self.clone();
        self.tracker
            .spawn(async move { port.serve(tcp).await }.instrument(span));
    }

    /// One connection: header and handshake under the auth timeout, then the connected
    /// component until it closes, errs or the server shuts down.
    async fn serve(self: Arc<Self>, mut tcp: TcpStream) {
        let mut parser = StreamParser::new(self.options.pre_auth_limits);
        let opened = tokio::select! {
            _ = self.shutdown.cancelled() => {
                Err(Some((StreamError::SystemShutdown, "the server is shutting down")))
            }
            r = tokio::time::timeout(self.options.auth_timeout, self.handshake(&mut tcp, &mut parser)) => {
                r.unwrap_or(Err(Some((StreamError::ConnectionTimeout, "no handshake in time"))))
            }
        };
        let exit = match opened {
            Ok(name) => {
                tracing::Span::current().record("name", name.as_str());
                parser.set_limits(self.options.limits);
                match AppServer::new(self.irsp.clone(), &name) {
                    Ok(app) => {
                        let stop = self.shutdown.child_token();
                        connected::run(app, &mut tcp, &mut parser, stop, &self.tracker).await
                    }
                    Err(_) => Some((StreamError::HostUnknown, "no such component")),
                }
            }
            Err(exit) => exit,
        };
        let mut out = Vec::new();
        match exit {
            Some((error, text)) => {
                tracing::info!(
                    condition = error.condition(),
                    text,
                    "component stream closed"
                );
                write_error(&mut out, Framing::Stream, error, Some(text));
            }
            None => write_close(&mut out, Framing::Stream),
        }
        let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, async {
            let _ = tcp.write_all(&out).await;
            let _ = tcp.shutdown().await;
        })
        .await;
    }

    /// Reads the stream header, answers it, checks the handshake; returns the name.
    async fn handshake(
        &self,
        tcp: &mut TcpStream,
        parser: &mut StreamParser,
    ) -> Result<String, Exit> {
        let mut expected: Option<(String, String, &Secret)> = None;
        let mut buf = vec![0u8; 4096];
        loop {
            let event = match parser.next() {
                Ok(Some(event)) => event,
                Ok(None) => {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return Err(None),
                        Ok(n) => parser.feed(buf.get(..n).unwrap_or_default()),
                    }
                    continue;
                }
                Err(e) => return Err(Some(xml_exit(&e))),
            };
            match event {
                StreamEvent::Open(header) => {
                    let to = header.attr("to").unwrap_or_default().to_ascii_lowercase();
                    let id = hestia_proto::stanza::new_id();
                    let reply = self.header_reply(&to, &id);
                    if tcp.write_all(reply.as_bytes()).await.is_err() {
                        return Err(None);
                    }
                    if !header.is_stream_ns_ok || header.default_ns != ns::COMPONENT {
                        return Err(Some((
                            StreamError::InvalidNamespace,
                            "expected jabber:component:accept",
                        )));
                    }
                    let name = self.name_of(&to);
                    let Some(secret) = name.and_then(|n| self.options.secrets.get(n)) else {
                        tracing::info!(to, "component for an unknown name");
                        return Err(Some((StreamError::HostUnknown, "no such component")));
                    };
                    expected = name.map(|n| (n.to_owned(), id, secret));
                }
                StreamEvent::Stanza(el) if el.is("handshake", ns::COMPONENT) => {
                    let Some((name, id, secret)) = &expected else {
                        return Err(Some((StreamError::NotAuthorized, "handshake first")));
                    };
                    if !handshake::verify(id, secret.expose(), &el.text()) {
                        tracing::info!(name, "component handshake failed");
                        return Err(Some((StreamError::NotAuthorized, "wrong handshake")));
                    }
                    if tcp.write_all(b"<handshake/>").await.is_err() {
                        return Err(None);
                    }
                    return Ok(name.clone());
                }
                StreamEvent::Whitespace => {}
                StreamEvent::Close => return Err(None),
                StreamEvent::Stanza(_) => {
                    return Err(Some((StreamError::NotAuthorized, "handshake first")));
                }
            }
        }
    }

    /// Our stream header, sent before any check (RFC 6120 §4.9.1.2) with a fresh id.
    fn header_reply(&self, to: &str, id: &str) -> String {
        let from = Jid::domain_jid(to)
            .map(|j| j.to_string())
            .unwrap_or_else(|_| self.irsp.domain.to_string());
        format!(
            "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}' id='{id}' from='{from}'>",
            ns::COMPONENT,
            ns::STREAM,
        )
    }

    /// The application-server name in a component address `<name>.<domain>`.
    fn name_of<'a>(&self, to: &'a str) -> Option<&'a str> {
        let suffix = format!(".{}", self.irsp.domain.domain());
        to.strip_suffix(&suffix)
            .filter(|n| hestia_router::appserver::is_valid_name(n))
    }
}

/// The stream error RFC 6120 names for what the XML codec refused (as c2s maps it).
pub(crate) fn xml_exit(e: &XmlError) -> (StreamError, &'static str) {
    match e {
        XmlError::NotWellFormed(_) => (StreamError::NotWellFormed, "not well-formed"),
        XmlError::RestrictedXml(what) => (StreamError::RestrictedXml, what),
        XmlError::PolicyViolation(what) => (StreamError::PolicyViolation, what),
        XmlError::InvalidNamespace => (StreamError::InvalidNamespace, "invalid namespace"),
        XmlError::UnsupportedEncoding => (StreamError::UnsupportedEncoding, "not UTF-8"),
    }
}
