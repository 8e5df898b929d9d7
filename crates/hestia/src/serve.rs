//! `hestia serve`: runs the server until SIGINT/SIGTERM, then shuts down gracefully.

use anyhow::Result;
use tracing_subscriber::EnvFilter;

use crate::ConfigArgs;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Start with demo users (alice, bob) and simulated devices owned by alice, on loopback
    /// only, in a fresh temporary data dir (kept only when --data-dir is given).
    #[arg(long)]
    demo: bool,
    /// With --demo: the chance per second that the demo camera sees motion (0 to 1).
    #[arg(long, requires = "demo", default_value_t = crate::demo::MOTION_CHANCE)]
    motion_chance: f64,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let mut config = args.config.load()?;
    let demo = args
        .demo
        .then(|| crate::demo::DemoData::choose(args.config.data_dir.clone(), args.motion_chance));
    if let Some(data) = &demo {
        crate::demo::prepare(&mut config, data)?;
    }
    init_logging(&config.log.level, &config.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(serve(config, demo.as_ref()));
    if let Some(data) = &demo {
        data.clean_up();
    }
    served
}

fn init_logging(level: &str, format: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(config: hestia_server::Config, demo: Option<&crate::demo::DemoData>) -> Result<()> {
    let domain = config.server.domain.clone();
    let server = hestia_server::Server::start(config.clone()).await?;
    let mut devices = match demo {
        Some(data) => match crate::demo::populate(&server, &domain, data).await {
            Ok(devices) => devices,
            Err(e) => {
                server.shutdown().await;
                return Err(e.context("setting up the demo"));
            }
        },
        None => crate::demo::Devices::new(),
    };
    let demo_banner = demo.map(|d| crate::demo::banner(d, server.http_addr));
    print_banner(&server, &config, &domain, demo_banner.as_deref());
    let token = server.shutdown_token();
    loop {
        tokio::select! {
            _ = shutdown_signal() => { tracing::info!("shutting down"); break }
            _ = token.cancelled() => break,
            Some(done) = devices.join_next() => match done {
                Ok((id, Err(e))) => tracing::warn!(device = %id, error = %e, "a demo device stopped"),
                Ok((id, Ok(()))) => tracing::warn!(device = %id, "a demo device stopped"),
                Err(e) => tracing::warn!(error = %e, "a demo device task failed"),
            },
        }
    }
    devices.shutdown().await;
    server.shutdown().await;
    Ok(())
}

/// Where everything is, on stdout. Written in one go and any failure ignored: a server whose
/// stdout was closed (`hestia serve | head -3`) keeps serving instead of panicking.
fn print_banner(
    server: &hestia_server::Server,
    config: &hestia_server::Config,
    domain: &str,
    demo: Option<&str>,
) {
    use std::fmt::Write as _;
    let data = config.server.data_dir.display();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Hestia IRSP {} for domain {domain}",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        out,
        "  data:        {data} ({} store)",
        server.irsp.store.backend_name()
    );
    if let Some(a) = server.c2s_addr {
        let required = if config.tls.required {
            ", required"
        } else {
            ""
        };
        let _ = writeln!(out, "  XMPP c2s:    {a} (STARTTLS{required})");
    }
    if let Some(a) = server.direct_tls_addr {
        let _ = writeln!(out, "  XMPP TLS:    {a} (direct TLS, XEP-0368)");
    }
    if let Some(p) = &server.proxy {
        let s = &p.streamhost;
        let _ = writeln!(
            out,
            "  SOCKS5:      {}:{} (bytestream proxy {}, XEP-0065)",
            s.host, s.port, s.jid
        );
    }
    if let Some(a) = server.component_addr {
        let _ = writeln!(
            out,
            "  component:   {a} (application servers, XEP-0114; secrets in [component])"
        );
    }
    if let Some(ca) = &server.ca_file {
        let _ = writeln!(out, "  CA to trust: {}", ca.display());
    }
    if let Some(a) = server.http_addr {
        let (scheme, ws) = if server.is_http_tls {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        let _ = writeln!(
            out,
            "  HTTP:        {scheme}://{a}/  (web console /, CUI /cui/v1, admin API /admin/v1, /metrics, /health, /ready)"
        );
        if config.websocket.enabled {
            let _ = writeln!(
                out,
                "  WebSocket:   {ws}://{a}/xmpp-websocket (XMPP over WebSocket, RFC 7395)"
            );
        }
        let _ = writeln!(out, "  admin token: {data}/admin-token");
    }
    match demo {
        Some(lines) => out.push_str(lines),
        None => {
            let _ = writeln!(
                out,
                "Register in-band with any XMPP client (e.g. user alice@{domain}), or: hestia user add alice"
            );
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut stdout, out.as_bytes());
    let _ = std::io::Write::flush(&mut stdout);
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
