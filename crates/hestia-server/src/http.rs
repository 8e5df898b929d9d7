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
use axum::http::StatusCode;
use axum::routing::get;
use hestia_features::registration::Registrar;
use hestia_router::Irsp;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

/// Binds the HTTP listener and serves until shutdown.
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

pub async fn serve(
    listener: Option<TcpListener>,
    state: HttpState,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<Option<SocketAddr>> {
    let Some(listener) = listener else {
        return Ok(None);
    };
    let local = listener.local_addr()?;
    let app = router(state);
    tracker.spawn(async move {
        // The peer address decides whether a WebSocket counts as secure.
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    Ok(Some(local))
}
