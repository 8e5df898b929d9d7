//! `hestia bench`: a load generator for any XMPP server (Hestia, Prosody, ejabberd), used by
//! `bench/run.sh` to produce `docs/benchmarks.md`.
//!
//! Every scenario logs in with the client SDK (`hestia-client`), so what is measured is a
//! real RFC 6120 client: TCP (optionally STARTTLS), SASL, resource binding, initial presence
//! and a XEP-0199 ping. Given `--server-pid`, the CPU time (utime + stime from `/proc`) and RSS
//! of the server's process tree are sampled around the measured window so that results can be
//! reported per server-CPU-second, which is far more stable on a shared machine than raw rates.
//!
//! Scenarios that exchange stanzas relate their accounts first (mutual RFC 6121 roster
//! subscriptions, `relate`): Hestia routes stanzas only between related accounts, and every
//! server sends presence only across subscriptions.

mod accounts;
mod login;
mod offline;
mod presence;
mod procfs;
mod relate;
mod stats;
mod traffic;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use hestia_client::{Bound, ConnectOptions, Connected, Mechanism, Transport};
use serde_json::Value;

pub use procfs::ServerProbe;

/// `hestia bench [--threads N] <scenario> …`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Worker threads of the generator's tokio runtime (default: the CPUs this process may
    /// run on, so 1 under `taskset -c 1`).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Create the accounts bench0 … bench{N-1} (XEP-0077 in-band registration or Hestia's admin
    /// API); accounts that already exist count as done.
    Register(accounts::RegisterArgs),
    /// Login storm: N full logins (connect, SASL, bind, presence, ping answered), C at a time.
    Login(login::LoginArgs),
    /// Idle connections: open N authenticated connections, wait, report server RSS per connection.
    Idle(login::IdleArgs),
    /// Message routing between pairs, K in flight per sender, both directions; latency from a
    /// timestamp in the body; loss must be 0.
    Messages(traffic::TrafficArgs),
    /// As `messages`, with XEP-0198 stream management enabled on every client and every ack
    /// request answered: the cost of SM on routing throughput.
    MessagesSm(traffic::TrafficArgs),
    /// IQ round trips (XEP-0199 ping) between the two clients of each pair, both directions.
    Iq(traffic::TrafficArgs),
    /// Presence fan-out: N users each with R related devices online; each user broadcasts
    /// presence updates, K in flight (one completes when all R devices have it); deliveries per
    /// server-CPU-second and latency; then the time until every device sees a user
    /// `unavailable` after its TCP connection is dropped. With `--via multicast` each update is
    /// one XEP-0033 message addressed to all R devices (server-side fan-out), with `--via
    /// messages` R single messages from the client.
    Presence(presence::PresenceArgs),
    /// Offline store-and-forward: P senders store M messages each for an offline receiver,
    /// which then logs in and must get every one exactly once; messages stored and delivered
    /// per server-CPU-second.
    Offline(offline::OfflineArgs),
}

/// Which server to load and how to log in to it.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The server's c2s address.
    #[arg(long, default_value = "127.0.0.1:5222")]
    pub addr: SocketAddr,
    /// The XMPP domain (stream `to`, account domain, TLS server name).
    #[arg(long, default_value = "localhost")]
    pub domain: String,
    /// Secure each connection with STARTTLS (needs --ca).
    #[arg(long, overrides_with = "no_tls")]
    pub tls: bool,
    /// Plaintext streams (the default; the server must allow it, loopback benchmarks only).
    #[arg(long, overrides_with = "tls")]
    pub no_tls: bool,
    /// PEM file of the CA that issued the server's certificate (with --tls).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Force a SASL mechanism (e.g. PLAIN, SCRAM-SHA-1); default: the best one offered.
    #[arg(long)]
    pub mechanism: Option<String>,
    /// Account names are PREFIX0, PREFIX1, …
    #[arg(long, default_value = "bench")]
    pub user_prefix: String,
    /// Password of every benchmark account.
    #[arg(long, default_value = "bench-password")]
    pub password: String,
    /// Number of the first account used.
    #[arg(long, default_value_t = 0)]
    pub first_user: usize,
    /// Limit for each protocol step of a login.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub step_timeout: Duration,
    /// PID of the server: its process tree's CPU time and RSS are sampled from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print one JSON object on stdout (the human summary goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Label stored in the JSON output (e.g. the server's name).
    #[arg(long, default_value = "")]
    pub label: String,
}

