//! Sliding-window counters keyed by source address or account: registration throttling,
//! failed-login throttling, connection limits per address.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts events per key within a window; `check` refuses once `max` events are in the window.
#[derive(Debug)]
pub struct Throttle<K: Eq + Hash> {
    max: u32,
    window: Duration,
    events: Mutex<HashMap<K, VecDeque<Instant>>>,
}

impl<K: Eq + Hash + Clone> Throttle<K> {
    pub fn new(max: u32, window: Duration) -> Throttle<K> {
        Throttle {
            max,
            window,
            events: Mutex::default(),
        }
    }

    /// True when another event for `key` is still allowed now.
    pub fn is_allowed(&self, key: &K) -> bool {
        self.is_allowed_at(key, Instant::now())
    }

    pub fn is_allowed_at(&self, key: &K, now: Instant) -> bool {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let Some(q) = events.get_mut(key) else {
            return self.max > 0;
        };
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.is_empty() {
            events.remove(key);
            return self.max > 0;
        }
        (q.len() as u32) < self.max
    }

    /// Records one event for `key`.
    pub fn record(&self, key: &K) {
        self.record_at(key, Instant::now());
    }

    pub fn record_at(&self, key: &K, now: Instant) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() > 100_000 {
            // Bound memory under an address-spraying attack: forget the oldest-looking keys.
            events.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let q = events.entry(key.clone()).or_default();
        q.push_back(now);
        while q.len() > self.max as usize {
            q.pop_front();
        }
    }

    /// Forgets a key (a successful login clears its failures).
    pub fn clear(&self, key: &K) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// True for 127.0.0.0/8 and ::1 — exempted from some throttles by default, as Prosody does.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides() {
        let t = Throttle::new(2, Duration::from_secs(10));
        let start = Instant::now();
        let k = "a";
        assert!(t.is_allowed_at(&k, start));
        t.record_at(&k, start);
        t.record_at(&k, start + Duration::from_secs(1));
        assert!(!t.is_allowed_at(&k, start + Duration::from_secs(2)));
        assert!(t.is_allowed_at(&"b", start), "keys are independent");
        assert!(t.is_allowed_at(&k, start + Duration::from_secs(10)));
        t.clear(&k);
        assert!(t.is_allowed_at(&k, start + Duration::from_secs(2)));
    }

    #[test]
    fn zero_max_refuses_everything() {
        let t: Throttle<u8> = Throttle::new(0, Duration::from_secs(1));
        assert!(!t.is_allowed(&1));
    }
}
