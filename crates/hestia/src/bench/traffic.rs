//! Closed-loop traffic between pairs of clients: messages (both directions, K in flight per
//! sender, latency from a timestamp in the body) and IQ round trips (XEP-0199 pings between
//! the two clients, both directions, K outstanding per requester).
//!
//! Timeline: all 2·P clients log in; each pair is related (mutual roster subscription, see
//! `relate`: Hestia routes stanzas only between related accounts); traffic starts; after
//! `--warmup` the measured window of `--duration` begins (server CPU and the generator's own
//! CPU are sampled at both ends and only stanzas received inside it count towards rates and
//! latencies); then senders stop, the generator waits for everything in flight to arrive, and
//! loss = sent − received overall.
//! Stanzas that are not part of the traffic (presence, roster pushes) are skipped; IQ requests
//! among them (roster pushes) get an empty result.
//!
//! `messages-sm` is `messages` with XEP-0198 stream management enabled on every client, which
//! counts what it receives and answers each `<r/>` with `<a h/>`, so SM's cost on routing can be
//! read against the plain scenario.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use hestia_client::{Bound, Element, Receiver, Sender};
use hestia_proto::ns;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::procfs::{Sample, self_cpu_seconds};
use super::stats::{Latencies, Tally, ratio, round1, run_jobs};
use super::{AccountArgs, Target, accounts, full_login, now_ns, relate, report};

#[derive(Debug, Args)]
pub struct TrafficArgs {
    #[command(flatten)]
    target: Target,
    /// Pairs of clients (accounts 2i and 2i+1 talk to each other).
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Stanzas in flight per sender (closed loop: a new one leaves when one arrives).
    #[arg(long, default_value_t = 10)]
    in_flight: usize,
    /// Length of the measured window.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Traffic before the measured window starts.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// How long to wait for stanzas still in flight after the senders stop.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// Logins in flight at once while setting up.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    #[command(flatten)]
    accounts: AccountArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Messages,
    /// Messages with XEP-0198 enabled and acknowledged.
    MessagesSm,
    Iq,
}

/// One direction of a pair: the sender's window of stanzas in flight.
struct Direction {
    window: Semaphore,
}

/// What each task hands back.
struct TaskResult {
    latencies: Vec<u64>,
    error: Option<String>,
}