/// How the accounts a scenario needs are created before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegisterVia {
    /// Accounts exist already (`hestia bench register` ran before).
    None,
    /// XEP-0077 in-band registration (Prosody, ejabberd and Hestia when registration is open).
    Inband,
    /// Hestia's admin HTTP API (POST /admin/v1/users).
    Admin,
}

/// Account creation options shared by every scenario.
#[derive(Debug, Clone, Args)]
pub struct AccountArgs {
    /// Create the scenario's accounts first (outside the measured window).
    #[arg(long, value_enum, default_value = "none")]
    pub register: RegisterVia,
    /// Registrations in flight at once.
    #[arg(long, default_value_t = 20)]
    pub register_concurrency: usize,
    /// Hestia admin API base URL (for --register admin).
    #[arg(long, default_value = "http://127.0.0.1:5280")]
    pub admin_url: String,
    /// Hestia admin token (for --register admin).
    #[arg(long, env = "HESTIA_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

impl Target {
    /// Client options for one connection.
    pub fn options(&self) -> Result<ConnectOptions> {
        let is_tls = self.tls && !self.no_tls;
        let mut opts = ConnectOptions::new(self.addr, self.domain.clone())
            .with_timeout(self.step_timeout)
            .with_transport(if is_tls {
                Transport::StartTls
            } else {
                Transport::Plain
            });
        if is_tls {
            let ca = self
                .ca
                .as_ref()
                .context("--tls needs --ca FILE (the PEM of the server's CA)")?;
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            opts = opts.with_ca_pem(pem);
        }
        if let Some(name) = &self.mechanism {
            let Some(m) = Mechanism::from_name(&name.to_ascii_uppercase()) else {
                bail!("unknown SASL mechanism {name:?}");
            };
            opts = opts.with_mechanism(m);
        }
        Ok(opts)
    }

    pub fn is_tls(&self) -> bool {
        self.tls && !self.no_tls
    }

    pub fn user(&self, i: usize) -> String {
        format!("{}{}", self.user_prefix, self.first_user + i)
    }

    pub fn probe(&self) -> Option<ServerProbe> {
        self.server_pid.map(ServerProbe::new)
    }
}

/// A complete login as the benchmark counts it: connect, SASL, bind, initial presence, and a
/// ping answered by the server (so the server has finished processing the presence).
pub async fn full_login(
    opts: &ConnectOptions,
    user: &str,
    password: &str,
) -> Result<(Bound, Mechanism)> {
    let connected = Connected::connect(opts)
        .await
        .with_context(|| format!("{user}: connect"))?;
    let authenticated = connected
        .authenticate(user, password)
        .await
        .with_context(|| format!("{user}: SASL"))?;
    let mechanism = authenticated.mechanism();
    let mut bound = authenticated
        .bind(None)
        .await
        .with_context(|| format!("{user}: bind"))?;
    bound
        .send_presence()
        .await
        .with_context(|| format!("{user}: presence"))?;
    bound
        .ping()
        .await
        .with_context(|| format!("{user}: ping"))?;
    Ok((bound, mechanism))
}

/// Nanoseconds since the first call in this process: the clock of message timestamps.
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Prints the JSON (stdout) and the human summary (stderr with --json, else stdout).
pub fn report(target: &Target, summary: &str, mut json: Value) {
    if let Value::Object(map) = &mut json {
        map.insert("label".into(), Value::String(target.label.clone()));
        map.insert("tls".into(), Value::Bool(target.is_tls()));
        map.insert("addr".into(), Value::String(target.addr.to_string()));
    }
    if target.json {
        eprintln!("{summary}");
        println!("{json}");
    } else {
        println!("{summary}");
    }
}

pub fn run(args: BenchArgs) -> Result<()> {
    let threads = args
        .threads
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    now_ns();
    runtime.block_on(async move {
        match args.scenario {
            Scenario::Register(a) => accounts::run(a).await,
            Scenario::Login(a) => login::run_login(a).await,
            Scenario::Idle(a) => login::run_idle(a).await,
            Scenario::Messages(a) => traffic::run(a, traffic::Kind::Messages).await,
            Scenario::MessagesSm(a) => traffic::run(a, traffic::Kind::MessagesSm).await,
            Scenario::Iq(a) => traffic::run(a, traffic::Kind::Iq).await,
            Scenario::Presence(a) => presence::run(a).await,
            Scenario::Offline(a) => offline::run(a).await,
        }
    })
}
