//! The Hestia server assembled: configuration, certificates, the store, the IRSP with its
//! features, the c2s listeners and the HTTP port (admin API, health, metrics), with a graceful
//! shutdown that closes every stream with `system-shutdown`.

pub mod admin;
pub mod component;
pub mod config;
pub mod conformance;
pub mod http;
mod listener;
pub mod tls;
pub mod websocket;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use hestia_features::bytestreams::{Proxy, StreamHost};
use hestia_features::registration::Registrar;
use hestia_proto::Jid;
use hestia_router::irsp::RoutingOptions;
use hestia_router::{Irsp, Registry};
use hestia_session::{C2s, C2sOptions};
use hestia_store::Store;
use hestia_xml::Limits;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;

/// A running server.
#[derive(Debug)]
pub struct Server {
    pub irsp: Arc<Irsp>,
    pub c2s_addr: Option<SocketAddr>,
    pub direct_tls_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    /// The HTTP port serves HTTPS (`http.tls`).
    pub is_http_tls: bool,
    /// The XEP-0114 component port, when enabled.
    pub component_addr: Option<SocketAddr>,
    /// The SOCKS5 bytestream proxy, when enabled (its `streamhost` holds the bound port).
    pub proxy: Option<Arc<Proxy>>,
    /// The CA clients must trust (None when certificates come from files).
    pub ca_file: Option<PathBuf>,
    pub pki: tls::Pki,
    pub admin_token: String,
    pub registrar: Arc<Registrar>,
    /// The HES gateway served under /cui/v1.
    pub gateway: Arc<hestia_gateway::HesGateway>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    grace: std::time::Duration,
}

impl Server {
    /// Starts everything the config asks for; returns once all listeners are bound.
    pub async fn start(config: Config) -> Result<Server> {
        let data_dir = config.server.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let domain = Jid::domain_jid(&config.server.domain).context("server.domain")?;
        let store = Store::open(&config.store_url())
            .await
            .context("opening the store")?;
        // Whatever the delivery journal held in flight when the last run ended is now offline
        // storage, whether or not durable delivery is still on.
        let recovered = store
            .recover_journal()
            .await
            .context("recovering the delivery journal")?;
        if recovered > 0 {
            tracing::info!(
                recovered,
                "journaled messages kept for their recipients' next login"
            );
        }
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let proxy = start_proxy(&config, &tracker, &shutdown).await?;
        let features = hestia_features::FeaturesConfig {
            registration: config.registration.clone(),
            relationships: config.relationships.clone(),
        };
        let registry = Registry::new(hestia_features::all(&features, proxy.clone()))?;
        let options = RoutingOptions {
            max_user_sessions: config.c2s.max_user_sessions,
            max_offline_stanzas: config.offline.max_stanzas,
            offline_expiry: config.offline.expiry.get(),
            durable_delivery: config.offline.durable_delivery,
        };
        let irsp = Irsp::new(domain, store, registry, options);
        let pki = tls::Pki::in_dir(&data_dir);
        let (tls, ca_file) = tls_config(&config, &pki)?;
        let c2s = C2s::new(
            irsp.clone(),
            c2s_options(&config, tls),
            config.c2s.max_connections_per_address,
            shutdown.clone(),
            tracker.clone(),
        );
        let c2s_addr = listen(&config.c2s.listen, &c2s, false).await?;
        let direct_tls_addr = if c2s.options.tls.is_some() {
            listen(&config.c2s.direct_tls_listen, &c2s, true).await?
        } else {
            None
        };
        let component_options = component::ComponentOptions {
            secrets: config.component.secrets.clone(),
            auth_timeout: config.component.auth_timeout.get(),
            pre_auth_limits: c2s.options.pre_auth_limits,
            limits: c2s.options.post_auth_limits,
        };
        let components = component::ComponentPort::new(
            irsp.clone(),
            component_options,
            shutdown.clone(),
            tracker.clone(),
        );
        let component_addr = components.listen(&config.component.listen).await?;
        let admin_token = admin::ensure_token(&config.http.admin_token, &data_dir)?;
        let registrar = Arc::new(Registrar::new(config.registration.clone()));
        let http_listener = http::bind(&config.http.listen).await?;
        let bound = http_listener.as_ref().and_then(|l| l.local_addr().ok());
        let http_tls = match bound.map(|a| (a, config.http_transport(a))) {
            Some((_, Ok(http::Transport::Tls))) => Some(http_tls_config(&config, &pki)?),
            Some((addr, Ok(http::Transport::Plain))) => {
                if !addr.ip().is_loopback() {
                    tracing::warn!(%addr, "http.allow_plaintext: the HTTP port serves plain HTTP on a non-loopback address; tokens and passwords cross the network unencrypted");
                }
                None
            }
            Some((_, Err(problem))) => anyhow::bail!(problem),
            None => None,
        };
        let is_loopback_port = bound.is_none_or(|a| a.ip().is_loopback());
        let gateway = hestia_gateway::HesGateway::with_limits(
            irsp.clone(),
            hestia_gateway::auth::Tokens::default(),
            config.oauth_settings_at(bound),
            hestia_gateway::limits::Limits::new(config.cui.clone(), is_loopback_port),
        )?;
        for peer in config.federation.peers() {
            let name = peer.name.clone();
            gateway
                .add_peer(peer)
                .await
                .map_err(|e| anyhow::anyhow!("federation peer {name}: {}", e.message))?;
        }
        let hears_devices = gateway.listen();
        run_until_shutdown(&tracker, &shutdown, hears_devices);
        for entry in &config.mqtt {
            add_mqtt_cluster(&gateway, entry, &tracker, &shutdown)?;
        }
        let state = http::HttpState {
            irsp: irsp.clone(),
            registrar: registrar.clone(),
            admin_token: admin_token.clone(),
            pki: pki.clone(),
            metrics: http::metrics_handle(),
            websocket: config.websocket.enabled.then(|| websocket::WebSocketState {
                c2s: c2s.clone(),
                consider_secure: config.websocket.consider_secure,
                is_tls_listener: http_tls.is_some(),
                is_loopback_listener: config
                    .http
                    .listen
                    .parse::<SocketAddr>()
                    .is_ok_and(|a| a.ip().is_loopback()),
            }),
            gateway: gateway.clone(),
        };
        let http_tls_used = http_tls.is_some();
        let http_addr =
            http::serve(http_listener, http_tls, state, &tracker, shutdown.clone()).await?;
        Ok(Server {
            irsp,
            c2s_addr,
            direct_tls_addr,
            http_addr,
            is_http_tls: http_tls_used,
            component_addr,
            proxy,
            ca_file,
            pki,
            admin_token,
            registrar,
            gateway,
            shutdown,
            tracker,
            grace: config.server.shutdown_grace.get(),
        })
    }

