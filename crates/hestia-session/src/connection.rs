//! One client connection: the read/write loop and the phase machine
//! `Connected → Authenticated → Bound` (TLS is a property of the pipe, tracked beside it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hestia_proto::stanza::new_id;
use hestia_proto::{StanzaKind, StreamError, ns};
use hestia_router::journal::JournalId;
use hestia_router::{Outbound, SessionHandle};
use hestia_store::AccountKind;
use hestia_xml::{Element, StreamEvent, StreamParser, XmlError};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::C2s;
use crate::io::{Io, Shaper};
use crate::sasl::SaslExchange;
use crate::sm::StreamManagement;
use crate::sm::resume::{Takeover, recv_takeover};
use crate::stream::{self, Framing};
use crate::websocket::WebSocketIo;

/// What an authenticated entity is.
#[derive(Debug, Clone)]
pub struct Account {
    pub localpart: String,
    pub kind: AccountKind,
    pub mechanism: &'static str,
}

/// The login phase; each variant holds only what is valid in it.
#[derive(Debug)]
pub enum Phase {
    /// Before SASL success, possibly mid-exchange.
    Connected { sasl: Option<SaslExchange> },
    /// SASL done, connection ID not yet bound.
    Authenticated { account: Account },
    /// Bound: routable under `handle.info.jid`.
    Bound {
        account: Account,
        handle: SessionHandle,
    },
}

/// Why a connection ends.
#[derive(Debug)]
pub enum Exit {
    Stream(StreamError, Option<String>),
    /// A stream error with an application-specific condition child (XEP-0198's
    /// `<handled-count-too-high/>`).
    StreamDetail(StreamError, Box<Element>),
    /// Silent past the keep-alive ping: a lost connection, closed with `connection-timeout`.
    KeepAliveTimeout,
    /// Another stream asks to resume this session (XEP-0198 §5) …
    Takeover(Takeover),
    /// … and now holds it: this task ends without logging the session out.
    ResumedElsewhere,
    ClientClosed,
    Eof,
    Io(std::io::Error),
    Shutdown,
}

impl Exit {
    pub fn stream(e: StreamError, text: &str) -> Exit {
        Exit::Stream(e, Some(text.to_owned()))
    }
}

/// What a handler asks of the loop beyond writing output.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Continue,
    /// Upgrade the pipe to TLS, then expect a new stream header.
    StartTls,
    /// SASL succeeded: expect a new stream header under post-auth limits.
    Restart,
}

/// TLS facts fixed at handshake time.
#[derive(Debug, Default, Clone)]
pub struct TlsFacts {
    pub binding: Option<Vec<u8>>,
    pub peer_certificate: Option<Vec<u8>>,
}

pub struct Connection {
    pub(crate) c2s: Arc<C2s>,
    pub(crate) peer: SocketAddr,
    pub(crate) parser: StreamParser,
    pub(crate) out: Vec<u8>,
    pub(crate) phase: Phase,
    /// Set once the pipe is encrypted: by TLS, or empty for a WebSocket counted as secure
    /// (its TLS, if any, ends at a proxy: no channel binding, no client certificate).
    pub(crate) tls: Option<TlsFacts>,
    pub(crate) is_header_sent: bool,
    /// RFC 6120 stream or RFC 7395 WebSocket messages: how headers and closes are written.
    pub(crate) framing: Framing,
    pre_auth_stanzas: u32,
    pub(crate) auth_attempts: u32,
    /// Mechanism chosen without an initial response; the next `<response/>` starts it.
    pub(crate) pending_first: Option<hestia_sasl::Mechanism>,
    pub(crate) outbound: Option<mpsc::Receiver<Outbound>>,
    /// XEP-0198 state once the client enabled stream management (boxed: most streams never do).
    pub(crate) sm: Option<Box<StreamManagement>>,
    /// Journaled stanzas written to `out` for a client without stream management: delivered
    /// once flushed to the socket (`offline.durable_delivery`).
    pub(crate) unflushed: Vec<JournalId>,
}

