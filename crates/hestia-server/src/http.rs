//! The HTTP port: health and readiness probes, Prometheus metrics, the admin API
//! (see [`crate::admin`]), XMPP over WebSocket (see [`crate::websocket`]) and the HES
//! gateway's CUI under `/cui/v1` (see [`hestia_gateway::http`]) with its OAuth authorization
//! server at `/oauth/*` and `/.well-known/oauth-authorization-server` (see
//! [`hestia_gateway::oauth`]).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::extract::connect_info::Connected;
use axum::http::StatusCode;
use axum::routing::get;
use axum::serve::{IncomingStream, ListenerExt as _};
use hestia_features::registration::Registrar;
use hestia_router::Irsp;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::HttpTls;

/// What HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub irsp: Arc<Irsp>,
    pub registrar: Arc<Registrar>,
    pub admin_token: String,
    pub pki: crate::tls::Pki,
    pub metrics: Option<PrometheusHandle>,
    /// XMPP over WebSocket; None = disabled (`websocket.enabled = false`).
    pub websocket: Option<crate::websocket::WebSocketState>,
    /// The HES gateway whose CUI is served under `/cui/v1`.
    pub gateway: Arc<hestia_gateway::HesGateway>,
}

/// The process-wide Prometheus recorder (installed once; several in-process servers in tests
/// share it).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .clone()
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/xmpp-websocket", get(crate::websocket::upgrade))
        .nest("/admin/v1", crate::admin::router(state.clone()))
        .nest(
            "/cui/v1",
            hestia_gateway::http::router(state.gateway.clone()),
        )
        .merge(hestia_gateway::console::router())
        .merge(hestia_gateway::oauth::router(state.gateway.clone()))
        .with_state(state)
}

async fn ready(State(s): State<HttpState>) -> (StatusCode, &'static str) {
    match s.irsp.store.count_accounts().await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable"),
    }
}

async fn metrics(State(s): State<HttpState>) -> (StatusCode, String) {
    match &s.metrics {
        Some(h) => {
            metrics::gauge!("hestia_sessions").set(s.irsp.directory.count() as f64);
            (StatusCode::OK, h.render())
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable".into(),
        ),
    }
}

/// How the HTTP port is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

/// The decision of `http.tls` for a port bound at `addr`: "auto" is plain on loopback (the demo
/// default) and TLS elsewhere unless `allow_plaintext`; "off" elsewhere needs `allow_plaintext`
/// (the error says so, for config validation).
pub fn transport(
    tls: HttpTls,
    allow_plaintext: bool,
    addr: SocketAddr,
) -> Result<Transport, String> {
    let is_loopback = addr.ip().is_loopback();
    match tls {
        HttpTls::On => Ok(Transport::Tls),
        HttpTls::Auto | HttpTls::Off if is_loopback || allow_plaintext => Ok(Transport::Plain),
        HttpTls::Auto => Ok(Transport::Tls),
        HttpTls::Off => Err(format!(
            "http.tls = \"off\" on the non-loopback address {addr} needs http.allow_plaintext = true"
        )),
    }
}

/// Binds the HTTP port (none when `addr` is empty), before the gateway is made: its OAuth
/// issuer defaults to the address actually bound.
pub async fn bind(addr: &str) -> Result<Option<TcpListener>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding HTTP {addr}"))?;
    Ok(Some(listener))
}

/// Serves the HTTP port until shutdown: over TLS with `tls` when given, plain otherwise.
pub async fn serve(
    listener: Option<TcpListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: HttpState,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<Option<SocketAddr>> {
    let Some(listener) = listener else {
        return Ok(None);
    };
    let local = listener.local_addr()?;
    let app = router(state);
    match tls {
        Some(config) => {
            let tls = crate::tls::TlsListener::start(listener, config, shutdown.clone(), tracker)?;
            // The no-op tap gives the TLS listener axum's `ConnectInfo<SocketAddr>`.
            spawn_serve(tls.tap_io(|_| {}), app, tracker, shutdown);
        }
        None => spawn_serve(listener, app, tracker, shutdown),
    }
    Ok(Some(local))
}

fn spawn_serve<L>(listener: L, app: Router, tracker: &TaskTracker, shutdown: CancellationToken)
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    for<'a> SocketAddr: Connected<IncomingStream<'a, L>>,
{
    tracker.spawn(async move {
        // The peer address decides whether a WebSocket counts as secure, and keys rate limits.
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback_unless_explicitly_allowed() {
        let loopback: SocketAddr = "127.0.0.1:5280".parse().expect("addr");
        let v6_loopback: SocketAddr = "[::1]:5280".parse().expect("addr");
        let public: SocketAddr = "0.0.0.0:5280".parse().expect("addr");
        let lan: SocketAddr = "192.168.1.5:443".parse().expect("addr");
        use HttpTls::{Auto, Off, On};
        use Transport::{Plain, Tls};
        let cases = [
            (Auto, false, loopback, Ok(Plain)),
            (Auto, false, v6_loopback, Ok(Plain)),
            (Auto, false, public, Ok(Tls)),
            (Auto, false, lan, Ok(Tls)),
            (Auto, true, public, Ok(Plain)),
            (On, false, loopback, Ok(Tls)),
            (On, true, public, Ok(Tls)),
            (Off, false, loopback, Ok(Plain)),
            (Off, true, lan, Ok(Plain)),
        ];
        for (tls, allow, addr, want) in cases {
            assert_eq!(transport(tls, allow, addr), want, "{tls:?} {allow} {addr}");
        }
        let refused = transport(Off, false, public).expect_err("refused");
        assert!(refused.contains("http.allow_plaintext = true"), "{refused}");
    }
}