    /// Closes every stream with `system-shutdown` and waits (bounded) for tasks to end.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(self.grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within the shutdown grace period");
        }
        self.irsp.store.close().await;
    }

    /// A token that stops the server when cancelled (used by signal handlers).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Runs `task` on the tracker until it ends or the server shuts down.
fn run_until_shutdown(
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
    task: impl Future<Output = ()> + Send + 'static,
) {
    let stop = shutdown.clone();
    tracker.spawn(async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = task => {}
        }
    });
}

/// Adds one `[[mqtt]]` cluster to the gateway; its connection runs until shutdown (it
/// connects in the background and retries, so a broker that is down does not stop startup).
fn add_mqtt_cluster(
    gateway: &hestia_gateway::HesGateway,
    entry: &hestia_gateway::mqtt::MqttConfig,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<()> {
    use hestia_gateway::mqtt::{MqttCluster, MqttSettings};
    let settings = MqttSettings::new(entry)
        .map_err(|problems| anyhow::anyhow!("mqtt {}: {}", entry.name, problems.join("; ")))?;
    tracing::info!(cluster = %settings.name, host = %settings.host, port = settings.port, root = %settings.root, "MQTT cluster configured");
    let (cluster, connection) = MqttCluster::start(settings, gateway.cluster_feed());
    run_until_shutdown(tracker, shutdown, connection);
    gateway
        .add_cluster(hestia_gateway::cluster::Cluster::Mqtt(cluster))
        .map_err(|e| anyhow::anyhow!("mqtt {}: {}", entry.name, e.message))?;
    Ok(())
}

fn tls_config(
    config: &Config,
    pki: &tls::Pki,
) -> Result<(Option<Arc<rustls::ServerConfig>>, Option<PathBuf>)> {
    if !config.tls.cert_file.is_empty() {
        let c = tls::server_config(
            config.tls.cert_file.as_ref(),
            config.tls.key_file.as_ref(),
            pki.ca_cert.exists().then_some(pki.ca_cert.as_path()),
            &[b"xmpp-client"],
        )?;
        return Ok((Some(c), None));
    }
    pki.ensure(&config.server.domain)?;
    let c = tls::server_config(
        &pki.server_cert,
        &pki.server_key,
        Some(&pki.ca_cert),
        &[b"xmpp-client"],
    )?;
    Ok((Some(c), Some(pki.ca_cert.clone())))
}

/// The HTTPS port's rustls configuration: the XMPP server's certificate (`tls.cert_file`, or
/// the one generated in data_dir, made by [`tls_config`] already), ALPN `http/1.1`.
fn http_tls_config(config: &Config, pki: &tls::Pki) -> Result<Arc<rustls::ServerConfig>> {
    let (cert, key) = if config.tls.cert_file.is_empty() {
        (pki.server_cert.clone(), pki.server_key.clone())
    } else {
        (
            PathBuf::from(&config.tls.cert_file),
            PathBuf::from(&config.tls.key_file),
        )
    };
    tls::server_config(&cert, &key, None, &[b"http/1.1"])
}

fn c2s_options(config: &Config, tls: Option<Arc<rustls::ServerConfig>>) -> C2sOptions {
    let c = &config.c2s;
    C2sOptions {
        tls,
        is_tls_required: config.tls.required,
        pre_auth_limits: Limits {
            max_stanza_bytes: c.pre_auth_max_stanza_bytes,
            max_depth: c.max_depth.min(32),
            max_attrs: c.max_attributes.min(32),
        },
        post_auth_limits: Limits {
            max_stanza_bytes: c.max_stanza_bytes,
            max_depth: c.max_depth,
            max_attrs: c.max_attributes,
        },
        max_pre_auth_stanzas: c.max_pre_auth_stanzas,
        auth_timeout: c.auth_timeout.get(),
        keepalive_interval: c.keepalive_interval.get(),
        keepalive_timeout: c.keepalive_timeout.get(),
        max_bytes_per_second: c.max_bytes_per_second,
        burst_bytes: c.burst_bytes,
        max_failed_logins_per_address: c.max_failed_logins_per_address,
        max_failed_logins_per_account: c.max_failed_logins_per_account,
        failed_login_window: c.failed_login_window.get(),
        is_loopback_exempt: c.loopback_exempt,
        resume_timeout: c.resume_timeout.get(),
        ack_policy: hestia_session::sm::AckPolicy {
            max_unacked: c.max_unacked_stanzas,
            ..C2sOptions::default().ack_policy
        },
        ..C2sOptions::default()
    }
}

/// Binds the SOCKS5 listener of the bytestream proxy (XEP-0065) and accepts on the tracker
/// until shutdown. The proxy is told its bound port, so "port 0" works in tests.
async fn start_proxy(
    config: &Config,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<Option<Arc<Proxy>>> {
    if !config.proxy.enabled {
        return Ok(None);
    }
    let jid = config.proxy_jid().context("proxy.jid")?;
    let addr = &config.proxy.listen;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the bytestream proxy on {addr}"))?;
    let local = listener.local_addr()?;
    let host = match config.proxy.host.as_str() {
        "" if local.ip().is_unspecified() => config.server.domain.clone(),
        "" => local.ip().to_string(),
        host => host.to_owned(),
    };
    let streamhost = StreamHost {
        jid,
        host,
        port: local.port(),
    };
    let proxy = Proxy::new(&config.proxy, streamhost, tracker.clone(), shutdown.clone());
    let p = proxy.clone();
    listener::accept_until_shutdown(
        "proxy",
        listener,
        shutdown.clone(),
        tracker,
        move |tcp, _| p.accept(tcp),
    );
    Ok(Some(proxy))
}

/// Binds a c2s listener and accepts on the tracker until shutdown.
async fn listen(addr: &str, c2s: &Arc<C2s>, is_direct_tls: bool) -> Result<Option<SocketAddr>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    let c2s2 = c2s.clone();
    listener::accept_until_shutdown(
        "c2s",
        listener,
        c2s.shutdown.clone(),
        &c2s.tracker,
        move |tcp, peer| c2s2.spawn_connection(tcp, peer, is_direct_tls),
    );
    Ok(Some(local))
}