/// Refuses a connection over the per-address limit with a stream error.
pub async fn refuse(mut io: impl AsyncWrite + Unpin, framing: Framing, domain: &str) {
    let mut out = Vec::new();
    stream::write_header(&mut out, framing, domain, &new_id(), None);
    stream::write_error(
        &mut out,
        framing,
        StreamError::PolicyViolation,
        Some("too many connections from your address"),
    );
    let write = async {
        io.write_all(&out).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
}

/// Runs a connection to its end.
/// `address_slot` (what counts the connection against its source address) is released when
/// the TCP connection ends, before any XEP-0198 hibernation: a hibernating session holds no
/// connection.
pub async fn run<S: Send>(
    c2s: Arc<C2s>,
    tcp: TcpStream,
    peer: SocketAddr,
    is_direct_tls: bool,
    address_slot: S,
) {
    let _ = tcp.set_nodelay(true);
    let mut conn = Connection::new(c2s, peer, Framing::Stream);
    let mut io = Io::Plain(tcp);
    if is_direct_tls {
        io = match Box::pin(conn.upgrade(io)).await {
            Some(io) => io,
            None => return conn.finish_gauges(),
        };
    }
    Box::pin(conn.run_to_end(io, address_slot)).await;
}

/// Runs a connection over WebSocket (RFC 7395) to its end. `is_secure`: the WebSocket is
/// protected as TLS would protect it (behind a TLS-terminating proxy on loopback), so the
/// login may proceed as on an encrypted stream — without channel binding or certificates.
pub async fn run_websocket<S: Send>(
    c2s: Arc<C2s>,
    ws: WebSocketIo,
    peer: SocketAddr,
    is_secure: bool,
    address_slot: S,
) {
    let mut conn = Connection::new(c2s, peer, Framing::WebSocket);
    if is_secure {
        conn.tls = Some(TlsFacts::default());
    }
    Box::pin(conn.run_to_end(Io::WebSocket(Box::new(ws)), address_slot)).await;
}

impl Connection {
    fn new(c2s: Arc<C2s>, peer: SocketAddr, framing: Framing) -> Connection {
        let transport = framing.transport();
        metrics::counter!("hestia_c2s_connections_total", "transport" => transport).increment(1);
        metrics::gauge!("hestia_c2s_connections", "transport" => transport).increment(1.0);
        Connection {
            parser: StreamParser::new(c2s.options.pre_auth_limits),
            c2s,
            peer,
            out: Vec::new(),
            phase: Phase::Connected { sasl: None },
            tls: None,
            is_header_sent: false,
            framing,
            pre_auth_stanzas: 0,
            auth_attempts: 0,
            pending_first: None,
            outbound: None,
            sm: None,
            unflushed: Vec::new(),
        }
    }

    /// Serves the stream, then logs the session out or lets it hibernate (XEP-0198).
    async fn run_to_end<S: Send>(mut self, io: Io, address_slot: S) {
        let conn = &mut self;
        let exit = conn.serve(io).await;
        tracing::debug!(?exit, "connection ended");
        conn.finish_gauges();
        drop(address_slot);
        // A resumable session outlives its connection (XEP-0198 §5): it is logged out only if no
        // stream resumes it in time.
        let is_resumed = match exit {
            Exit::ResumedElsewhere => true,
            exit if conn.may_hibernate(&exit) => Box::pin(conn.hibernate()).await,
            _ => false,
        };
        if !is_resumed {
            Box::pin(conn.cleanup()).await;
        }
    }

    fn finish_gauges(&self) {
        metrics::gauge!("hestia_c2s_connections", "transport" => self.framing.transport())
            .decrement(1.0);
    }

    /// Serves the stream, swapping the pipe on STARTTLS; returns why it ended.
    async fn serve(&mut self, mut io: Io) -> Exit {
        let deadline = Instant::now() + self.c2s.options.auth_timeout;
        loop {
            match self.drive(&mut io, deadline).await {
                Ok(Step::StartTls) => match Box::pin(self.upgrade(io)).await {
                    Some(tls) => io = tls,
                    None => return Exit::Eof,
                },
                Ok(Step::Restart) => {
                    // RFC 6120 §6.4.6: after SASL success both sides start a fresh stream.
                    self.parser.reset();
                    self.parser.set_limits(self.c2s.options.post_auth_limits);
                    self.is_header_sent = false;
                }
                Ok(Step::Continue) => {}
                Err(Exit::Takeover(takeover)) => {
                    // Handed over before the close, which may take long on a half-dead
                    // connection; if the resuming stream gave up, this one is simply lost.
                    let exit = if self.hand_over(takeover) {
                        Exit::ResumedElsewhere
                    } else {
                        Exit::Eof
                    };
                    Box::pin(self.close(&mut io, &exit)).await;
                    return exit;
                }
                Err(exit) => {
                    Box::pin(self.close(&mut io, &exit)).await;
                    return exit;
                }
            }
        }
    }

    /// TLS handshake (bounded in time); None if it failed.
    async fn upgrade(&mut self, io: Io) -> Option<Io> {
        let Io::Plain(tcp) = io else {
            return None;
        };
        let config = self.c2s.options.tls.clone()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let handshake = tokio::time::timeout(Duration::from_secs(15), acceptor.accept(tcp)).await;
        let tls = match handshake {
            Ok(Ok(tls)) => Io::Tls(Box::new(tls)),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                metrics::counter!("hestia_tls_handshake_failures_total").increment(1);
                return None;
            }
            Err(_) => return None,
        };
        self.tls = Some(TlsFacts {
            binding: tls.channel_binding(),
            peer_certificate: tls.peer_certificate(),
        });
        self.parser.reset();
        self.is_header_sent = false;
        Some(tls)
    }

    /// Reads, parses and dispatches until a step needs the loop or the stream ends.
    async fn drive(&mut self, io: &mut Io, deadline: Instant) -> Result<Step, Exit> {
        let mut shaper = Shaper::new(
            self.c2s.options.max_bytes_per_second,
            self.c2s.options.burst_bytes,
        );
        let shutdown = self.c2s.shutdown.clone();
        let mut keepalive = KeepAlive::new(&self.c2s.options);
        let mut is_message_end = false;
        loop {
            loop {
                let event = self.parser.next().map_err(xml_exit)?;
                let Some(event) = event else { break };
                // Boxed: the handlers' futures (SASL, store lookups, routing) would otherwise be part
                // of every connection's task state, idle or not.
                let step = Box::pin(self.on_event(event)).await?;
                if step != Step::Continue {
                    self.flush(io).await?;
                    return Ok(step);
                }
            }
            if std::mem::take(&mut is_message_end) && !self.parser.is_at_boundary() {
                return Err(Exit::stream(
                    StreamError::NotWellFormed,
                    "a WebSocket message must hold complete elements",
                ));
            }
            self.request_ack_if_due();
            self.flush(io).await?;
            let is_bound = self.outbound.is_some();
            let watch = is_bound && keepalive.is_on();
            // One timer for the keep-alive and a delayed XEP-0198 ack request: each timer in
            // this select is paid in every connection's task state.
            let ack_at = self.sm.as_ref().and_then(|sm| sm.request_at());
            let wake = earliest(watch.then(|| keepalive.deadline()), ack_at);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Err(Exit::Shutdown),
                takeover = recv_takeover(&mut self.sm) => return Err(Exit::Takeover(takeover)),
                msg = recv_outbound(&mut self.outbound) => self.on_outbound(msg)?,
                _ = tokio::time::sleep_until(deadline.into()), if !is_bound => {
                    return Err(Exit::stream(StreamError::ConnectionTimeout, "login not completed in time"));
                }
                _ = tokio::time::sleep_until(wake.unwrap_or(deadline).into()), if wake.is_some() => {
                    if watch && keepalive.deadline() <= Instant::now() {
                        if keepalive.is_pinged() {
                            return Err(Exit::KeepAliveTimeout);
                        }
                        keepalive.ping(Instant::now());
                        self.write_keepalive_ping()?;
                    }
                }
                read = read_into(io, &mut self.parser) => {
                    let n = read.map_err(Exit::Io)?;
                    if n == 0 {
                        return Err(Exit::Eof);
                    }
                    keepalive.heard(Instant::now());
                    is_message_end = io.is_message_end();
                    if let Some(pause) = shaper.take(n, Instant::now()) {
                        metrics::counter!("hestia_c2s_throttled_total").increment(1);
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }
    }

    /// A XEP-0199 ping to the bound connection: any answer (a result, or an error from a
    /// client without ping support) proves the peer is still there.
    fn write_keepalive_ping(&mut self) -> Result<(), Exit> {
        let Phase::Bound { handle, .. } = &self.phase else {
            return Ok(());
        };
        let ping = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("id", format!("keepalive-{}", new_id()))
            .with_attr("from", self.c2s.irsp.domain.to_string())
            .with_attr("to", handle.info.jid.to_string())
            .with_child(Element::new("ping", ns::PING));
        metrics::counter!("hestia_c2s_keepalive_pings_total").increment(1);
        self.emit(ping)
    }

    /// Writes a stanza for the client; under stream management it is kept until acknowledged.
    pub(crate) fn emit(&mut self, stanza: Element) -> Result<(), Exit> {
        stanza.write_to(&mut self.out, ns::CLIENT);
        if self.sm.is_some() {
            self.keep_unacked(Box::new(stanza), None)?;
        }
        Ok(())
    }

    /// Writes queued stanzas (batching whatever else is already queued) or closes.
    pub(crate) fn on_outbound(&mut self, msg: Option<Outbound>) -> Result<(), Exit> {
        // At most this many per wake-up, so one busy queue cannot starve the reads; what is
        // left stays in the queue for the next turn of the loop (never taken and dropped).
        const BATCH: usize = 64;
        let mut next = msg;
        for taken in 1..=BATCH {
            match next {
                Some(Outbound::Stanza(el)) => self.write_outbound(el, None)?,
                Some(Outbound::Journaled(el, id)) => self.write_outbound(el, Some(id))?,
                Some(Outbound::Close(e, text)) => return Err(Exit::Stream(e, text)),
                None => return Ok(()),
            }
            if taken == BATCH {
                break;
            }
            next = self.outbound.as_mut().and_then(|rx| rx.try_recv().ok());
        }
        Ok(())
    }

    fn write_outbound(&mut self, el: Box<Element>, journal: Option<JournalId>) -> Result<(), Exit> {
        el.write_to(&mut self.out, ns::CLIENT);
        let kind = StanzaKind::of(&el).map_or("other", StanzaKind::as_str);
        metrics::counter!("hestia_stanzas_out_total", "kind" => kind).increment(1);
        self.keep_unacked(el, journal)
    }

    async fn flush(&mut self, io: &mut Io) -> Result<(), Exit> {
        if self.out.is_empty() {
            return Ok(());
        }
        io.write_all(&self.out).await.map_err(Exit::Io)?;
        io.flush().await.map_err(Exit::Io)?;
        self.out.clear();
        if !self.unflushed.is_empty() {
            let written = std::mem::take(&mut self.unflushed);
            self.release_journaled(written).await;
        }
        if self.out.capacity() > 16 * 1024 {
            // A large stanza went out; don't keep its buffer for an idle connection.
            self.out = Vec::new();
        }
        Ok(())
    }

    async fn on_event(&mut self, event: StreamEvent) -> Result<Step, Exit> {
        match event {
            StreamEvent::Open(header) => self.on_header(&header),
            StreamEvent::Whitespace => Ok(Step::Continue),
            StreamEvent::Close => Err(Exit::ClientClosed),
            StreamEvent::Stanza(el) => self.on_element(el).await,
        }
    }

    fn on_header(&mut self, header: &hestia_xml::StreamHeader) -> Result<Step, Exit> {
        let domain = self.c2s.irsp.domain.to_string();
        let from = match &self.phase {
            Phase::Authenticated { account } | Phase::Bound { account, .. } => {
                Some(format!("{}@{}", account.localpart, domain))
            }
            Phase::Connected { .. } => None,
        };
        stream::write_header(
            &mut self.out,
            self.framing,
            &domain,
            &new_id(),
            from.as_deref(),
        );
        self.is_header_sent = true;
        stream::check_header(header, &domain).map_err(|e| Exit::Stream(e, None))?;
        let features = self.features();
        stream::write_features(&mut self.out, self.framing, &features);
        Ok(Step::Continue)
    }

    /// `<stream:features/>` for the current phase.
    fn features(&self) -> Vec<Element> {
        let opts = &self.c2s.options;
        let is_tls = self.tls.is_some();
        match &self.phase {
            Phase::Connected { .. } => {
                let mut f = Vec::new();
                // No STARTTLS over WebSocket (RFC 7395 §3.2: TLS is the WebSocket's own).
                if !is_tls && opts.tls.is_some() && self.framing == Framing::Stream {
                    f.push(stream::starttls(opts.is_tls_required));
                }
                if is_tls || !opts.is_tls_required {
                    f.push(stream::mechanisms(&self.offered_mechanisms()));
                    if self.tls.as_ref().is_some_and(|t| t.binding.is_some()) {
                        f.push(stream::channel_binding_types());
                    }
                    for feature in self.c2s.irsp.registry.features() {
                        f.extend(feature.pre_auth_stream_features.iter().cloned());
                    }
                }
                f
            }
            Phase::Authenticated { .. } | Phase::Bound { .. } => {
                let mut f = stream::bind_features();
                // XEP-0198: enable after bind, or resume instead of binding.
                f.push(Element::new("sm", ns::SM));
                // XEP-0478: how long the server waits for data before it closes the stream.
                let idle = if opts.keepalive_interval.is_zero() {
                    0
                } else {
                    (opts.keepalive_interval + opts.keepalive_timeout).as_secs()
                };
                f.push(stream::stream_limits(
                    opts.post_auth_limits.max_stanza_bytes,
                    idle,
                ));
                for feature in self.c2s.irsp.registry.features() {
                    f.extend(feature.stream_features.iter().cloned());
                }
                f
            }
        }
    }

    async fn on_element(&mut self, el: Element) -> Result<Step, Exit> {
        if !self.is_header_sent {
            return Err(Exit::stream(
                StreamError::NotWellFormed,
                "stream header expected",
            ));
        }
        if el.ns() == ns::SM && !matches!(self.phase, Phase::Connected { .. }) {
            return self.on_sm(&el).await;
        }
        match &self.phase {
            Phase::Connected { .. } => self.on_pre_auth(el).await,
            Phase::Authenticated { .. } => self.on_unbound(el),
            Phase::Bound { .. } => {
                let step = self.on_bound(el).await?;
                if let Some(sm) = &mut self.sm {
                    sm.note_handled();
                }
                Ok(step)
            }
        }
    }

    async fn on_pre_auth(&mut self, el: Element) -> Result<Step, Exit> {
        self.pre_auth_stanzas += 1;
        if self.pre_auth_stanzas > self.c2s.options.max_pre_auth_stanzas {
            return Err(Exit::stream(
                StreamError::PolicyViolation,
                "too many stanzas before authentication",
            ));
        }
        let needs_tls = self.c2s.options.is_tls_required && self.tls.is_none();
        match (el.ns(), el.name()) {
            (ns::TLS, "starttls") => self.on_starttls(),
            (ns::SM, _) => self.on_sm(&el).await,
            (ns::SASL, _) if needs_tls => {
                self.out.extend_from_slice(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required/></failure>");
                Err(Exit::stream(
                    StreamError::PolicyViolation,
                    "STARTTLS required",
                ))
            }
            (ns::SASL, _) => self.on_sasl(el).await,
            (ns::CLIENT, "iq") if is_registration(&el) => {
                if needs_tls {
                    return Err(Exit::stream(
                        StreamError::PolicyViolation,
                        "STARTTLS required",
                    ));
                }
                self.on_pre_auth_iq(el).await
            }
            (ns::CLIENT, "message" | "presence" | "iq") => Err(Exit::stream(
                StreamError::NotAuthorized,
                "authenticate first",
            )),
            _ => Err(Exit::Stream(StreamError::UnsupportedStanzaType, None)),
        }
    }

    fn on_starttls(&mut self) -> Result<Step, Exit> {
        let is_offered =
            self.tls.is_none() && self.c2s.options.tls.is_some() && self.framing == Framing::Stream;
        if !is_offered {
            self.out
                .extend_from_slice(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
            stream::write_close(&mut self.out, self.framing);
            return Err(Exit::ClientClosed);
        }
        self.out
            .extend_from_slice(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        Ok(Step::StartTls)
    }

    async fn on_pre_auth_iq(&mut self, iq: Element) -> Result<Step, Exit> {
        let irsp = self.c2s.irsp.clone();
        let to = irsp.domain.clone();
        let reply =
            hestia_router::route::handle_iq(&irsp, None, to, iq, true, Some(self.peer.ip())).await;
        if let Some(reply) = reply {
            reply.write_to(&mut self.out, ns::CLIENT);
        }
        Ok(Step::Continue)
    }

    fn on_unbound(&mut self, el: Element) -> Result<Step, Exit> {
        match crate::bind::bind_request(&el) {
            Some(resource) => self.on_bind(&el, resource),
            None if StanzaKind::of(&el).is_some() => Err(Exit::stream(
                StreamError::NotAuthorized,
                "bind a connection ID first",
            )),
            None => Err(Exit::Stream(StreamError::UnsupportedStanzaType, None)),
        }
    }

    pub(crate) fn set_bound(
        &mut self,
        account: Account,
        handle: SessionHandle,
        rx: mpsc::Receiver<Outbound>,
    ) {
        self.parser.set_limits(self.c2s.options.post_auth_limits);
        self.outbound = Some(rx);
        self.phase = Phase::Bound { account, handle };
        metrics::gauge!("hestia_sessions_bound").increment(1.0);
    }

    async fn on_bound(&mut self, mut el: Element) -> Result<Step, Exit> {
        let Phase::Bound { handle, .. } = &self.phase else {
            return Ok(Step::Continue);
        };
        let Some(kind) = StanzaKind::of(&el) else {
            return Err(Exit::Stream(StreamError::UnsupportedStanzaType, None));
        };
        let jid = handle.info.jid.clone();
        // RFC 6120 §8.1.2.1: the server stamps `from`; a client claiming another address is
        // cut off with invalid-from.
        if let Some(from) = el.attr("from") {
            let is_own =
                hestia_proto::Jid::parse(from).is_ok_and(|f| f == jid || f == jid.to_bare());
            if !is_own {
                return Err(Exit::stream(
                    StreamError::InvalidFrom,
                    "from does not match your address",
                ));
            }
        }
        el.set_attr("from", jid.to_string());
        metrics::counter!("hestia_stanzas_in_total", "kind" => kind.as_str()).increment(1);
        if let Some(reply) = crate::bind::legacy_session(&el) {
            self.emit(reply)?;
            return Ok(Step::Continue);
        }
        let started = Instant::now();
        let reply = hestia_router::route::route(&self.c2s.irsp, &jid, el).await;
        metrics::histogram!("hestia_routing_seconds").record(started.elapsed().as_secs_f64());
        if let Some(reply) = reply {
            self.emit(reply)?;
        }
        Ok(Step::Continue)
    }
}

thread_local! {
    /// One read buffer per worker thread instead of one per connection: an idle connection
    /// then holds no read buffer at all (the idle-memory target is a few KiB per connection).
    static READ_BUF: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0u8; 16 * 1024].into_boxed_slice());
}

/// Reads what is available straight into the parser; 0 = end of stream.
/// When a silent bound connection is pinged, and when it is given up for lost.
#[derive(Debug)]
struct KeepAlive {
    interval: Duration,
    timeout: Duration,
    deadline: Instant,
    is_pinged: bool,
}

impl KeepAlive {
    fn new(options: &crate::C2sOptions) -> KeepAlive {
        KeepAlive {
            interval: options.keepalive_interval,
            timeout: options.keepalive_timeout,
            deadline: Instant::now() + options.keepalive_interval,
            is_pinged: false,
        }
    }

    fn is_on(&self) -> bool {
        !self.interval.is_zero()
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn is_pinged(&self) -> bool {
        self.is_pinged
    }

    fn ping(&mut self, now: Instant) {
        self.is_pinged = true;
        self.deadline = now + self.timeout;
    }

    fn heard(&mut self, now: Instant) {
        self.is_pinged = false;
        self.deadline = now + self.interval;
    }
}

async fn read_into(io: &mut Io, parser: &mut StreamParser) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| {
        READ_BUF.with_borrow_mut(|buf| {
            let mut rb = tokio::io::ReadBuf::new(buf);
            match std::pin::Pin::new(&mut *io).poll_read(cx, &mut rb) {
                std::task::Poll::Ready(Ok(())) => {
                    parser.feed(rb.filled());
                    std::task::Poll::Ready(Ok(rb.filled().len()))
                }
                std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        })
    })
    .await
}

pub(crate) async fn recv_outbound(rx: &mut Option<mpsc::Receiver<Outbound>>) -> Option<Outbound> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn is_registration(iq: &Element) -> bool {
    hestia_proto::stanza::iq_payload(iq).is_some_and(|p| p.ns() == ns::REGISTER)
}

/// Maps a codec error to the stream error RFC 6120 names for it.
pub fn xml_exit(e: XmlError) -> Exit {
    let condition = match &e {
        XmlError::NotWellFormed(_) => StreamError::NotWellFormed,
        XmlError::RestrictedXml(_) => StreamError::RestrictedXml,
        XmlError::PolicyViolation(_) => StreamError::PolicyViolation,
        XmlError::InvalidNamespace => StreamError::InvalidNamespace,
        XmlError::UnsupportedEncoding => StreamError::UnsupportedEncoding,
    };
    Exit::Stream(condition, Some(e.to_string()))
}
