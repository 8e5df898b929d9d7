//! Creating the benchmark accounts: XEP-0077 in-band registration (works against Hestia,
//! Prosody and ejabberd once registration is open) or Hestia's admin API. Servers hash each
//! password with PBKDF2, so thousands of accounts take a while: they are created once per server
//! run, a bounded number at a time, with a progress line.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use hestia_client::{ConnectOptions, Connected};
use hestia_proto::StanzaErrorCondition;
use serde_json::json;

use super::stats::{round1, run_jobs};
use super::{AccountArgs, RegisterVia, Target, report};

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    target: Target,
    /// How many accounts (PREFIX{first-user} …).
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// How to create them.
    #[arg(long, value_enum, default_value = "inband")]
    via: RegisterVia,
    #[command(flatten)]
    accounts: AccountArgs,
}

/// What became of one registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Existed,
    Failed,
}

/// Totals of a registration run.
#[derive(Debug, Default)]
pub struct Created {
    pub created: usize,
    pub existed: usize,
    pub failed: usize,
    pub seconds: f64,
    pub first_error: Option<String>,
}

pub async fn run(args: RegisterArgs) -> Result<()> {
    let mut accounts = args.accounts.clone();
    accounts.register = args.via;
    let c = ensure(&args.target, &accounts, args.users).await?;
    let rate = c.created as f64 / c.seconds.max(1e-9);
    let summary = format!(
        "register: {} created, {} existed, {} failed in {:.1} s ({rate:.0} registrations/s){}",
        c.created,
        c.existed,
        c.failed,
        c.seconds,
        c.first_error
            .as_ref()
            .map(|e| format!("; first error: {e}"))
            .unwrap_or_default()
    );
    report(
        &args.target,
        &summary,
        json!({
            "scenario": "register",
            "users": args.users,
            "created": c.created,
            "existed": c.existed,
            "failed": c.failed,
            "seconds": round1(c.seconds),
            "registrations_per_sec": round1(rate),
            "first_error": c.first_error,
        }),
    );
    if c.failed > 0 {
        bail!("{} registrations failed", c.failed);
    }
    Ok(())
}

/// Makes sure accounts 0..n of `target` exist, as `accounts.register` says.
pub async fn ensure(target: &Target, accounts: &AccountArgs, n: usize) -> Result<Created> {
    let started = Instant::now();
    let outcomes: Vec<(Outcome, Option<String>)> = match accounts.register {
        RegisterVia::None => return Ok(Created::default()),
        RegisterVia::Inband => {
            let opts = target.options()?;
            let (t, opts) = (target.clone(), opts);
            run_jobs("registering", n, accounts.register_concurrency, move |i| {
                let (user, password, opts) = (t.user(i), t.password.clone(), opts.clone());
                async move { inband(&opts, &user, &password).await }
            })
            .await
        }
        RegisterVia::Admin => {
            let token = accounts
                .admin_token
                .clone()
                .context("--register admin needs --admin-token or HESTIA_ADMIN_TOKEN")?;
            let url = format!(
                "{}/admin/v1/users",
                accounts.admin_url.trim_end_matches('/')
            );
            let t = target.clone();
            run_jobs("registering", n, accounts.register_concurrency, move |i| {
                let (user, password) = (t.user(i), t.password.clone());
                let (url, token) = (url.clone(), token.clone());
                async move {
                    tokio::task::spawn_blocking(move || admin(&url, &token, &user, &password))
                        .await
                        .unwrap_or_else(|e| (Outcome::Failed, Some(e.to_string())))
                }
            })
            .await
        }
    };
    let mut c = Created {
        seconds: started.elapsed().as_secs_f64(),
        ..Created::default()
    };
    for (outcome, error) in outcomes {
        match outcome {
            Outcome::Created => c.created += 1,
            Outcome::Existed => c.existed += 1,
            Outcome::Failed => {
                c.failed += 1;
                c.first_error = c.first_error.or(error);
            }
        }
    }
    Ok(c)
}

async fn inband(opts: &ConnectOptions, user: &str, password: &str) -> (Outcome, Option<String>) {
    let result = async {
        let mut connected = Connected::connect(opts).await?;
        connected.register(user, password, Vec::new()).await
    }
    .await;
    match result {
        Ok(_) => (Outcome::Created, None),
        Err(e) if e.stanza_condition() == Some(StanzaErrorCondition::Conflict) => {
            (Outcome::Existed, None)
        }
        Err(e) => (Outcome::Failed, Some(format!("{user}: {e}"))),
    }
}

fn admin(url: &str, token: &str, user: &str, password: &str) -> (Outcome, Option<String>) {
    let result = ureq::post(url)
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(json!({ "username": user, "password": password }));
    match result {
        Ok(_) => (Outcome::Created, None),
        Err(ureq::Error::Status(409, _)) => (Outcome::Existed, None),
        Err(e) => (Outcome::Failed, Some(format!("{user}: {e}"))),
    }
}
