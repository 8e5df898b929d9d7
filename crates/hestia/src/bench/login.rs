//! The login storm and the idle-connection memory scenario.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use super::procfs::{Sample, self_cpu_seconds};
use super::stats::{Latencies, ratio, round1, run_jobs};
use super::{AccountArgs, Target, accounts, full_login, report};

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    target: Target,
    /// Number of logins (one per account).
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Logins in flight at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    #[command(flatten)]
    accounts: AccountArgs,
}

#[derive(Debug, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    target: Target,
    /// Connections to open and hold (one per account).
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Logins in flight at once while opening them.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// How long to wait after the last login before reading the server's RSS.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    settle: Duration,
    #[command(flatten)]
    accounts: AccountArgs,
}

fn sample(target: &Target) -> Result<Option<Sample>> {
    target.probe().map(|p| p.sample()).transpose()
}

pub async fn run_login(args: LoginArgs) -> Result<()> {
    let t = &args.target;
    accounts::ensure(t, &args.accounts, args.users).await?;
    let opts = t.options()?;
    let before = sample(t)?;
    let gen_before = self_cpu_seconds();
    let started = Instant::now();
    let password = t.password.clone();
    let tc = t.clone();
    let results = run_jobs("logging in", args.users, args.concurrency, move |i| {
        let (opts, user, password) = (opts.clone(), tc.user(i), password.clone());
        async move {
            let t0 = Instant::now();
            let bound = full_login(&opts, &user, &password).await;
            let elapsed = t0.elapsed();
            match bound {
                Ok((bound, mechanism)) => {
                    // Done once the ping is answered; the close is not waited for.
                    let (sender, _receiver) = bound.into_split();
                    let _ = sender.close().await;
                    Ok((elapsed.as_nanos() as u64, mechanism.name()))
                }
                Err(e) => Err(format!("{e:#}")),
            }
        }
    })
    .await;
    let wall = started.elapsed().as_secs_f64();
    let after = sample(t)?;
    let gen_cpu = self_cpu_seconds() - gen_before;
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    let mut mechanism = "";
    for r in results {
        match r {
            Ok((ns, m)) => {
                latencies.push(ns);
                mechanism = m;
            }
            Err(e) => errors.push(e),
        }
    }
    let ok = latencies.len();
    let latencies = Latencies::new(latencies);
    let server_cpu = match (before, after) {
        (Some(b), Some(a)) => Some(a.cpu_seconds - b.cpu_seconds),
        _ => None,
    };
    let rate = ok as f64 / wall;
    let per_cpu = server_cpu.map(|c| ratio(ok as f64, c));
    let mut summary = format!(
        "login: {ok}/{} logins ({mechanism}) in {wall:.2} s = {rate:.0} logins/s (concurrency {}); latency {}\n  generator CPU {:.0}% of a core",
        args.users,
        args.concurrency,
        latencies.summary(),
        100.0 * gen_cpu / wall,
    );
    if let (Some(c), Some(p)) = (server_cpu, per_cpu) {
        summary.push_str(&format!(
            "; server CPU {c:.2} s ({:.0}% of a core) = {p:.0} logins per server-CPU-second",
            100.0 * c / wall
        ));
    }
    if let Some(e) = errors.first() {
        summary.push_str(&format!("\n  {} failed; first: {e}", errors.len()));
    }
    report(
        t,
        &summary,
        json!({
            "scenario": "login",
            "users": args.users,
            "concurrency": args.concurrency,
            "mechanism": mechanism,
            "ok": ok,
            "failed": errors.len(),
            "first_error": errors.first(),
            "seconds": round1(wall),
            "logins_per_sec": round1(rate),
            "server_cpu_seconds": server_cpu,
            "server_cpu_util": server_cpu.map(|c| round1(100.0 * c / wall)),
            "logins_per_server_cpu_sec": per_cpu.map(round1),
            "generator_cpu_util": round1(100.0 * gen_cpu / wall),
            "latency": latencies.to_json(),
        }),
    );
    if !errors.is_empty() {
        bail!("{} logins failed", errors.len());
    }
    Ok(())
}

pub async fn run_idle(args: IdleArgs) -> Result<()> {
    let t = &args.target;
    if t.server_pid.is_none() {
        bail!("idle needs --server-pid to read the server's RSS");
    }
    accounts::ensure(t, &args.accounts, args.users).await?;
    let opts = t.options()?;
    let before = sample(t)?.unwrap_or_default();
    let started = Instant::now();
    let password = t.password.clone();
    let tc = t.clone();
    let results = run_jobs("connecting", args.users, args.concurrency, move |i| {
        let (opts, user, password) = (opts.clone(), tc.user(i), password.clone());
        async move {
            full_login(&opts, &user, &password)
                .await
                .map(|(b, _)| b)
                .map_err(|e| format!("{e:#}"))
        }
    })
    .await;
    let login_seconds = started.elapsed().as_secs_f64();
    let mut held = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(b) => held.push(b),
            Err(e) => errors.push(e),
        }
    }
    tokio::time::sleep(args.settle).await;
    let after = sample(t)?.unwrap_or_default();
    let n = held.len();
    let grown = after.rss_kib as f64 - before.rss_kib as f64;
    let per_conn = ratio(grown, n as f64);
    let mut summary = format!(
        "idle: {n}/{} authenticated connections held ({}), opened in {login_seconds:.1} s; server RSS {} → {} KiB = {per_conn:.1} KiB per connection",
        args.users,
        if t.is_tls() { "TLS" } else { "no TLS" },
        before.rss_kib,
        after.rss_kib,
    );
    if let Some(e) = errors.first() {
        summary.push_str(&format!("\n  {} failed; first: {e}", errors.len()));
    }
    report(
        t,
        &summary,
        json!({
            "scenario": "idle",
            "users": args.users,
            "connections": n,
            "failed": errors.len(),
            "first_error": errors.first(),
            "settle_seconds": args.settle.as_secs_f64(),
            "rss_kib_before": before.rss_kib,
            "rss_kib_after": after.rss_kib,
            "server_processes": after.processes,
            "kib_per_connection": round1(per_conn),
            "login_seconds": round1(login_seconds),
        }),
    );
    drop(held);
    if !errors.is_empty() {
        bail!("{} connections failed", errors.len());
    }
    Ok(())
}
