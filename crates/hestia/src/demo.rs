//! `hestia serve --demo`: the server with something to look at. Two users (`alice`, `bob`)
//! and four simulated devices (`hestia_client::simulator`) running in this process, connected
//! over the server's own c2s port with its CA as `hestia device simulate` connects them. Alice
//! binds each device with its verification code (14543-5-8 §10, Fig. 5) and so owns them all;
//! bob has asked for the lamp (Fig. 4), so the owner has a request to answer from the console.
//!
//! A demo listens on loopback only. Its data lives in a fresh temporary directory, deleted on
//! exit, unless `--data-dir` names one to keep; every step checks what is already there, so a
//! restart on a kept directory changes nothing.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use hestia_client::simulator::{self, Behaviour, Kind};
use hestia_client::{Bound, ConnectOptions, Connected, Element};
use hestia_features::registration::{NewRegistration, Origin};
use hestia_proto::igrs::NS_RELATION;
use hestia_proto::ns;
use hestia_store::{AccountKind, UserInfo};
use tokio::task::JoinSet;

/// The demo's users and their passwords (printed in the banner: a demo is on loopback only).
pub const USERS: [(&str, &str); 2] = [("alice", "wonderland-1"), ("bob", "builder-123")];
/// The verification code every demo device registers with.
pub const CODE: &str = "123456";
/// The password of every demo device.
const DEVICE_PASSWORD: &str = "simulated-device";
/// Chance per second that the demo camera sees motion, unless `--motion-chance` says: about
/// one event every ten seconds.
pub const MOTION_CHANCE: f64 = 0.1;
/// The device bob has asked for, and the right he asked for.
const BOB_ASKS_FOR: (&str, &str) = ("lamp-1", "control");

/// Where the demo keeps its data, whether it is thrown away on exit, and how its camera behaves.
#[derive(Debug)]
pub struct DemoData {
    pub dir: PathBuf,
    pub is_kept: bool,
    pub motion_chance: f64,
}

impl DemoData {
    /// `kept` when `--data-dir` was given, else a fresh directory under the system's temp dir.
    pub fn choose(kept: Option<PathBuf>, motion_chance: f64) -> DemoData {
        let is_kept = kept.is_some();
        let dir = kept.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("hestia-demo-{:016x}", rand::random::<u64>()))
        });
        DemoData {
            dir,
            is_kept,
            motion_chance,
        }
    }

    /// Removes a throw-away directory (a kept one stays).
    pub fn clean_up(&self) {
        if !self.is_kept
            && let Err(e) = std::fs::remove_dir_all(&self.dir)
        {
            tracing::warn!(error = %e, dir = %self.dir.display(), "demo data not removed");
        }
    }
}

/// Fits the configuration to a demo: its data dir, and every listener on loopback. An
/// unspecified address that is the built-in default (`0.0.0.0:5222`) is narrowed to
/// `127.0.0.1`; any other address off loopback is refused, and so is a disabled c2s or HTTP port.
pub fn prepare(config: &mut hestia_server::Config, data: &DemoData) -> Result<()> {
    config.server.data_dir = data.dir.clone();
    let defaults = hestia_server::Config::default();
    let mut problems = Vec::new();
    let listeners = [
        (
            "c2s.listen",
            &mut config.c2s.listen,
            &defaults.c2s.listen,
            true,
        ),
        (
            "c2s.direct_tls_listen",
            &mut config.c2s.direct_tls_listen,
            &defaults.c2s.direct_tls_listen,
            false,
        ),
        (
            "http.listen",
            &mut config.http.listen,
            &defaults.http.listen,
            true,
        ),
    ];
    for (name, value, default, is_needed) in listeners {
        if let Err(why) = narrow(value, default, is_needed) {
            problems.push(format!("{name} = {value:?}: {why}"));
        }
    }
    if !problems.is_empty() {
        bail!("--demo listens on loopback only: {}", problems.join("; "));
    }
    Ok(())
}

fn narrow(value: &mut String, default: &str, is_needed: bool) -> Result<(), &'static str> {
    if value.is_empty() {
        return if is_needed {
            Err("the demo needs it")
        } else {
            Ok(())
        };
    }
    let mut addr: std::net::SocketAddr = value.parse().map_err(|_| "not an address")?;
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if addr.ip().is_unspecified() && value == default {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        *value = addr.to_string();
        return Ok(());
    }
    Err("not a loopback address")
}

/// The demo's simulated devices, running until the set is dropped or shut down.
pub type Devices = JoinSet<(String, Result<(), hestia_client::ClientError>)>;

/// Creates what is missing (users, devices, alice's ownership, bob's request) and starts the
/// simulated devices.
pub async fn populate(
    server: &hestia_server::Server,
    domain: &str,
    data: &DemoData,
) -> Result<Devices> {
    for (name, password) in USERS {
        ensure_user(server, name, password).await?;
    }
    let c2s = server.c2s_addr.context("the demo needs c2s.listen")?;
    let ca = server
        .ca_file
        .as_ref()
        .context("the demo needs the generated CA")?;
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let opts = ConnectOptions::new(c2s, domain.to_owned()).with_ca_pem(pem);
    let behaviour = Behaviour {
        motion_chance: data.motion_chance,
        ..Behaviour::default()
    };
    let mut devices = Devices::new();
    for kind in Kind::ALL {
        let id = device_id(kind);
        let device = simulator::start(opts.clone(), kind, &id, DEVICE_PASSWORD, 1, CODE)
            .await
            .with_context(|| format!("starting the simulated {id}"))?;
        devices.spawn(async move { (id, simulator::run(device, kind, behaviour).await) });
    }
    bind_to_alice(server, &opts).await?;
    bob_asks(server, &opts).await?;
    Ok(devices)
}

