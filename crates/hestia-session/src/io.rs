//! The byte pipe under a c2s stream: plain TCP or TLS over it (STARTTLS swaps one for the
//! other mid-stream) or a WebSocket (RFC 7395, [`crate::websocket`]), and the per-connection
//! byte-rate shaper.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::websocket::WebSocketIo;

/// A client connection before or after TLS, or over WebSocket.
#[derive(Debug)]
pub enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    WebSocket(Box<WebSocketIo>),
}

impl Io {
    pub fn is_tls(&self) -> bool {
        matches!(self, Io::Tls(_))
    }

    /// Whether the last read finished a message of a message-framed pipe (a WebSocket), after
    /// which the parser must stand between elements (RFC 7395 §3.3.3). Never for byte streams.
    pub fn is_message_end(&self) -> bool {
        matches!(self, Io::WebSocket(ws) if ws.is_message_end())
    }

    /// RFC 9266 tls-exporter channel-binding data, when on TLS.
    pub fn channel_binding(&self) -> Option<Vec<u8>> {
        let Io::Tls(tls) = self else {
            return None;
        };
        let mut out = vec![0u8; hestia_sasl::TLS_EXPORTER_LEN];
        let exported =
            tls.get_ref()
                .1
                .export_keying_material(&mut out, hestia_sasl::TLS_EXPORTER_LABEL, None);
        exported.is_ok().then_some(out)
    }

    /// The client's certificate chain, if it presented one (SASL EXTERNAL, XEP-0178).
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        let Io::Tls(tls) = self else {
            return None;
        };
        tls.get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Io::WebSocket(s) => s.poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Io::WebSocket(s) => s.poll_write(buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Io::WebSocket(s) => s.poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Io::WebSocket(s) => s.poll_shutdown(cx),
        }
    }
}

/// A token bucket over received bytes. When a client sends faster than its rate, the
/// connection stops reading until the bucket refills — TCP back-pressure slows the sender,
/// as Prosody's mod_limits does — rather than dropping anything.
#[derive(Debug)]
pub struct Shaper {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Shaper {
    /// `rate` bytes per second with a burst of `burst` bytes; rate 0 = unlimited.
    pub fn new(rate: u64, burst: u64) -> Shaper {
        Shaper {
            rate: rate as f64,
            burst: burst.max(1) as f64,
            tokens: burst as f64,
            last: Instant::now(),
        }
    }

    /// Takes `n` bytes' worth of tokens; returns how long to pause before reading again.
    pub fn take(&mut self, n: usize, now: Instant) -> Option<Duration> {
        if self.rate <= 0.0 {
            return None;
        }
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst) - n as f64;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaper_pauses_only_past_the_burst() {
        let start = Instant::now();
        let mut s = Shaper::new(1000, 2000);
        assert_eq!(s.take(1500, start), None);
        let pause = s.take(1500, start).expect("over burst");
        assert!((pause.as_secs_f64() - 1.0).abs() < 0.01, "{pause:?}");
        // After the pause the debt is repaid.
        assert_eq!(s.take(0, start + pause), None);
        assert_eq!(
            Shaper::new(0, 0).take(1 << 30, start),
            None,
            "0 = unlimited"
        );
    }
}
