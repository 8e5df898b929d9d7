//! The XML stream over a socket (RFC 6120 §4): the plain-or-TLS connection, the inbound half (codec, read
//! buffer, stanzas queued while waiting for an IQ answer) and the outbound half (one write buffer flushed per
//! send). The typestate wrappers in the other modules decide which operations each state allows.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hestia_proto::stanza::{IqType, new_id};
use hestia_proto::{StanzaError, StanzaErrorCondition, StreamError, ns};
use hestia_xml::{Element, Limits, StreamEvent, StreamParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

use crate::{ClientError, ConnectOptions, tls};

/// Stanzas from the server may be much larger than what a server accepts from a client.
const MAX_STANZA_BYTES: usize = 16 * 1024 * 1024;
const READ_CHUNK: usize = 16 * 1024;

/// The opening stream header a client sends (RFC 6120 §4.7).
pub(crate) fn stream_header(domain: &str) -> String {
    let to = domain
        .replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;");
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}' to='{to}' version='1.0'>",
        ns::CLIENT,
        ns::STREAM
    )
}

/// Runs `fut` for at most `limit`.
pub(crate) async fn bounded<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| ClientError::Timeout)?
}

/// A TCP connection, with or without TLS.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The reading side: codec state and stanzas received out of turn.
pub(crate) struct Inbound {
    parser: StreamParser,
    chunk: Box<[u8]>,
    pending: VecDeque<Element>,
    /// The `<stream:error/>` that ended the stream, for its text and application condition.
    pub(crate) stream_error: Option<Element>,
}

impl Inbound {
    pub(crate) fn new() -> Inbound {
        let limits = Limits {
            max_stanza_bytes: MAX_STANZA_BYTES,
            ..Limits::default()
        };
        Inbound {
            parser: StreamParser::new(limits),
            chunk: vec![0u8; READ_CHUNK].into_boxed_slice(),
            pending: VecDeque::new(),
            stream_error: None,
        }
    }

    /// Forgets the old stream, for a stream restart (RFC 6120 §4.3.3).
    fn reset(&mut self) {
        self.parser.reset();
    }

    /// The next codec event, reading as needed. Cancel-safe: bytes are only taken from the socket at the await.
    async fn next_event(
        &mut self,
        io: &mut (impl AsyncRead + Unpin),
    ) -> Result<StreamEvent, ClientError> {
        loop {
            if let Some(event) = self.parser.next()? {
                return Ok(event);
            }
            let n = match io.read(&mut self.chunk).await {
                Ok(n) => n,
                // A peer that drops TCP without TLS close_notify has still closed the stream.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.parser.feed(&self.chunk[..n]);
        }
    }

    /// The next top-level element from the wire, skipping whitespace keepalives; `<stream:error/>` and
    /// `</stream:stream>` become errors.
    async fn read_stanza(
        &mut self,
        io: &mut (impl AsyncRead + Unpin),
    ) -> Result<Element, ClientError> {
        loop {
            match self.next_event(io).await? {
                StreamEvent::Stanza(el) if el.is("error", ns::STREAM) => {
                    let condition =
                        StreamError::from_element(&el).unwrap_or(StreamError::UndefinedCondition);
                    self.stream_error = Some(el);
                    return Err(ClientError::Stream(condition));
                }
                StreamEvent::Stanza(el) => return Ok(el),
                StreamEvent::Whitespace => continue,
                StreamEvent::Close => return Err(ClientError::Closed),
                StreamEvent::Open(_) => {
                    return Err(ClientError::Protocol("unexpected stream header".to_owned()));
                }
            }
        }
    }

    /// A queued stanza if there is one, else the next from the wire.
    pub(crate) async fn recv(
        &mut self,
        io: &mut (impl AsyncRead + Unpin),
    ) -> Result<Element, ClientError> {
        match self.pending.pop_front() {
            Some(el) => Ok(el),
            None => self.read_stanza(io).await,
        }
    }
}

/// The writing side: one buffer reused for every send.
pub(crate) struct Outbound {
    buf: Vec<u8>,
}

impl Outbound {
    pub(crate) fn new() -> Outbound {
        Outbound { buf: Vec::new() }
    }

