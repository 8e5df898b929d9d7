//! `hestia device simulate`: simulated devices (`hestia_client::simulator`) against a running
//! server — registered on first use, then logged in, describing themselves, answering and
//! publishing until interrupted.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use hestia_client::ConnectOptions;
use hestia_client::simulator::{self, Behaviour, Kind};

use crate::ConfigArgs;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// lamp, thermostat, plug or camera-motion.
    #[arg(long)]
    kind: String,
    /// How many devices; ids are <prefix>-1 … <prefix>-N.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Id prefix (default: the kind).
    #[arg(long)]
    prefix: Option<String>,
    /// Password of every simulated device (registered with it on first use).
    #[arg(
        long,
        env = "HESTIA_SIM_PASSWORD",
        hide_env_values = true,
        default_value = "simulated-device"
    )]
    password: String,
    /// Initial verification code they register with (a user binds with it).
    #[arg(long, default_value = "123456")]
    code: String,
    /// Delay every answer by this much, like a slow device (e.g. 3s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    slow: Duration,
    /// Chance per second that an armed camera sees motion.
    #[arg(long, default_value_t = 0.05)]
    motion_chance: f64,
    /// Server address (default: c2s.listen of the configuration, on loopback).
    #[arg(long)]
    server: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run(args: SimulateArgs) -> Result<()> {
    let Some(kind) = Kind::parse(&args.kind) else {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        bail!("unknown kind {:?}; one of {}", args.kind, kinds.join(", "));
    };
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let opts = connect_options(&args.config, args.server.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(simulate(args, kind, opts))
}

/// Client options for the server the configuration describes (its CA, domain and c2s port,
/// on loopback), or for `server` when given.
pub fn connect_options(config: &ConfigArgs, server: Option<&str>) -> Result<ConnectOptions> {
    let config = config.load()?;
    let listen = server
        .map(str::to_owned)
        .unwrap_or_else(|| config.c2s.listen.replace("0.0.0.0", "127.0.0.1"));
    let addr = listen
        .parse()
        .with_context(|| format!("server address {listen:?}"))?;
    let ca = config.server.data_dir.join("ca.pem");
    let pem = std::fs::read(&ca).with_context(|| {
        format!(
            "reading {} (is the server running with this data dir?)",
            ca.display()
        )
    })?;
    Ok(ConnectOptions::new(addr, config.server.domain.clone()).with_ca_pem(pem))
}

async fn simulate(args: SimulateArgs, kind: Kind, opts: ConnectOptions) -> Result<()> {
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| kind.name().to_owned());
    let behaviour = Behaviour {
        response_delay: args.slow,
        motion_chance: args.motion_chance,
        ..Behaviour::default()
    };
    let mut devices = tokio::task::JoinSet::new();
    for n in 1..=args.count {
        let id = format!("{prefix}-{n}");
        let device = simulator::start(opts.clone(), kind, &id, &args.password, n, &args.code)
            .await
            .with_context(|| format!("starting {id}"))?;
        eprintln!(
            "[{n}/{}] {id} online as {}",
            args.count,
            device.jid().map(ToString::to_string).unwrap_or_default()
        );
        devices.spawn(async move { (id, simulator::run(device, kind, behaviour).await) });
    }
    eprintln!(
        "{} simulated {} device(s) running; Ctrl-C stops them",
        args.count,
        kind.name()
    );
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            done = devices.join_next() => match done {
                Some(Ok((id, Err(e)))) => eprintln!("{id} stopped: {e}"),
                Some(Ok((id, Ok(())))) => eprintln!("{id} stopped"),
                Some(Err(e)) => eprintln!("a device task failed: {e}"),
                None => bail!("every simulated device stopped"),
            },
        }
    }
}
