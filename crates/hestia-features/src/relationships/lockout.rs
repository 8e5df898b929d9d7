//! Lock-out with back-off for wrong verification codes (§10.5): after `failures_before` wrong
//! codes the key is locked for `base`, doubling with each further failure up to `max`.

use std::collections::HashMap;
use std::sync::Mutex;

/// The back-off rule, shared by the per-device counter (kept in the store, so a restart does
/// not reset it) and the per-requester one (kept here).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub failures_before: u32,
    pub base_secs: i64,
    pub max_secs: i64,
}

impl Backoff {
    /// When the key unlocks after its `failures`-th wrong code (`now` if it stays unlocked).
    pub fn locked_until(&self, failures: u32, now: i64) -> i64 {
        if failures < self.failures_before {
            return now;
        }
        let doublings = (failures - self.failures_before).min(30);
        let secs = self
            .base_secs
            .saturating_mul(1 << doublings)
            .min(self.max_secs);
        now.saturating_add(secs)
    }
}

/// Per-requester counters in memory; entries go when they unlock and are counted again.
#[derive(Debug, Default)]
pub struct Lockout {
    entries: Mutex<HashMap<String, (u32, i64)>>,
}

impl Lockout {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, i64)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn is_locked(&self, key: &str, now: i64) -> bool {
        self.entries()
            .get(key)
            .is_some_and(|(_, until)| *until > now)
    }

    pub fn fail(&self, key: &str, rule: &Backoff, now: i64) {
        let mut entries = self.entries();
        if entries.len() > 100_000 {
            entries.retain(|_, (_, until)| *until > now);
        }
        let entry = entries.entry(key.to_owned()).or_insert((0, now));
        entry.0 += 1;
        entry.1 = rule.locked_until(entry.0, now);
    }

    pub fn clear(&self, key: &str) {
        self.entries().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Backoff = Backoff {
        failures_before: 3,
        base_secs: 60,
        max_secs: 600,
    };

    #[test]
    fn back_off_doubles_up_to_the_cap() {
        assert_eq!(RULE.locked_until(2, 1000), 1000);
        assert_eq!(RULE.locked_until(3, 1000), 1060);
        assert_eq!(RULE.locked_until(4, 1000), 1120);
        assert_eq!(RULE.locked_until(5, 1000), 1240);
        assert_eq!(RULE.locked_until(40, 1000), 1600);
    }

    #[test]
    fn a_requester_locks_then_unlocks() {
        let l = Lockout::default();
        for _ in 0..3 {
            assert!(!l.is_locked("bob", 0));
            l.fail("bob", &RULE, 0);
        }
        assert!(l.is_locked("bob", 59));
        assert!(!l.is_locked("bob", 60));
        assert!(!l.is_locked("alice", 0));
        l.clear("bob");
        assert!(!l.is_locked("bob", 59));
    }
}
