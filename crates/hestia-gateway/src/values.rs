//! Live property values: the last value the gateway heard of each device property, so a
//! `property` event is sent only when a value really changed (a set answered by the device and
//! the event the device publishes about it are one change), and the recent history of each
//! numeric property, for a person's chart (the thermostat's temperature over the last hours).
//! Kept in memory: a restart starts the history afresh.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use hestia_proto::device::Value;
use serde::Serialize;

use crate::events::rfc3339;
use crate::model::DeviceId;

/// How far back a history reaches.
pub const HISTORY_SPAN: Duration = Duration::from_secs(24 * 3600);
/// Points kept per property at most (one a minute for a day would be 1,440).
pub const HISTORY_POINTS: usize = 2048;

type Key = (DeviceId, String);

/// The last values and numeric histories.
#[derive(Debug, Default)]
pub struct LiveValues {
    last: Mutex<HashMap<Key, Value>>,
    history: Mutex<HashMap<Key, VecDeque<(SystemTime, f64)>>>,
}

/// One point of a history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub timestamp: String,
    pub value: f64,
}

impl LiveValues {
    /// Records a value heard at `at`; true when it differs from the last one heard.
    pub fn observe(
        &self,
        device: &DeviceId,
        property: &str,
        value: &Value,
        at: SystemTime,
    ) -> bool {
        let key = (device.clone(), property.to_owned());
        let changed = {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            let changed = last.get(&key) != Some(value);
            if changed {
                last.insert(key.clone(), value.clone());
            }
            changed
        };
        if changed && let Some(number) = as_number(value) {
            self.record(key, at, number);
        }
        changed
    }

    fn record(&self, key: Key, at: SystemTime, value: f64) {
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let series = history.entry(key).or_default();
        series.push_back((at, value));
        let horizon = at
            .checked_sub(HISTORY_SPAN)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        while series.len() > HISTORY_POINTS || series.front().is_some_and(|(t, _)| *t < horizon) {
            series.pop_front();
        }
    }

    /// The property's points within the span, oldest first.
    pub fn history(&self, device: &DeviceId, property: &str) -> Vec<Point> {
        let horizon = SystemTime::now()
            .checked_sub(HISTORY_SPAN)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history
            .get(&(device.clone(), property.to_owned()))
            .map(|series| {
                series
                    .iter()
                    .filter(|(t, _)| *t >= horizon)
                    .map(|(t, v)| Point {
                        timestamp: rfc3339(*t),
                        value: *v,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::Boolean(_) | Value::Text(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_count_and_numbers_keep_a_history() {
        let values = LiveValues::default();
        let t = DeviceId::parse("igrs:thermostat").expect("id");
        let now = SystemTime::now();
        assert!(values.observe(&t, "temperature", &Value::Number(19.5), now));
        assert!(!values.observe(&t, "temperature", &Value::Number(19.5), now));
        assert!(values.observe(&t, "temperature", &Value::Number(19.7), now));
        assert!(values.observe(&t, "mode", &Value::Text("eco".into()), now));
        let points: Vec<f64> = values
            .history(&t, "temperature")
            .iter()
            .map(|p| p.value)
            .collect();
        assert_eq!(points, [19.5, 19.7]);
        assert!(values.history(&t, "mode").is_empty());
    }

    #[test]
    fn history_is_bounded_in_points_and_time() {
        let values = LiveValues::default();
        let t = DeviceId::parse("igrs:thermostat").expect("id");
        let old = SystemTime::now() - HISTORY_SPAN - Duration::from_secs(60);
        values.observe(&t, "temperature", &Value::Number(1.0), old);
        let now = SystemTime::now();
        for i in 0..(HISTORY_POINTS + 10) {
            values.observe(&t, "temperature", &Value::Integer(i as i64), now);
        }
        let points = values.history(&t, "temperature");
        assert_eq!(points.len(), HISTORY_POINTS);
        assert_eq!(
            points.last().map(|p| p.value),
            Some((HISTORY_POINTS + 9) as f64)
        );
    }
}