pub async fn run(args: TrafficArgs, kind: Kind) -> Result<()> {
    let t = &args.target;
    let clients = args.pairs * 2;
    if clients == 0 || args.in_flight == 0 {
        bail!("--pairs and --in-flight must be at least 1");
    }
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
    let (bound, relating) = relate::relate_pairs(bound, args.concurrency, t.step_timeout).await?;
    eprintln!("{}", relating.summary());
    let jids: Vec<String> = bound.iter().map(|b| b.jid().to_string()).collect();

    let start = now_ns();
    let shared = Arc::new(Tally::new(start, args.warmup, args.duration));
    let stop = CancellationToken::new();
    let done = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut senders = JoinSet::new();
    match kind {
        Kind::Messages | Kind::MessagesSm => {
            let is_sm = kind == Kind::MessagesSm;
            let dirs: Vec<Arc<Direction>> = (0..clients)
                .map(|_| {
                    Arc::new(Direction {
                        window: Semaphore::new(args.in_flight),
                    })
                })
                .collect();
            for (i, mut session) in bound.into_iter().enumerate() {
                let peer = i ^ 1;
                if is_sm {
                    // Without resumption: the benchmark measures acknowledgement, not hibernation.
                    session.send(&Element::new("enable", ns::SM)).await?;
                }
                let (tx, rx) = session.into_split();
                // IQ results the receiver owes (roster pushes) leave through the sender.
                let (reply_tx, reply_rx) = mpsc::unbounded_channel();
                senders.spawn(send_messages(
                    tx,
                    jids[peer].clone(),
                    dirs[i].clone(),
                    reply_rx,
                    shared.clone(),
                    stop.clone(),
                ));
                tasks.spawn(receive_messages(
                    rx,
                    Flow {
                        incoming: dirs[peer].clone(),
                        outgoing: dirs[i].clone(),
                        replies: reply_tx,
                        sm: is_sm.then(SmCount::default),
                    },
                    shared.clone(),
                    done.clone(),
                ));
            }
        }
        Kind::Iq => {
            for (i, session) in bound.into_iter().enumerate() {
                tasks.spawn(iq_client(
                    session,
                    jids[i ^ 1].clone(),
                    args.in_flight,
                    shared.clone(),
                    stop.clone(),
                    done.clone(),
                ));
            }
        }
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

    // Stop sending, then wait for what is in flight.
    stop.cancel();
    let mut kept_senders = Vec::new();
    while let Some(s) = senders.join_next().await {
        if let Ok(s) = s {
            kept_senders.push(s);
        }
    }
    let drain_deadline = Instant::now() + args.drain;
    while shared.received.load(Ordering::Relaxed) < shared.sent.load(Ordering::Relaxed)
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done.cancel();
    let mut latencies = Vec::new();
    let mut task_errors = Vec::new();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(r) => {
                latencies.extend(r.latencies);
                task_errors.extend(r.error);
            }
            Err(e) => task_errors.push(e.to_string()),
        }
    }
    drop(kept_senders);

    let latencies = Latencies::new(latencies);
    let in_window = latencies.len();
    let sent = shared.sent.load(Ordering::Relaxed);
    let received = shared.received.load(Ordering::Relaxed);
    let errors = shared.errors.load(Ordering::Relaxed);
    let lost = sent.saturating_sub(received);
    let rate = in_window as f64 / wall;
    let server_cpu = match (server_before, server_after) {
        (Some(Sample { cpu_seconds: b, .. }), Some(Sample { cpu_seconds: a, .. })) => Some(a - b),
        _ => None,
    };
    let per_cpu = server_cpu.map(|c| ratio(in_window as f64, c));
    let (name, unit) = match kind {
        Kind::Messages => ("messages", "messages"),
        Kind::MessagesSm => ("messages-sm", "messages"),
        Kind::Iq => ("iq", "round trips"),
    };
    let mut summary = format!(
        "{name}: {} pairs, {} in flight per sender, {wall:.1} s window: {rate:.0} {unit}/s; latency {}\n  sent {sent}, received {received}, lost {lost}, errors {errors}; generator CPU {:.0}% of a core",
        args.pairs,
        args.in_flight,
        latencies.summary(),
        100.0 * gen_cpu / wall,
    );
    if let (Some(c), Some(p)) = (server_cpu, per_cpu) {
        summary.push_str(&format!(
            "; server CPU {c:.2} s ({:.0}% of a core) = {p:.0} {unit} per server-CPU-second",
            100.0 * c / wall
        ));
    }
    if let Some(e) = task_errors.first() {
        summary.push_str(&format!(
            "\n  {} client errors; first: {e}",
            task_errors.len()
        ));
    }
    report(
        t,
        &summary,
        json!({
            "scenario": name,
            "pairs": args.pairs,
            "in_flight": args.in_flight,
            "window_seconds": round1(wall),
            "in_window": in_window,
            "per_sec": round1(rate),
            "server_cpu_seconds": server_cpu,
            "server_cpu_util": server_cpu.map(|c| round1(100.0 * c / wall)),
            "per_server_cpu_sec": per_cpu.map(round1),
            "generator_cpu_util": round1(100.0 * gen_cpu / wall),
            "latency": latencies.to_json(),
            "sent": sent,
            "received": received,
            "lost": lost,
            "relationships_established": relating.established,
            "relationships_existing": relating.existing,
            "errors": errors,
            "client_errors": task_errors.len(),
            "first_client_error": task_errors.first(),
        }),
    );
    if lost > 0 || errors > 0 || !task_errors.is_empty() {
        bail!(
            "{lost} lost, {errors} stanza errors, {} client errors",
            task_errors.len()
        );
    }
    Ok(())
}

fn message(to: &str) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", "chat")
        .with_child(Element::new("body", ns::CLIENT).with_text(now_ns().to_string()))
}

async fn send_messages(
    mut tx: Sender,
    peer: String,
    dir: Arc<Direction>,
    mut replies: mpsc::UnboundedReceiver<Element>,
    shared: Arc<Tally>,
    stop: CancellationToken,
) -> Sender {
    loop {
        let permit = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(reply) = replies.recv() => {
                if tx.send(&reply).await.is_err() {
                    break;
                }
                continue;
            }
            p = dir.window.acquire() => p,
        };
        match permit {
            Ok(p) => p.forget(),
            Err(_) => break,
        }
        // Counted before sending, so that `received` never overtakes `sent`.
        shared.sent.fetch_add(1, Ordering::Relaxed);
        if tx.send(&message(&peer)).await.is_err() {
            break;
        }
    }
    tx
}

/// What a receiving task drives: the two windows of its pair, the way out for its answers, and
/// its XEP-0198 count when stream management is on.
struct Flow {
    incoming: Arc<Direction>,
    outgoing: Arc<Direction>,
    replies: mpsc::UnboundedSender<Element>,
    sm: Option<SmCount>,
}

/// Stanzas received since `<enabled/>` (the `h` of `<a/>`).
#[derive(Default)]
struct SmCount {
    is_enabled: bool,
    handled: u32,
}

impl SmCount {
    /// Counts a received element; returns the `<a/>` to send for an `<r/>`.
    fn on_element(&mut self, el: &Element) -> Option<Element> {
        if el.is("enabled", ns::SM) {
            self.is_enabled = true;
        } else if el.is("r", ns::SM) {
            return Some(Element::new("a", ns::SM).with_attr("h", self.handled.to_string()));
        } else if self.is_enabled && el.ns() == ns::CLIENT {
            self.handled = self.handled.wrapping_add(1);
        }
        None
    }
}

