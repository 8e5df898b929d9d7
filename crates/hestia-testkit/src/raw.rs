//! Raw sockets for conversations the SDK would never have: malformed XML, forged stream
//! headers, oversized input before authentication. Plain TCP only, so the server under test
//! runs with `cfg.tls.required = false`. Replies are kept as text for exact matching and can be
//! parsed with [`elements`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hestia_proto::{StreamError, ns};
use hestia_xml::{Element, Limits, StreamEvent, StreamParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long the helpers wait for the server unless told otherwise.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The opening header a well-behaved client sends to `domain` (RFC 6120 §4.7).
pub fn header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}' to='{domain}' version='1.0'>",
        ns::CLIENT,
        ns::STREAM
    )
}

/// The server's serialisation of a stream error's condition, as it appears right after
/// `<stream:error>`: `<not-well-formed xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`.
pub fn stream_error_xml(condition: StreamError) -> String {
    format!(
        "<stream:error><{} xmlns=\"{}\"/>",
        condition.condition(),
        ns::STREAM_ERRORS
    )
}

/// Asserts that `reply` carries exactly this stream error and then closes the stream.
pub fn assert_stream_error(reply: &str, condition: StreamError) {
    let expected = stream_error_xml(condition);
    assert!(
        reply.contains(&expected),
        "expected {expected} in the server's reply:\n{reply}"
    );
    assert_eq!(
        reply.matches("<stream:error>").count(),
        1,
        "exactly one stream error expected:\n{reply}"
    );
    assert!(
        reply.ends_with("</stream:error></stream:stream>"),
        "the stream error must close the stream:\n{reply}"
    );
}

/// The top-level elements of a server reply (features, failures, errors), skipping its header.
pub fn elements(reply: &str) -> Vec<Element> {
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(reply.as_bytes());
    let mut out = Vec::new();
    while let Ok(Some(event)) = parser.next() {
        if let StreamEvent::Stanza(el) = event {
            out.push(el);
        }
    }
    out
}

/// A plain TCP connection to the c2s port and everything received on it so far.
pub struct RawStream {
    tcp: TcpStream,
    received: Vec<u8>,
    /// How much of `received` earlier reads already returned.
    seen: usize,
    is_closed: bool,
}

impl RawStream {
    pub async fn connect(addr: SocketAddr) -> Result<RawStream> {
        RawStream::connect_inner(addr, None).await
    }

    /// Connects from a chosen loopback source address (127.0.0.2 and so on).
    pub async fn connect_from(addr: SocketAddr, local: IpAddr) -> Result<RawStream> {
        RawStream::connect_inner(addr, Some(local)).await
    }

    async fn connect_inner(addr: SocketAddr, local: Option<IpAddr>) -> Result<RawStream> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = local {
            socket.bind((ip, 0).into())?;
        }
        let tcp = tokio::time::timeout(REPLY_TIMEOUT, socket.connect(addr))
            .await
            .context("connect timed out")??;
        tcp.set_nodelay(true)?;
        Ok(RawStream {
            tcp,
            received: Vec::new(),
            seen: 0,
            is_closed: false,
        })
    }

    /// Sends our header and returns the server's header and features.
    pub async fn open(&mut self, domain: &str) -> Result<String> {
        self.send(header(domain).as_bytes()).await?;
        self.read_until("</stream:features>", REPLY_TIMEOUT).await
    }

    /// Writes bytes as they are. A server that already closed its side is not an error here:
    /// the test asserts on what it answered before closing.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let written = tokio::time::timeout(REPLY_TIMEOUT, self.tcp.write_all(bytes))
            .await
            .context("write timed out")?;
        match written {
            Ok(()) => Ok(()),
            Err(e) if is_peer_gone(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads until `needle` appears in what arrived since the previous read (or the server
    /// closes); returns that text. Fails if neither happens within `limit`.
    pub async fn read_until(&mut self, needle: &str, limit: Duration) -> Result<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let fresh = String::from_utf8_lossy(&self.received[self.seen..]).into_owned();
            if fresh.contains(needle) || self.is_closed {
                self.seen = self.received.len();
                return Ok(fresh);
            }
            if tokio::time::timeout_at(deadline, self.read_some())
                .await
                .is_err()
            {
                bail!("no {needle:?} within {limit:?}; received so far:\n{fresh}");
            }
        }
    }

    /// Reads until the server closes the connection; returns what arrived since the previous
    /// read. Fails if the connection is still open after `limit`.
    pub async fn read_to_close(&mut self, limit: Duration) -> Result<String> {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.is_closed {
            if tokio::time::timeout_at(deadline, self.read_some())
                .await
                .is_err()
            {
                let fresh = String::from_utf8_lossy(&self.received[self.seen..]);
                bail!("connection still open after {limit:?}; received so far:\n{fresh}");
            }
        }
        let text = String::from_utf8_lossy(&self.received[self.seen..]).into_owned();
        self.seen = self.received.len();
        Ok(text)
    }

    /// Whether the server has closed the connection (as far as has been read).
    pub fn is_closed(&self) -> bool {
        self.is_closed
    }

    async fn read_some(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        match self.tcp.read(&mut buf).await {
            Ok(0) | Err(_) => self.is_closed = true,
            Ok(n) => self.received.extend_from_slice(&buf[..n]),
        }
    }
}

fn is_peer_gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
    )
}
