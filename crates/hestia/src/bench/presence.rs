//! Presence fan-out: N users each with R related devices online; presence updates delivered
//! per server-CPU-second, and the latency of the unavailable broadcast after a TCP drop.
//!
//! Accounts: user i is PREFIX{first-user + i} (i < N); its devices are the block after the
//! users, PREFIX{first-user + N + i·R + j} (j < R). All are ordinary accounts.
//!
//! Timeline: all N·(1+R) clients log in (initial presence included) and each user is related
//! to each of its devices (mutual roster subscriptions, see `relate`). Each user then
//! broadcasts `<presence><status>{seq} {now_ns}</status></presence>` with K updates in flight,
//! an update being complete when all R devices have received it; every device counts its
//! deliveries and the latency from the timestamp. After `--warmup` the measured window of
//! `--duration` begins (server and generator CPU sampled at both ends; deliveries received
//! inside it count towards rates and latencies); then the users stop, the generator waits for
//! what is in flight, and lost = R·updates − deliveries overall.
//!
//! Last, D users spread over the N have their TCP connection dropped, one after another:
//! the client's socket is closed with no `</stream:stream>` and no unavailable presence
//! (dropping a [`Bound`] does exactly that), as when a device loses power or network. The
//! time from the drop until all R of the user's devices have received
//! `<presence type='unavailable'/>` from it is the unavailable latency.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use hestia_client::{Bound, ClientError, Element};
use hestia_proto::ns;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::procfs::{Sample, self_cpu_seconds};
use super::stats::{Latencies, Tally, ratio, round1, round3, run_jobs};
use super::{AccountArgs, Target, accounts, full_login, now_ns, relate, report};

#[derive(Debug, Args)]
pub struct PresenceArgs {
    #[command(flatten)]
    target: Target,
    /// Users (accounts PREFIX{first-user} … PREFIX{first-user+N-1}), each broadcasting
    /// presence updates.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Related devices per user, all online; user i's are PREFIX{first-user+N+i·R} onwards.
    #[arg(long, default_value_t = 10)]
    devices_per_user: usize,
    /// Presence updates in flight per user (one completes when all its devices have it).
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Length of the measured window.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Traffic before the measured window starts.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// How long to wait for updates still in flight after the users stop.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// Logins (and relationship handshakes) in flight at once while setting up.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Users whose TCP connection is dropped after the traffic, one after another, to time the
    /// unavailable broadcast to their devices (0 = skip).
    #[arg(long, default_value_t = 10)]
    drops: usize,
    /// How long each drop waits for all the user's devices to see it unavailable.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    drop_timeout: Duration,
    /// How an update reaches the devices: a presence broadcast; one XEP-0033 message addressed
    /// to all of them (multicast fan-out, expanded by the server); or one message per device
    /// sent by the user's client (the same fan-out done the naive way).
    #[arg(long, value_enum, default_value = "presence")]
    via: Via,
    /// Where XEP-0033 messages go: the server's domain (Hestia) by default; ejabberd's
    /// mod_multicast serves multicast.DOMAIN.
    #[arg(long)]
    multicast_service: Option<String>,
    #[command(flatten)]
    accounts: AccountArgs,
}

/// How an update travels from a user to its devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    Presence,
    Multicast,
    Messages,
}

impl Via {
    fn scenario(self) -> &'static str {
        match self {
            Via::Presence => "presence",
            Via::Multicast => "multicast",
            Via::Messages => "fanout",
        }
    }
}

/// One user, as its devices see it.
struct User {
    bare: String,
    /// Its devices' bare JIDs (the addresses of a multicast or client-side fan-out).
    devices: Vec<String>,
    /// Updates the user may still send before one completes.
    window: Semaphore,
    /// Deliveries so far of each update in flight, by sequence number.
    pending: Mutex<HashMap<u64, usize>>,
    /// Devices that have received the user's unavailable presence, and when the last did.
    unavailable_seen: AtomicUsize,
    unavailable_last_ns: AtomicU64,
}