/// Reads one client's messages: those from the peer free a slot in the peer's window; a
/// bounce of our own message frees one in ours and counts as an error. IQ requests (roster
/// pushes) and ack requests are answered through `replies`; other stanzas are skipped.
async fn receive_messages(
    mut rx: Receiver,
    flow: Flow,
    shared: Arc<Tally>,
    done: CancellationToken,
) -> TaskResult {
    let Flow {
        incoming,
        outgoing,
        replies,
        mut sm,
    } = flow;
    let mut latencies = Vec::new();
    loop {
        let el = tokio::select! {
            biased;
            _ = done.cancelled() => return TaskResult { latencies, error: None },
            el = rx.recv() => el,
        };
        let el = match el {
            Ok(el) => el,
            Err(e) => {
                return TaskResult {
                    latencies,
                    error: Some(e.to_string()),
                };
            }
        };
        if let Some(ack) = sm.as_mut().and_then(|sm| sm.on_element(&el)) {
            let _ = replies.send(ack);
            continue;
        }
        if let Some(result) = relate::iq_result(&el) {
            let _ = replies.send(result);
            continue;
        }
        if el.name() != "message" {
            continue;
        }
        if el.attr("type") == Some("error") {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            outgoing.window.add_permits(1);
            continue;
        }
        if el.get_child("delay", ns::DELAY).is_some() {
            // Stored by an earlier run (an SM session that ended with messages unacknowledged)
            // and delivered at this login: not this run's traffic.
            continue;
        }
        let Some(sent_at) = el
            .get_child("body", ns::CLIENT)
            .and_then(|b| b.text().trim().parse::<u64>().ok())
        else {
            continue;
        };
        let now = now_ns();
        shared.received.fetch_add(1, Ordering::Relaxed);
        if shared.in_window(now) {
            latencies.push(now.saturating_sub(sent_at));
        }
        incoming.window.add_permits(1);
    }
}

fn ping(to: &str) -> Element {
    Element::new("iq", ns::CLIENT)
        .with_attr("type", "get")
        .with_attr("to", to)
        .with_attr("id", now_ns().to_string())
        .with_child(Element::new("ping", ns::PING))
}

/// One client of an IQ pair: keeps `in_flight` pings outstanding to its peer and answers the
/// peer's pings (and any other IQ request, such as a roster push, with an empty result).
async fn iq_client(
    mut session: Bound,
    peer: String,
    in_flight: usize,
    shared: Arc<Tally>,
    stop: CancellationToken,
    done: CancellationToken,
) -> TaskResult {
    let mut latencies = Vec::new();
    let fail = |latencies, e: hestia_client::ClientError| TaskResult {
        latencies,
        error: Some(e.to_string()),
    };
    for _ in 0..in_flight {
        shared.sent.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = session.send(&ping(&peer)).await {
            return fail(latencies, e);
        }
    }
    loop {
        let el = tokio::select! {
            biased;
            _ = done.cancelled() => return TaskResult { latencies, error: None },
            el = session.recv() => el,
        };
        let el = match el {
            Ok(el) => el,
            Err(e) => return fail(latencies, e),
        };
        if el.name() != "iq" {
            continue;
        }
        if let Some(result) = relate::iq_result(&el) {
            if let Err(e) = session.send(&result).await {
                return fail(latencies, e);
            }
            continue;
        }
        // The answer to one of our pings.
        let Some(kind @ ("result" | "error")) = el.attr("type") else {
            continue;
        };
        let Some(sent_at) = el.attr("id").and_then(|id| id.parse::<u64>().ok()) else {
            continue;
        };
        if kind == "error" {
            shared.errors.fetch_add(1, Ordering::Relaxed);
        }
        let now = now_ns();
        shared.received.fetch_add(1, Ordering::Relaxed);
        if shared.in_window(now) {
            latencies.push(now.saturating_sub(sent_at));
        }
        if !stop.is_cancelled() {
            shared.sent.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = session.send(&ping(&peer)).await {
                return fail(latencies, e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sm_count_starts_at_enabled_and_answers_requests() {
        let mut sm = SmCount::default();
        let msg = Element::new("message", ns::CLIENT);
        assert_eq!(sm.on_element(&msg), None);
        assert_eq!(sm.on_element(&Element::new("enabled", ns::SM)), None);
        for _ in 0..3 {
            assert_eq!(sm.on_element(&msg), None);
        }
        let a = sm
            .on_element(&Element::new("r", ns::SM))
            .expect("an answer");
        assert!(a.is("a", ns::SM) && a.attr("h") == Some("3"), "{a}");
    }
}