    /// Writes a stanza or nonza in the `jabber:client` default namespace and flushes.
    pub(crate) async fn send(
        &mut self,
        io: &mut (impl AsyncWrite + Unpin),
        el: &Element,
    ) -> Result<(), ClientError> {
        self.buf.clear();
        el.write_to(&mut self.buf, ns::CLIENT);
        tracing::trace!(element = el.name(), bytes = self.buf.len(), "send");
        io.write_all(&self.buf).await?;
        io.flush().await?;
        Ok(())
    }

    pub(crate) async fn send_raw(
        io: &mut (impl AsyncWrite + Unpin),
        bytes: &[u8],
    ) -> Result<(), ClientError> {
        io.write_all(bytes).await?;
        io.flush().await?;
        Ok(())
    }
}

/// A whole XML stream: socket, both halves, and the per-step limit.
pub(crate) struct XmppConn {
    io: Conn,
    inbound: Inbound,
    outbound: Outbound,
    pub(crate) domain: String,
    pub(crate) timeout: Duration,
}

impl XmppConn {
    pub(crate) fn new(io: Conn, opts: &ConnectOptions) -> XmppConn {
        XmppConn {
            io,
            inbound: Inbound::new(),
            outbound: Outbound::new(),
            domain: opts.domain.clone(),
            timeout: opts.timeout,
        }
    }

    /// Opens (or restarts) the stream: sends the header, reads the server's header and its
    /// `<stream:features/>`.
    pub(crate) async fn open_stream(&mut self) -> Result<Element, ClientError> {
        self.inbound.reset();
        let header = stream_header(&self.domain);
        Outbound::send_raw(&mut self.io, header.as_bytes()).await?;
        let (io, inbound) = (&mut self.io, &mut self.inbound);
        bounded(self.timeout, async move {
            loop {
                match inbound.next_event(io).await? {
                    StreamEvent::Open(header) if header.is_stream_ns_ok => break,
                    StreamEvent::Open(_) => {
                        return Err(ClientError::Protocol(
                            "server stream header has wrong namespace".to_owned(),
                        ));
                    }
                    StreamEvent::Whitespace => continue,
                    StreamEvent::Close => return Err(ClientError::Closed),
                    StreamEvent::Stanza(el) if el.is("error", ns::STREAM) => {
                        let condition = StreamError::from_element(&el)
                            .unwrap_or(StreamError::UndefinedCondition);
                        return Err(ClientError::Stream(condition));
                    }
                    StreamEvent::Stanza(el) => {
                        return Err(ClientError::Protocol(format!(
                            "<{}/> before stream header",
                            el.name()
                        )));
                    }
                }
            }
            let features = inbound.read_stanza(io).await?;
            if !features.is("features", ns::STREAM) {
                return Err(ClientError::Protocol(format!(
                    "expected <stream:features/>, got <{}/>",
                    features.name()
                )));
            }
            Ok(features)
        })
        .await
    }

    /// STARTTLS (RFC 6120 §5.4): asks, waits for `<proceed/>`, runs the handshake. The caller restarts the stream.
    pub(crate) async fn start_tls(
        mut self,
        opts: &ConnectOptions,
    ) -> Result<XmppConn, ClientError> {
        self.send(&Element::new("starttls", ns::TLS)).await?;
        let reply = self.recv().await?;
        if reply.is("failure", ns::TLS) {
            return Err(ClientError::Tls("server refused STARTTLS".to_owned()));
        }
        if !reply.is("proceed", ns::TLS) {
            return Err(ClientError::Protocol(format!(
                "expected <proceed/>, got <{}/>",
                reply.name()
            )));
        }
        let Conn::Plain(tcp) = self.io else {
            return Err(ClientError::Protocol(
                "STARTTLS on a stream that already has TLS".to_owned(),
            ));
        };
        let tls = bounded(self.timeout, tls::handshake(tcp, opts)).await?;
        Ok(XmppConn {
            io: Conn::Tls(Box::new(tls)),
            inbound: Inbound::new(),
            outbound: self.outbound,
            domain: self.domain,
            timeout: self.timeout,
        })
    }

