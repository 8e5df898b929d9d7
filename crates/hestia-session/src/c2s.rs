//! The c2s service: shared state of every client connection (options, login throttles, the
//! connection counter per address) and the entry point that runs one connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hestia_router::Irsp;
use hestia_router::throttle::Throttle;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::C2sOptions;
use crate::stream::Framing;
use crate::websocket::WebSocketIo;

/// Shared by every c2s connection.
#[derive(Debug)]
pub struct C2s {
    pub irsp: Arc<Irsp>,
    pub options: C2sOptions,
    pub(crate) failed_by_ip: Throttle<IpAddr>,
    pub(crate) failed_by_account: Throttle<String>,
    next_serial: AtomicU64,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Most simultaneous connections from one address (0 = unlimited).
    pub max_connections_per_ip: usize,
    /// XEP-0198 sessions that a new stream may resume, by resumption id.
    pub(crate) resumptions: crate::sm::resume::Resumptions,
}

impl C2s {
    pub fn new(
        irsp: Arc<Irsp>,
        options: C2sOptions,
        max_connections_per_ip: usize,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Arc<C2s> {
        let window = options.failed_login_window;
        Arc::new(C2s {
            failed_by_ip: Throttle::new(options.max_failed_logins_per_address, window),
            failed_by_account: Throttle::new(options.max_failed_logins_per_account, window),
            irsp,
            options,
            next_serial: AtomicU64::new(1),
            shutdown,
            tracker,
            per_ip: Mutex::default(),
            max_connections_per_ip,
            resumptions: Default::default(),
        })
    }

    pub(crate) fn next_serial(&self) -> u64 {
        self.next_serial.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs one accepted connection on the tracker. `is_direct_tls` = XEP-0368 port.
    pub fn spawn_connection(
        self: &Arc<Self>,
        tcp: TcpStream,
        peer: SocketAddr,
        is_direct_tls: bool,
    ) {
        let c2s = self.clone();
        let span = tracing::debug_span!("c2s", %peer, transport = Framing::Stream.transport());
        let task = async move {
            let Some(slot) = ConnectionSlot::claim(&c2s, peer.ip()) else {
                let domain = c2s.irsp.domain.to_string();
                crate::connection::refuse(tcp, Framing::Stream, &domain).await;
                return;
            };
            crate::connection::run(c2s.clone(), tcp, peer, is_direct_tls, slot).await;
        };
        self.tracker.spawn(task.instrument(span));
    }

    /// Runs one upgraded WebSocket (RFC 7395) on the tracker, counted against its address
    /// like any connection. `is_secure`: see [`crate::connection::run_websocket`].
    pub fn spawn_websocket(self: &Arc<Self>, ws: WebSocketIo, peer: SocketAddr, is_secure: bool) {
        let c2s = self.clone();
        let span = tracing::debug_span!("c2s", %peer, transport = Framing::WebSocket.transport());
        let task = async move {
            let Some(slot) = ConnectionSlot::claim(&c2s, peer.ip()) else {
                let domain = c2s.irsp.domain.to_string();
                let io = crate::io::Io::WebSocket(Box::new(ws));
                crate::connection::refuse(io, Framing::WebSocket, &domain).await;
                return;
            };
            crate::connection::run_websocket(c2s.clone(), ws, peer, is_secure, slot).await;
        };
        self.tracker.spawn(task.instrument(span));
    }
}

/// Counts a connection against its address while it lives.
struct ConnectionSlot {
    c2s: Arc<C2s>,
    ip: IpAddr,
}

impl ConnectionSlot {
    fn claim(c2s: &Arc<C2s>, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut map = c2s.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_default();
        if c2s.max_connections_per_ip > 0 && *n >= c2s.max_connections_per_ip {
            metrics::counter!("hestia_connections_refused_total", "reason" => "per-address")
                .increment(1);
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            c2s: c2s.clone(),
            ip,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut map = self.c2s.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}