/// `lamp-1`, `thermostat-1`, …
pub fn device_id(kind: Kind) -> String {
    format!("{}-1", kind.name())
}

async fn ensure_user(server: &hestia_server::Server, name: &str, password: &str) -> Result<()> {
    if server.irsp.store.account(name).await?.is_some() {
        return Ok(());
    }
    let registration = NewRegistration {
        username: name.to_owned(),
        password: password.to_owned(),
        kind: AccountKind::User,
        user: UserInfo::default(),
        device: None,
        verification_code: None,
        invitation: None,
    };
    server
        .registrar
        .register(&server.irsp, registration, Origin::Admin)
        .await
        .map_err(|s| anyhow::anyhow!("registering demo user {name}: {}", s.meaning()))?;
    Ok(())
}

/// Alice binds every device she does not hold yet with its code, as a user's app does. A
/// device she already relates to is left alone (its code may have been reset since).
async fn bind_to_alice(server: &hestia_server::Server, opts: &ConnectOptions) -> Result<()> {
    let irsp = &server.irsp;
    let alice = irsp.relations.snapshot(&irsp.store, USERS[0].0).await?;
    let missing: Vec<String> = Kind::ALL
        .into_iter()
        .map(device_id)
        .filter(|d| alice.right(d).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut session = login(opts, USERS[0]).await?;
    let domain = opts.domain.clone();
    for device in missing {
        let relate = Element::new("relate", NS_RELATION)
            .with_attr("device", format!("{device}@{domain}"))
            .with_child(Element::new("code", NS_RELATION).with_text(CODE));
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("to", domain.clone())
            .with_child(relate);
        let answer = session.iq(iq).await?;
        if answer.attr("type") != Some("result") {
            bail!("alice could not bind {device}: {answer}");
        }
    }
    session.close().await?;
    Ok(())
}

/// Bob asks for the lamp (a subscription request naming a right) unless he relates to it
/// already or his request is still pending.
async fn bob_asks(server: &hestia_server::Server, opts: &ConnectOptions) -> Result<()> {
    let (device, right) = BOB_ASKS_FOR;
    let irsp = &server.irsp;
    let lamp = irsp.relations.snapshot(&irsp.store, device).await?;
    let has_asked = lamp
        .item(USERS[1].0)
        .is_some_and(|i| i.pending_in.is_some());
    if lamp.right(USERS[1].0).is_some() || has_asked {
        return Ok(());
    }
    let mut session = login(opts, USERS[1]).await?;
    let request = Element::new("presence", ns::CLIENT)
        .with_attr("to", format!("{device}@{}", opts.domain))
        .with_attr("type", "subscribe")
        .with_child(Element::new("relation", NS_RELATION).with_attr("right", right));
    session.send(&request).await?;
    // A round trip after the request: the server has handled it once this is answered.
    session.ping().await?;
    session.close().await?;
    Ok(())
}

async fn login(opts: &ConnectOptions, (name, password): (&str, &str)) -> Result<Bound> {
    let session = Connected::connect(opts)
        .await?
        .authenticate(name, password)
        .await?
        .bind(None)
        .await?;
    Ok(session)
}

/// The banner's demo lines.
pub fn banner(data: &DemoData, http: Option<std::net::SocketAddr>) -> String {
    let devices: Vec<String> = Kind::ALL.into_iter().map(device_id).collect();
    let kept = if data.is_kept {
        "kept"
    } else {
        "deleted on exit; --data-dir keeps it"
    };
    let console = http.map_or_else(|| "(HTTP disabled)".to_owned(), |a| format!("http://{a}/"));
    let (alice, bob) = (USERS[0], USERS[1]);
    format!(
        "Demo ({kept}):\n  console:     {console}\n  users:       {} / {} (owns every device), {} / {} (has asked for {} at {})\n  devices:     {} (simulated, verification code {CODE})\n",
        alice.0,
        alice.1,
        bob.0,
        bob.1,
        BOB_ASKS_FOR.0,
        BOB_ASKS_FOR.1,
        devices.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_listeners_stay_on_loopback() {
        let cases = [
            ("127.0.0.1:5222", "0.0.0.0:5222", true, Ok("127.0.0.1:5222")),
            ("0.0.0.0:5222", "0.0.0.0:5222", true, Ok("127.0.0.1:5222")),
            ("[::1]:5222", "0.0.0.0:5222", true, Ok("[::1]:5222")),
            (
                "0.0.0.0:0",
                "127.0.0.1:5280",
                true,
                Err("not a loopback address"),
            ),
            (
                "192.168.1.5:5222",
                "0.0.0.0:5222",
                true,
                Err("not a loopback address"),
            ),
            ("", "0.0.0.0:5223", false, Ok("")),
            ("", "127.0.0.1:5280", true, Err("the demo needs it")),
        ];
        for (value, default, is_needed, want) in cases {
            let mut v = value.to_owned();
            let got = narrow(&mut v, default, is_needed).map(|()| v.as_str());
            assert_eq!(got, want, "{value}");
        }
    }
}
