//! `hestia serve`: runs the server until SIGINT/SIGTERM, then shuts down gracefully.

use anyhow::Result;
use tracing_subscriber::EnvFilter;

use crate::ConfigArgs;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let config = args.config.load()?;
    init_logging(&config.log.level, &config.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(config))
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

async fn serve(config: hestia_server::Config) -> Result<()> {
    let domain = config.server.domain.clone();
    let server = hestia_server::Server::start(config.clone()).await?;
    print_banner(&server, &config, &domain);
    let token = server.shutdown_token();
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down"),
        _ = token.cancelled() => {}
    }
    server.shutdown().await;
    Ok(())
}

fn print_banner(server: &hestia_server::Server, config: &hestia_server::Config, domain: &str) {
    let data = config.server.data_dir.display();
    println!(
        "Hestia IRSP {} for domain {domain}",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "  data:        {data} ({} store)",
        server.irsp.store.backend_name()
    );
    if let Some(a) = server.c2s_addr {
        println!(
            "  XMPP c2s:    {a} (STARTTLS{})",
            if config.tls.required {
                ", required"
            } else {
                ""
            }
        );
    }
    if let Some(a) = server.direct_tls_addr {
        println!("  XMPP TLS:    {a} (direct TLS, XEP-0368)");
    }
    if let Some(ca) = &server.ca_file {
        println!("  CA to trust: {}", ca.display());
    }
    if let Some(a) = server.http_addr {
        println!("  HTTP:        http://{a}/  (admin API /admin/v1, /metrics, /health, /ready)");
        println!("  admin token: {data}/admin-token");
    }
    println!(
        "Register in-band with any XMPP client (e.g. user alice@{domain}), or: hestia user add alice"
    );
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
