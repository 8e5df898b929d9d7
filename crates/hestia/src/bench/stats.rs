//! Latency percentiles, a progress line, and a bounded-concurrency job runner.

use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The counters a throughput scenario's tasks share, and its measured window (nanoseconds on
/// the generator's clock): what happens before is warm-up, after is the drain.
#[derive(Debug, Default)]
pub struct Tally {
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    /// Stanzas sent (a presence update counts once, though it owes a delivery per device).
    pub sent: AtomicU64,
    /// Stanzas received (deliveries, for fan-out).
    pub received: AtomicU64,
    pub errors: AtomicU64,
}

impl Tally {
    /// A window that opens `warmup` after `start_ns` and lasts `duration`.
    pub fn new(start_ns: u64, warmup: Duration, duration: Duration) -> Tally {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Tally {
            window_start_ns: start_ns + ns(warmup),
            window_end_ns: start_ns + ns(warmup + duration),
            ..Tally::default()
        }
    }

    pub fn in_window(&self, now_ns: u64) -> bool {
        now_ns >= self.window_start_ns && now_ns < self.window_end_ns
    }
}

/// Latency distribution in nanoseconds.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    sorted: Vec<u64>,
}

impl Latencies {
    pub fn new(mut samples: Vec<u64>) -> Latencies {
        samples.sort_unstable();
        Latencies { sorted: samples }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The value below or at which a fraction `q` of the samples lie (nearest rank).
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.sorted.is_empty() {
            return 0;
        }
        let rank = (q * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    pub fn ms(&self, q: f64) -> f64 {
        self.quantile_ns(q) as f64 / 1e6
    }

    pub fn to_json(&self) -> Value {
        json!({
            "samples": self.len(),
            "p50_ms": round3(self.ms(0.50)),
            "p90_ms": round3(self.ms(0.90)),
            "p99_ms": round3(self.ms(0.99)),
            "p999_ms": round3(self.ms(0.999)),
            "max_ms": round3(self.ms(1.0)),
        })
    }

    pub fn summary(&self) -> String {
        format!(
            "p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms ({} samples)",
            self.ms(0.5),
            self.ms(0.99),
            self.ms(0.999),
            self.ms(1.0),
            self.len()
        )
    }
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// `a / b`, or 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Runs `job(i)` for i in 0..n with at most `concurrency` in flight, printing a progress line
/// to stderr once a second; returns the results in order of `i`.
pub async fn run_jobs<T, F, Fut>(label: &str, n: usize, concurrency: usize, job: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let started = Instant::now();
    let mut progress = tokio::task::JoinSet::new();
    {
        let done = done.clone();
        let label = label.to_owned();
        progress.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let d = done.load(Ordering::Relaxed);
                let rate = d as f64 / started.elapsed().as_secs_f64();
                eprint!("\r{label}: {d}/{n} ({rate:.0}/s)   ");
                let _ = std::io::stderr().flush();
            }
        });
    }
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let (next, done, job) = (next.clone(), done.clone(), job.clone());
        workers.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return out;
                }
                out.push((i, job(i).await));
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(part) = workers.join_next().await {
        if let Ok(part) = part {
            all.extend(part);
        }
    }
    progress.abort_all();
    if started.elapsed().as_secs() >= 1 {
        eprintln!();
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let l = Latencies::new((1..=1000).rev().collect());
        assert_eq!(l.quantile_ns(0.5), 500);
        assert_eq!(l.quantile_ns(0.99), 990);
        assert_eq!(l.quantile_ns(0.999), 999);
        assert_eq!(l.quantile_ns(1.0), 1000);
        assert_eq!(Latencies::new(vec![]).quantile_ns(0.5), 0);
    }

    #[tokio::test]
    async fn jobs_all_run_in_order() {
        let out = run_jobs("t", 100, 7, |i| async move { i * 2 }).await;
        assert_eq!(out, (0..100).map(|i| i * 2).collect::<Vec<_>>());
    }
}
