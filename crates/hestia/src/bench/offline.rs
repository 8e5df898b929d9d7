//! Offline store-and-forward: messages for accounts that are offline, stored by the server and
//! delivered at their next login, every one exactly once.
//!
//! Timeline: 2·P clients log in and each pair is related (account 2i sends, 2i+1 receives); the
//! receivers log out and each sender waits for its receiver's `unavailable`. **Store phase:**
//! each sender sends M chat messages (body = sequence number) as fast as the connection takes
//! them, then a XEP-0199 ping; its answer means the server has handled them all. **Delivery
//! phase:** the receivers log in again (initial presence triggers delivery on every server) and
//! count messages until each has M, or nothing arrives for `--quiet`. Server CPU is sampled at
//! the start of the store phase, between the phases and at the end; the headline figure is
//! P·M ÷ (server CPU of both phases), with the receivers' logins included in the second.
//! Lost = expected − distinct received; duplicates are counted apart.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use hestia_client::{Bound, Element};
use hestia_proto::ns;
use serde_json::json;
use tokio::task::JoinSet;

use super::procfs::Sample;
use super::stats::{ratio, round1, run_jobs};
use super::{AccountArgs, Target, accounts, full_login, relate, report};

#[derive(Debug, Args)]
pub struct OfflineArgs {
    #[command(flatten)]
    target: Target,
    /// Sender/receiver pairs (accounts 2i send to 2i+1).
    #[arg(long, default_value_t = 20)]
    pairs: usize,
    /// Messages each sender stores for its receiver (mind the servers' per-account quotas).
    #[arg(long, default_value_t = 500)]
    messages: usize,
    /// Logins in flight at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// A receiver that hears nothing for this long has everything it will get.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    quiet: Duration,
    #[command(flatten)]
    accounts: AccountArgs,
}

/// What one receiver got: which sequence numbers, how often.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    seen: Vec<u32>,
}

impl Tally {
    pub fn new(expected: usize) -> Tally {
        Tally {
            seen: vec![0; expected],
        }
    }

    /// Counts a message body; a body that is no sequence number in range counts as foreign.
    pub fn note(&mut self, body: &str) -> bool {
        let slot = body
            .parse::<usize>()
            .ok()
            .and_then(|i| self.seen.get_mut(i));
        match slot {
            Some(count) => {
                *count += 1;
                true
            }
            None => false,
        }
    }

    pub fn distinct(&self) -> usize {
        self.seen.iter().filter(|&&n| n > 0).count()
    }

    pub fn duplicates(&self) -> usize {
        self.seen
            .iter()
            .map(|&n| n.saturating_sub(1) as usize)
            .sum()
    }

    pub fn missing(&self) -> usize {
        self.seen.len() - self.distinct()
    }

    pub fn is_complete(&self) -> bool {
        self.missing() == 0
    }
}

