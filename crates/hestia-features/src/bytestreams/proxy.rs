//! The SOCKS5 side of the proxy: one task per accepted connection runs the handshake and parks
//! the socket under its stream name until the initiator activates the pair (or the pairing
//! timeout closes it); activation hands both sockets to a relay task.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hestia_proto::Jid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::ProxyConfig;
use super::proto::DstAddr;
use super::socks5::{self, ReplyCode};

/// Relay buffer per direction: large enough that a bulk transfer costs few wake-ups.
const RELAY_BUFFER: usize = 256 * 1024;

/// Where clients reach the proxy (the streamhost of XEP-0065 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHost {
    pub jid: Jid,
    pub host: String,
    pub port: u16,
}

/// Why an activation was refused (XEP-0065 §5.3.3 and the proxy's limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActivationError {
    #[error("no connection with this stream name")]
    Unknown,
    #[error("only one side is connected")]
    OneSided,
    #[error("too many streams are relayed")]
    Busy,
}

/// One parked connection: the socket and the signal that tells its task it was taken.
#[derive(Debug)]
struct Parked {
    id: u64,
    socket: TcpStream,
    _taken: oneshot::Sender<()>,
    _pending: OwnedSemaphorePermit,
}

/// The proxy's shared state.
#[derive(Debug)]
pub struct Proxy {
    pub streamhost: StreamHost,
    pairing_timeout: Duration,
    max_bytes_per_stream: u64,
    pending: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    parked: Mutex<HashMap<DstAddr, Vec<Parked>>>,
    next_id: AtomicU64,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Proxy {
    pub fn new(
        cfg: &ProxyConfig,
        streamhost: StreamHost,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Arc<Proxy> {
        Arc::new(Proxy {
            streamhost,
            pairing_timeout: cfg.pairing_timeout.get(),
            max_bytes_per_stream: cfg.max_bytes_per_stream,
            pending: Arc::new(Semaphore::new(cfg.max_pending)),
            streams: Arc::new(Semaphore::new(cfg.max_streams)),
            parked: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            tracker,
            shutdown,
        })
    }

    /// Takes one accepted connection; past `max_pending` it is closed at once.
    pub fn accept(self: &Arc<Self>, socket: TcpStream) {
        let Ok(permit) = self.pending.clone().try_acquire_owned() else {
            metrics::counter!("hestia_proxy_connections_total", "result" => "too-many-pending")
                .increment(1);
            return;
        };
        let proxy = self.clone();
        self.tracker
            .spawn(async move { proxy.serve(socket, permit).await });
    }

    async fn serve(self: Arc<Self>, mut socket: TcpStream, permit: OwnedSemaphorePermit) {
        let deadline = Instant::now() + self.pairing_timeout;
        let negotiated = tokio::select! {
            r = tokio::time::timeout_at(deadline, socks5::negotiate(&mut socket)) => r,
            _ = self.shutdown.cancelled() => return,
        };
        let dst = match negotiated {
            Ok(Ok(dst)) => dst,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "SOCKS5 handshake refused");
                if matches!(e, socks5::HandshakeError::Refused(_)) {
                    close_gently(socket).await;
                }
                return count("refused");
            }
            Err(_) => return count("timeout"),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (taken_tx, taken_rx) = oneshot::channel();
        let parked = Parked {
            id,
            socket,
            _taken: taken_tx,
            _pending: permit,
        };
        if !self.park(&dst, parked) {
            return;
        }
        count("parked");
        tokio::select! {
            // Taken by an activation (the sender went with the socket) — nothing left to do.
            _ = taken_rx => {}
            _ = tokio::time::sleep_until(deadline) => {
                if self.unpark(&dst, id) {
                    count("timeout");
                }
            }
            _ = self.shutdown.cancelled() => { self.unpark(&dst, id); }
        }
    }

    /// Parks a negotiated connection, answering its CONNECT; a third end of one stream is
    /// refused. The reply is written without waiting (a fresh socket's buffer always holds
    /// it) so that the check and the insertion happen under one lock.
    fn park(&self, dst: &DstAddr, parked: Parked) -> bool {
        let mut table = self.table();
        let code = if table.get(dst).map_or(0, Vec::len) < 2 {
            ReplyCode::Succeeded
        } else {
            ReplyCode::NotAllowed
        };
        let reply = socks5::reply(code, (code == ReplyCode::Succeeded).then_some(dst));
        let is_written = parked
            .socket
            .try_write(&reply)
            .is_ok_and(|n| n == reply.len());
        if code != ReplyCode::Succeeded || !is_written {
            count("refused");
            return false;
        }
        table.entry(dst.clone()).or_default().push(parked);
        true
    }

    /// Removes (and so closes) one parked connection; false if it was already taken.
    fn unpark(&self, dst: &DstAddr, id: u64) -> bool {
        let mut table = self.table();
        let Some(ends) = table.get_mut(dst) else {
            return false;
        };
        let before = ends.len();
        ends.retain(|p| p.id != id);
        let removed = ends.len() < before;
        if ends.is_empty() {
            table.remove(dst);
        }
        removed
    }

    /// Starts relaying the two ends parked under `dst`.
    pub fn activate(self: &Arc<Self>, dst: &DstAddr) -> Result<(), ActivationError> {
        let (a, b, permit) = {
            let mut table = self.table();
            match table.get(dst).map(Vec::len) {
                None | Some(0) => return Err(ActivationError::Unknown),
                Some(1) => return Err(ActivationError::OneSided),
                Some(_) => {}
            }
            let permit = self
                .streams
                .clone()
                .try_acquire_owned()
                .map_err(|_| ActivationError::Busy)?;
            let mut ends = table.remove(dst).unwrap_or_default();
            match (ends.pop(), ends.pop()) {
                (Some(a), Some(b)) => (a.socket, b.socket, permit),
                _ => return Err(ActivationError::Unknown),
            }
        };
        let proxy = self.clone();
        self.tracker
            .spawn(async move { proxy.relay(a, b, permit).await });
        Ok(())
    }

    async fn relay(self: Arc<Self>, a: TcpStream, b: TcpStream, _permit: OwnedSemaphorePermit) {
        metrics::gauge!("hestia_proxy_streams").increment(1.0);
        let budget = Arc::new(Budget::new(self.max_bytes_per_stream));
        let mut a = Metered::new(a, budget.clone());
        let mut b = Metered::new(b, budget);
        let relayed = tokio::select! {
            r = tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, RELAY_BUFFER, RELAY_BUFFER) => r,
            _ = self.shutdown.cancelled() => Ok((0, 0)),
        };
        if let Err(e) = relayed {
            tracing::debug!(error = %e, "bytestream ended with an error");
        }
        metrics::gauge!("hestia_proxy_streams").decrement(1.0);
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<DstAddr, Vec<Parked>>> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Closes a refused connection without losing the reply: closing with unread input makes the
/// kernel send a reset, which may discard the reply before the peer reads it.
async fn close_gently(mut socket: TcpStream) {
    let _ = socket.shutdown().await;
    let mut sink = [0u8; 1024];
    let drain = async {
        let mut total = 0;
        while let Ok(n) = socket.read(&mut sink).await {
            total += n;
            if n == 0 || total > 64 * 1024 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

fn count(result: &'static str) {
    metrics::counter!("hestia_proxy_connections_total", "result" => result).increment(1);
}

/// The bytes one stream may still carry, shared by both directions.
#[derive(Debug)]
struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// What is left; None when the stream is unlimited.
    fn remaining(&self) -> Option<u64> {
        (self.limit > 0).then(|| self.limit.saturating_sub(self.used.load(Ordering::Relaxed)))
    }

    fn spend(&self, n: u64) {
        self.used.fetch_add(n, Ordering::Relaxed);
    }
}

/// A socket whose reads are counted into the metrics and capped by the stream's byte budget.
struct Metered {
    inner: TcpStream,
    budget: Arc<Budget>,
    bytes: metrics::Counter,
}

impl Metered {
    fn new(inner: TcpStream, budget: Arc<Budget>) -> Metered {
        Metered {
            inner,
            budget,
            bytes: metrics::counter!("hestia_proxy_bytes_total"),
        }
    }

    fn count(&self, n: usize) {
        self.bytes.increment(n as u64);
        self.budget.spend(n as u64);
    }
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(remaining) = self.budget.remaining() else {
            let before = buf.filled().len();
            ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
            self.count(buf.filled().len() - before);
            return Poll::Ready(Ok(()));
        };
        if remaining == 0 {
            return Poll::Ready(Err(io::Error::other("stream byte limit reached")));
        }
        // Read no more than the budget allows, so the limit is exact.
        let want = usize::try_from(remaining).map_or(buf.remaining(), |r| r.min(buf.remaining()));
        let n = {
            let mut capped = ReadBuf::new(buf.initialize_unfilled_to(want));
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut capped))?;
            capped.filled().len()
        };
        buf.advance(n);
        self.count(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_down_to_zero_or_is_unlimited() {
        let b = Budget::new(10);
        b.spend(4);
        assert_eq!(b.remaining(), Some(6));
        b.spend(6);
        assert_eq!(b.remaining(), Some(0));
        let unlimited = Budget::new(0);
        unlimited.spend(u64::MAX / 2);
        assert_eq!(unlimited.remaining(), None);
    }
}