    /// The RFC 9266 channel-binding data, or `None` without TLS.
    pub(crate) fn tls_exporter(&self) -> Result<Option<Vec<u8>>, ClientError> {
        match &self.io {
            Conn::Plain(_) => Ok(None),
            Conn::Tls(tls) => tls::exporter(tls).map(Some),
        }
    }

    pub(crate) async fn send(&mut self, el: &Element) -> Result<(), ClientError> {
        bounded(self.timeout, self.outbound.send(&mut self.io, el)).await
    }

    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        bounded(self.timeout, Outbound::send_raw(&mut self.io, bytes)).await
    }

    pub(crate) fn stream_error(&self) -> Option<&Element> {
        self.inbound.stream_error.as_ref()
    }

    /// The next stanza, bounded by the per-step timeout.
    pub(crate) async fn recv(&mut self) -> Result<Element, ClientError> {
        bounded(self.timeout, self.inbound.recv(&mut self.io)).await
    }

    /// The next stanza, or `None` if nothing arrives within `limit`.
    pub(crate) async fn recv_timeout(
        &mut self,
        limit: Duration,
    ) -> Result<Option<Element>, ClientError> {
        match tokio::time::timeout(limit, self.inbound.recv(&mut self.io)).await {
            Ok(result) => result.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Sends an IQ request (giving it a fresh id if it has none) and waits for the answer with that id; other
    /// stanzas arriving meanwhile are queued for [`Self::recv`]. An error answer is [`ClientError::Stanza`].
    pub(crate) async fn iq(&mut self, mut iq: Element) -> Result<Element, ClientError> {
        let id = match iq.attr("id") {
            Some(id) => id.to_owned(),
            None => {
                let id = new_id();
                iq.set_attr("id", id.clone());
                id
            }
        };
        self.send(&iq).await?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let el = tokio::time::timeout_at(deadline, self.inbound.read_stanza(&mut self.io))
                .await
                .map_err(|_| ClientError::Timeout)??;
            if el.name() == "iq" && el.ns() == ns::CLIENT && el.attr("id") == Some(id.as_str()) {
                match IqType::of(&el) {
                    Some(IqType::Result) => return Ok(el),
                    Some(IqType::Error) => {
                        let error = StanzaError::from_stanza(&el).unwrap_or_else(|| {
                            StanzaError::new(StanzaErrorCondition::UndefinedCondition)
                        });
                        return Err(ClientError::Stanza(Box::new(error)));
                    }
                    _ => {}
                }
            }
            self.inbound.pending.push_back(el);
        }
    }

    /// Sends `</stream:stream>`, waits (bounded) for the server's close, then shuts the socket down.
    pub(crate) async fn close(mut self) -> Result<(), ClientError> {
        self.send_raw(b"</stream:stream>").await?;
        let (io, inbound) = (&mut self.io, &mut self.inbound);
        bounded(self.timeout, async move {
            loop {
                match inbound.next_event(io).await {
                    Ok(StreamEvent::Close) | Err(ClientError::Closed) => return Ok(()),
                    Ok(_) => continue,
                    Err(e) => return Err(e),
                }
            }
        })
        .await?;
        // Best effort: the server may already have dropped the connection.
        let _ = self.io.shutdown().await;
        Ok(())
    }

    /// Independent reading and writing halves.
    pub(crate) fn into_split(self) -> ((WriteHalf<Conn>, Outbound), (ReadHalf<Conn>, Inbound)) {
        let (read, write) = tokio::io::split(self.io);
        ((write, self.outbound), (read, self.inbound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_the_domain() {
        assert_eq!(
            stream_header("home.example"),
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='home.example' version='1.0'>"
        );
        assert!(stream_header("a'b&c").contains("to='a&apos;b&amp;c'"));
    }
}