pub async fn run(args: OfflineArgs) -> Result<()> {
    let t = &args.target;
    let clients = args.pairs * 2;
    if args.pairs == 0 || args.messages == 0 {
        bail!("--pairs and --messages must be at least 1");
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
    let mut senders = Vec::with_capacity(args.pairs);
    let mut receivers = Vec::with_capacity(args.pairs);
    for (i, b) in bound.into_iter().enumerate() {
        if i % 2 == 0 {
            senders.push(b);
        } else {
            receivers.push(b);
        }
    }
    let receiver_jids: Vec<String> = receivers
        .iter()
        .map(|b| b.jid().to_bare().to_string())
        .collect();
    for r in receivers {
        r.close().await?;
    }
    let mut waiting = JoinSet::new();
    for (mut s, peer) in senders.into_iter().zip(receiver_jids.clone()) {
        let limit = t.step_timeout;
        waiting.spawn(async move { until_unavailable(&mut s, &peer, limit).await.map(|()| s) });
    }
    let mut senders = Vec::new();
    while let Some(s) = waiting.join_next().await {
        senders.push(s??);
    }

    let probe = t.probe();
    let before = probe.map(|p| p.sample()).transpose()?;
    let store_start = Instant::now();
    let mut storing = JoinSet::new();
    for (mut s, peer) in senders.into_iter().zip(receiver_jids) {
        let m = args.messages;
        storing.spawn(async move { store(&mut s, &peer, m).await.map(|()| s) });
    }
    let mut senders = Vec::new();
    while let Some(s) = storing.join_next().await {
        senders.push(s??);
    }
    let store_wall = store_start.elapsed().as_secs_f64();
    let between = probe.map(|p| p.sample()).transpose()?;

    let deliver_start = Instant::now();
    let opts = t.options()?;
    let (tc, password, m, quiet) = (t.clone(), t.password.clone(), args.messages, args.quiet);
    let tallies = run_jobs("receiving", args.pairs, args.concurrency, move |i| {
        let (opts, user, password) = (opts.clone(), tc.user(2 * i + 1), password.clone());
        async move {
            let (mut b, _) = full_login(&opts, &user, &password).await?;
            let (tally, last) = receive(&mut b, m, quiet).await;
            anyhow::Ok((tally, last, b))
        }
    })
    .await;
    let after = probe.map(|p| p.sample()).transpose()?;
    drop(senders);
    let mut totals = (0, 0, 0);
    let mut kept = Vec::new();
    let mut deliver_end = deliver_start;
    for r in tallies {
        let (tally, last, b) = r?;
        totals.0 += tally.distinct();
        totals.1 += tally.duplicates();
        totals.2 += tally.missing();
        deliver_end = deliver_end.max(last);
        kept.push(b);
    }
    let deliver_wall = (deliver_end - deliver_start).as_secs_f64();
    let (distinct, duplicates, lost) = totals;

    let cpu = |a: Option<Sample>, b: Option<Sample>| match (a, b) {
        (Some(a), Some(b)) => Some(b.cpu_seconds - a.cpu_seconds),
        _ => None,
    };
    let (store_cpu, deliver_cpu) = (cpu(before, between), cpu(between, after));
    let total = (args.pairs * args.messages) as f64;
    let both = store_cpu.zip(deliver_cpu).map(|(a, b)| a + b);
    let per_cpu = both.map(|c| ratio(total, c));
    let mut summary = format!(
        "offline: {} pairs × {} messages: stored {:.0}/s ({store_wall:.2} s), delivered {:.0}/s ({deliver_wall:.2} s incl. logins); distinct {distinct}, duplicates {duplicates}, lost {lost}",
        args.pairs,
        args.messages,
        total / store_wall,
        distinct as f64 / deliver_wall,
    );
    if let (Some(s), Some(d), Some(p)) = (store_cpu, deliver_cpu, per_cpu) {
        summary.push_str(&format!(
            "\n  server CPU {s:.2} s storing + {d:.2} s delivering = {p:.0} messages stored and delivered per server-CPU-second"
        ));
    }
    report(
        t,
        &summary,
        json!({
            "scenario": "offline",
            "pairs": args.pairs,
            "messages_per_pair": args.messages,
            "messages": total,
            "store_seconds": store_wall,
            "stored_per_sec": round1(total / store_wall),
            "deliver_seconds": deliver_wall,
            "delivered_per_sec": round1(distinct as f64 / deliver_wall),
            "store_server_cpu_seconds": store_cpu,
            "deliver_server_cpu_seconds": deliver_cpu,
            "stored_per_server_cpu_sec": store_cpu.map(|c| round1(ratio(total, c))),
            "delivered_per_server_cpu_sec": deliver_cpu.map(|c| round1(ratio(distinct as f64, c))),
            "per_server_cpu_sec": per_cpu.map(round1),
            "distinct": distinct,
            "duplicates": duplicates,
            "lost": lost,
        }),
    );
    drop(kept);
    if lost > 0 || duplicates > 0 {
        bail!("{lost} messages lost, {duplicates} delivered twice");
    }
    Ok(())
}

/// Skips stanzas (answering IQ requests) until `peer`'s unavailable presence arrives.
async fn until_unavailable(s: &mut Bound, peer: &str, limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let el = tokio::time::timeout_at(deadline, s.recv()).await??;
        let from_peer = el.attr("from").is_some_and(|f| f.starts_with(peer));
        if el.name() == "presence" && from_peer && el.attr("type") == Some("unavailable") {
            return Ok(());
        }
        if let Some(result) = relate::iq_result(&el) {
            s.send(&result).await?;
        }
    }
}

/// Sends M numbered messages, then waits for a ping's answer: everything before it was handled.
async fn store(s: &mut Bound, peer: &str, m: usize) -> Result<()> {
    for i in 0..m {
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("to", peer)
            .with_attr("type", "chat")
            .with_child(Element::new("body", ns::CLIENT).with_text(i.to_string()));
        s.send(&msg).await?;
    }
    s.ping().await?;
    Ok(())
}

/// Counts numbered messages until all M arrived or the stream stays quiet for `quiet`, and
/// returns when the last one came; then listens a little longer for duplicates.
async fn receive(b: &mut Bound, m: usize, quiet: Duration) -> (Tally, Instant) {
    let mut tally = Tally::new(m);
    let mut last = Instant::now();
    while !tally.is_complete() {
        let Ok(Some(el)) = b.recv_timeout(quiet).await else {
            break;
        };
        note(b, &mut tally, &el).await;
        last = Instant::now();
    }
    while let Ok(Some(el)) = b.recv_timeout(DUPLICATE_WATCH).await {
        note(b, &mut tally, &el).await;
    }
    (tally, last)
}

/// How long a complete receiver keeps listening for duplicates (outside the timed phase).
const DUPLICATE_WATCH: Duration = Duration::from_millis(500);

async fn note(b: &mut Bound, tally: &mut Tally, el: &Element) {
    if el.name() == "message"
        && let Some(body) = el.get_child("body", ns::CLIENT)
    {
        tally.note(&body.text());
    } else if let Some(result) = relate::iq_result(el) {
        let _ = b.send(&result).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn a_tally_counts_distinct_duplicates_and_missing() {
        let mut t = Tally::new(4);
        for body in ["0", "1", "1", "3", "9", "x"] {
            t.note(body);
        }
        assert_eq!((t.distinct(), t.duplicates(), t.missing()), (3, 1, 1));
        assert!(!t.is_complete());
        t.note("2");
        assert!(t.is_complete());
    }
}