impl User {
    /// One device received update `seq`; the last of `devices` to do so completes it.
    fn delivered(&self, seq: u64, devices: usize) {
        let is_complete = {
            let mut pending = match self.pending.lock() {
                Ok(p) => p,
                Err(poisoned) => poisoned.into_inner(),
            };
            let count = pending.entry(seq).or_insert(0);
            *count += 1;
            let is_complete = *count >= devices;
            if is_complete {
                pending.remove(&seq);
            }
            is_complete
        };
        if is_complete {
            self.window.add_permits(1);
        }
    }
}

/// What a device task hands back.
struct DeviceResult {
    latencies: Vec<u64>,
    error: Option<String>,
}

pub async fn run(args: PresenceArgs) -> Result<()> {
    let t = &args.target;
    let (n, r) = (args.users, args.devices_per_user);
    if n == 0 || r == 0 || args.in_flight == 0 {
        bail!("--users, --devices-per-user and --in-flight must be at least 1");
    }
    let clients = n * (1 + r);
    accounts::ensure(t, &args.accounts, clients).await?;
    let opts = t.options()?;
    let (tc, password) = (t.clone(), t.password.clone());
    let sessions = run_jobs("connecting", clients, args.concurrency, move |i| {
        let (opts, user, password) = (opts.clone(), tc.user(i), password.clone());
        async move { full_login(&opts, &user, &password).await.map(|(b, _)| b) }
    })
    .await;
    let mut bound = Vec::with_capacity(clients);
    for s in sessions {
        bound.push(s?);
    }
    let mut it = bound.into_iter();
    let users: Vec<Bound> = it.by_ref().take(n).collect();
    let groups: Vec<relate::Group> = users
        .into_iter()
        .map(|u| (u, it.by_ref().take(r).collect()))
        .collect();
    let (groups, relating) =
        relate::relate_groups(groups, args.concurrency, t.step_timeout).await?;
    eprintln!("{}", relating.summary());

    let start = now_ns();
    let shared = Arc::new(Tally::new(start, args.warmup, args.duration));
    let stop = CancellationToken::new();
    let done = CancellationToken::new();
    let mut states = Vec::with_capacity(n);
    let mut user_tasks = JoinSet::new();
    let mut device_tasks = JoinSet::new();
    let route = Arc::new(Route {
        via: args.via,
        service: args
            .multicast_service
            .clone()
            .unwrap_or_else(|| t.domain.clone()),
    });
    for (i, (session, devices)) in groups.into_iter().enumerate() {
        let state = Arc::new(User {
            bare: session.jid().to_bare().to_string(),
            devices: devices
                .iter()
                .map(|d| d.jid().to_bare().to_string())
                .collect(),
            window: Semaphore::new(args.in_flight),
            pending: Mutex::new(HashMap::new()),
            unavailable_seen: AtomicUsize::new(0),
            unavailable_last_ns: AtomicU64::new(0),
        });
        for d in devices {
            device_tasks.spawn(device(d, state.clone(), r, shared.clone(), done.clone()));
        }
        let (state2, shared2, stop2) = (state.clone(), shared.clone(), stop.clone());
        let route = route.clone();
        user_tasks.spawn(async move {
            let (session, error) = user(session, state2, &route, shared2, stop2).await;
            (i, session, error)
        });
        states.push(state);
    }

    let probe = t.probe();
    let at =
        |ns: u64| tokio::time::Instant::now() + Duration::from_nanos(ns.saturating_sub(now_ns()));
    tokio::time::sleep_until(at(shared.window_start_ns)).await;
    let server_before = probe.map(|p| p.sample()).transpose()?;
    let gen_before = self_cpu_seconds();
    let wall_start = Instant::now();
    tokio::time::sleep_until(at(shared.window_end_ns)).await;
    let server_after = probe.map(|p| p.sample()).transpose()?;
    let gen_cpu = self_cpu_seconds() - gen_before;
    let wall = wall_start.elapsed().as_secs_f64();

    // Stop the users, then wait for what is in flight.
    stop.cancel();
    let mut user_sessions: Vec<Option<Bound>> = (0..n).map(|_| None).collect();
    let mut client_errors = Vec::new();
    while let Some(u) = user_tasks.join_next().await {
        match u {
            Ok((i, session, error)) => {
                user_sessions[i] = Some(session);
                client_errors.extend(error);
            }
            Err(e) => client_errors.push(e.to_string()),
        }
    }
    let expected = || shared.sent.load(Ordering::Relaxed) * r as u64;
    let drain_deadline = Instant::now() + args.drain;
    while shared.received.load(Ordering::Relaxed) < expected() && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Abrupt disconnections, one at a time (only the presence scenario times them).
    let drops = if args.via == Via::Presence {
        args.drops.min(n)
    } else {
        0
    };
    let mut unavailable = Vec::new();
    for k in 0..drops {
        let i = k * n / drops;
        let Some(session) = user_sessions[i].take() else {
            continue;
        };
        let state = &states[i];
        let dropped_at = now_ns();
        // Closes the socket: no `</stream:stream>`, no unavailable presence, no TLS close.
        drop(session);
        let deadline = Instant::now() + args.drop_timeout;
        loop {
            if state.unavailable_seen.load(Ordering::Acquire) >= r {
                let last = state.unavailable_last_ns.load(Ordering::Acquire);
                unavailable.push(last.saturating_sub(dropped_at));
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let drops_seen = unavailable.len();
    let unavailable = Latencies::new(unavailable);
    let unavailable_ms = |q: f64| (drops_seen > 0).then(|| round3(unavailable.ms(q)));

    done.cancel();
    let mut latencies = Vec::new();
    while let Some(d) = device_tasks.join_next().await {
        match d {
            Ok(d) => {
                latencies.extend(d.latencies);
                client_errors.extend(d.error);
            }
            Err(e) => client_errors.push(e.to_string()),
        }
    }
    drop(user_sessions);

    let latencies = Latencies::new(latencies);
    let in_window = latencies.len();
    let sent = shared.sent.load(Ordering::Relaxed);
    let expected = expected();
    let received = shared.received.load(Ordering::Relaxed);
    let errors = shared.errors.load(Ordering::Relaxed);
    let lost = expected.saturating_sub(received);
    let rate = in_window as f64 / wall;
    let server_cpu = match (server_before, server_after) {
        (Some(Sample { cpu_seconds: b, .. }), Some(Sample { cpu_seconds: a, .. })) => Some(a - b),
        _ => None,
    };
    let per_cpu = server_cpu.map(|c| ratio(in_window as f64, c));
    let mut summary = format!(
        "{}: {n} users × {r} devices, {} in flight per user, {wall:.1} s window: {rate:.0} deliveries/s; latency {}\n  updates {sent}, deliveries expected {expected}, received {received}, lost {lost}, errors {errors}; generator CPU {:.0}% of a core",
        args.via.scenario(),
        args.in_flight,
        latencies.summary(),
        100.0 * gen_cpu / wall,
    );
    if let (Some(c), Some(p)) = (server_cpu, per_cpu) {
        summary.push_str(&format!(
            "; server CPU {c:.2} s ({:.0}% of a core) = {p:.0} deliveries per server-CPU-second",
            100.0 * c / wall
        ));
    }
    if drops > 0 {
        summary.push_str(&format!(
            "\n  unavailable after a TCP drop: {drops_seen}/{drops} seen by all {r} devices within {}",
            humantime::format_duration(args.drop_timeout)
        ));
        if drops_seen > 0 {
            summary.push_str(&format!(
                "; p50 {:.3} ms, max {:.3} ms",
                unavailable.ms(0.5),
                unavailable.ms(1.0)
            ));
        }
    }
    if let Some(e) = client_errors.first() {
        summary.push_str(&format!(
            "\n  {} client errors; first: {e}",
            client_errors.len()
        ));
    }
    report(
        t,
        &summary,
        json!({
            "scenario": args.via.scenario(),
            "users": n,
            "devices_per_user": r,
            "in_flight": args.in_flight,
            "window_seconds": round1(wall),
            "deliveries": in_window,
            "deliveries_per_s": round1(rate),
            "server_cpu_seconds": server_cpu,
            "server_cpu_util": server_cpu.map(|c| round1(100.0 * c / wall)),
            "deliveries_per_server_cpu_s": per_cpu.map(round1),
            "server_rss_kib": server_after.map(|s| s.rss_kib),
            "server_processes": server_after.map(|s| s.processes),
            "generator_cpu_util": round1(100.0 * gen_cpu / wall),
            "latency": latencies.to_json(),
            "latency_p50_ms": round3(latencies.ms(0.5)),
            "latency_p99_ms": round3(latencies.ms(0.99)),
            "updates_sent": sent,
            "expected": expected,
            "received": received,
            "lost": lost,
            "errors": errors,
            "drops": drops,
            "drops_seen": drops_seen,
            "drop_timeout_seconds": args.drop_timeout.as_secs_f64(),
            "unavailable_p50_ms": unavailable_ms(0.5),
            "unavailable_max_ms": unavailable_ms(1.0),
            "relationships_established": relating.established,
            "relationships_existing": relating.existing,
            "client_errors": client_errors.len(),
            "first_client_error": client_errors.first(),
        }),
    );
    if lost > 0 || errors > 0 || !client_errors.is_empty() || drops_seen < drops {
        bail!(
            "{lost} lost, {errors} stanza errors, {} client errors, {} of {drops} drops not seen by every device",
            client_errors.len(),
            drops - drops_seen
        );
    }
    Ok(())
}

/// How updates are addressed.
struct Route {
    via: Via,
    /// The XEP-0033 service.
    service: String,
}

impl Route {
    /// Update `seq` of `user` as the stanzas to send: its sequence number and send time in a
    /// presence status (broadcast, no `to`) or a message body.
    fn update(&self, user: &User, seq: u64) -> Vec<Element> {
        let stamp = format!("{seq} {}", now_ns());
        let message = |to: &str| {
            Element::new("message", ns::CLIENT)
                .with_attr("to", to)
                .with_attr("type", "chat")
                .with_child(Element::new("body", ns::CLIENT).with_text(stamp.clone()))
        };
        match self.via {
            Via::Presence => vec![
                Element::new("presence", ns::CLIENT)
                    .with_child(Element::new("status", ns::CLIENT).with_text(stamp.clone())),
            ],
            Via::Multicast => {
                let mut addresses = Element::new("addresses", ns::ADDRESS);
                for d in &user.devices {
                    addresses.push_child(
                        Element::new("address", ns::ADDRESS)
                            .with_attr("type", "to")
                            .with_attr("jid", d.clone()),
                    );
                }
                vec![message(&self.service).with_child(addresses)]
            }
            Via::Messages => user.devices.iter().map(|d| message(d)).collect(),
        }
    }
}

/// `(seq, sent_at_ns)` from an update's status.
fn parse_status(status: &str) -> Option<(u64, u64)> {
    let (seq, sent_at) = status.trim().split_once(' ')?;
    Some((seq.parse().ok()?, sent_at.parse().ok()?))
}

/// What woke a user's task.
enum UserEvent {
    Stop,
    Permit(bool),
    Stanza(Result<Element, ClientError>),
}

/// One user: sends an update whenever its window has room, until `stop`; answers IQ requests
/// (roster pushes) and skips everything else it receives (its own presence, its devices').
/// Hands its session back for the drop test.
async fn user(
    mut session: Bound,
    state: Arc<User>,
    route: &Route,
    shared: Arc<Tally>,
    stop: CancellationToken,
) -> (Bound, Option<String>) {
    let mut seq = 0;
    loop {
        let event = tokio::select! {
            biased;
            _ = stop.cancelled() => UserEvent::Stop,
            p = state.window.acquire() => UserEvent::Permit(p.map(|p| p.forget()).is_ok()),
            el = session.recv() => UserEvent::Stanza(el),
        };
        match event {
            UserEvent::Stop | UserEvent::Permit(false) => return (session, None),
            UserEvent::Permit(true) => {
                seq += 1;
                // Counted before sending, so that deliveries never overtake what is owed.
                shared.sent.fetch_add(1, Ordering::Relaxed);
                for stanza in route.update(&state, seq) {
                    if let Err(e) = session.send(&stanza).await {
                        return (session, Some(format!("{}: {e}", state.bare)));
                    }
                }
            }
            UserEvent::Stanza(Ok(el)) => {
                if let Some(result) = relate::iq_result(&el) {
                    if let Err(e) = session.send(&result).await {
                        return (session, Some(format!("{}: {e}", state.bare)));
                    }
                } else if matches!(el.name(), "presence" | "message")
                    && el.attr("type") == Some("error")
                {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Idle for a whole step timeout: normal while the devices catch up.
            UserEvent::Stanza(Err(ClientError::Timeout)) => {}
            UserEvent::Stanza(Err(e)) => return (session, Some(format!("{}: {e}", state.bare))),
        }
    }
}

/// One device: counts the user's updates (and completes them for the user's window), notes
/// when the user's unavailable presence arrives, answers IQ requests, skips the rest.
async fn device(
    mut session: Bound,
    user: Arc<User>,
    devices: usize,
    shared: Arc<Tally>,
    done: CancellationToken,
) -> DeviceResult {
    let mut latencies = Vec::new();
    let mut saw_unavailable = false;
    let me = session.jid().to_string();
    loop {
        let el = tokio::select! {
            biased;
            _ = done.cancelled() => return DeviceResult { latencies, error: None },
            el = session.recv() => el,
        };
        let el = match el {
            Ok(el) => el,
            Err(ClientError::Timeout) => continue,
            Err(e) => {
                return DeviceResult {
                    latencies,
                    error: Some(format!("{me}: {e}")),
                };
            }
        };
        if let Some(result) = relate::iq_result(&el) {
            if let Err(e) = session.send(&result).await {
                return DeviceResult {
                    latencies,
                    error: Some(format!("{me}: {e}")),
                };
            }
            continue;
        }
        let is_update = matches!(
            (el.name(), el.attr("type")),
            ("presence", None | Some("unavailable")) | ("message", Some("chat"))
        );
        if !is_update || el.attr("from").map(relate::bare) != Some(user.bare.as_str()) {
            continue;
        }
        let carrier = if el.name() == "message" {
            "body"
        } else {
            "status"
        };
        match el.attr("type") {
            None | Some("chat") => {
                let Some((seq, sent_at)) = el
                    .get_child(carrier, ns::CLIENT)
                    .and_then(|s| parse_status(&s.text()))
                else {
                    // The user's initial presence.
                    continue;
                };
                let now = now_ns();
                shared.received.fetch_add(1, Ordering::Relaxed);
                if shared.in_window(now) {
                    latencies.push(now.saturating_sub(sent_at));
                }
                user.delivered(seq, devices);
            }
            Some("unavailable") if !saw_unavailable => {
                saw_unavailable = true;
                user.unavailable_last_ns
                    .fetch_max(now_ns(), Ordering::AcqRel);
                user.unavailable_seen.fetch_add(1, Ordering::AcqRel);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_carries_sequence_and_timestamp() {
        assert_eq!(parse_status(" 12 3456 "), Some((12, 3456)));
        assert_eq!(parse_status("Disconnected"), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn an_update_completes_with_its_last_device() {
        let user = User {
            bare: "u@localhost".to_owned(),
            devices: Vec::new(),
            window: Semaphore::new(0),
            pending: Mutex::new(HashMap::new()),
            unavailable_seen: AtomicUsize::new(0),
            unavailable_last_ns: AtomicU64::new(0),
        };
        user.delivered(1, 3);
        user.delivered(2, 3);
        user.delivered(1, 3);
        assert_eq!(user.window.available_permits(), 0);
        user.delivered(1, 3);
        assert_eq!(user.window.available_permits(), 1);
        assert_eq!(user.pending.lock().map(|p| p.len()).unwrap_or(0), 1);
    }
}
