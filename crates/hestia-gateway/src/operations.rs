//! Deferred results and queued commands of the update of a device property (ISO/IEC
//! 10192-4-3 §6.2): a slow device's answer comes later than the caller waits, so the caller gets
//! an operation to look at (and a `result` notification on its event streams) instead of a
//! timeout; a command for an offline device, when the caller asks, waits for the device to
//! return within a time-to-live. Operations live in the gateway's memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use hestia_proto::device::Value;
use serde::Serialize;
use serde_json::json;

use crate::events::{Notification, rfc3339};
use crate::model::{CuiError, DeviceId, ErrorCode, PropertyName, PropertyValue, value_to_json};

/// How long a caller waits for a device before getting a deferred result, unless it asks.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);
/// The longest wait a caller may ask for (`Prefer: wait=N`).
pub const MAX_WAIT: Duration = Duration::from_secs(8);
/// A queued command's time-to-live when the request names none.
pub const DEFAULT_QUEUE_FOR: Duration = Duration::from_secs(600);
/// The longest time-to-live of a queued command.
pub const MAX_QUEUE_FOR: Duration = Duration::from_secs(24 * 3600);
/// How long a finished operation can still be looked at.
pub const KEEP_FINISHED: Duration = Duration::from_secs(3600);
/// Unfinished operations one user may hold.
pub const MAX_OPEN_PER_USER: usize = 256;

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Sent to the device; no answer yet.
    Pending,
    /// Waiting for the device to come online.
    Queued,
    Succeeded,
    Failed,
    /// The device did not come online within the time-to-live.
    Expired,
}

impl Status {
    fn is_finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Expired)
    }
}

/// An operation as the CUI shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationView {
    pub operation_id: String,
    pub status: Status,
    pub device_id: DeviceId,
    pub property: String,
    pub value: serde_json::Value,
    /// When a queued command expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<PropertyValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}

/// One set to carry out: who, on what, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct SetCommand {
    pub user: String,
    pub device: DeviceId,
    pub property: PropertyName,
    pub value: Value,
    /// The person confirmed it (a property that needs confirmation).
    pub confirmed: bool,
}

#[derive(Debug)]
struct Entry {
    user: String,
    command: SetCommand,
    view: OperationView,
    /// Whether the caller was answered 202: only then is the result notified.
    is_deferred: bool,
    queued_until: Option<SystemTime>,
    finished_at: Option<SystemTime>,
}

/// Every operation still worth looking at.
#[derive(Debug, Default)]
pub struct Operations {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Operations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a set about to be sent (`queued_for`: None) or queued for an offline device.
    pub fn open(
        &self,
        command: SetCommand,
        queued_for: Option<Duration>,
    ) -> Result<OperationView, CuiError> {
        let now = SystemTime::now();
        let mut entries = self.lock();
        entries.retain(|_, e| e.finished_at.is_none_or(|t| t + KEEP_FINISHED > now));
        let open = entries
            .values()
            .filter(|e| e.user == command.user && e.finished_at.is_none())
            .count();
        if open >= MAX_OPEN_PER_USER {
            return Err(CuiError::new(
                ErrorCode::Conflict,
                format!("a user has at most {MAX_OPEN_PER_USER} unfinished operations"),
            ));
        }
        let queued_until = queued_for.map(|ttl| now + ttl);
        let view = OperationView {
            operation_id: hestia_proto::stanza::new_id(),
            status: if queued_for.is_some() {
                Status::Queued
            } else {
                Status::Pending
            },
            device_id: command.device.clone(),
            property: command.property.as_str().to_owned(),
            value: value_to_json(&command.value),
            expires_at: queued_until.map(rfc3339),
            result: None,
            error: None,
        };
        entries.insert(
            view.operation_id.clone(),
            Entry {
                user: command.user.clone(),
                command,
                view: view.clone(),
                is_deferred: queued_for.is_some(),
                queued_until,
                finished_at: None,
            },
        );
        Ok(view)
    }

    /// The caller stops waiting: from now on the result is notified. None when the operation
    /// already finished (the caller then takes the result itself).
    pub fn defer(&self, id: &str) -> Option<OperationView> {
        let mut entries = self.lock();
        let entry = entries.get_mut(id)?;
        if entry.finished_at.is_some() {
            return None;
        }
        entry.is_deferred = true;
        Some(entry.view.clone())
    }

    /// Forgets an operation whose caller got the result directly.
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Records the outcome; the notification to send when the caller was deferred.
    pub fn finish(
        &self,
        id: &str,
        outcome: &Result<PropertyValue, CuiError>,
    ) -> Option<(String, Notification)> {
        let mut entries = self.lock();
        let entry = entries.get_mut(id)?;
        match outcome {
            Ok(value) => {
                entry.view.status = Status::Succeeded;
                entry.view.result = Some(value.clone());
            }
            Err(e) => {
                entry.view.status = Status::Failed;
                entry.view.error = Some(json!({ "code": e.code, "message": e.message }));
            }
        }
        entry.finished_at = Some(SystemTime::now());
        entry
            .is_deferred
            .then(|| (entry.user.clone(), result_notification(entry)))
    }

    /// The user's operation `id`; another user's is `not_found`.
    pub fn get(&self, user: &str, id: &str) -> Result<OperationView, CuiError> {
        self.lock()
            .get(id)
            .filter(|e| e.user == user)
            .map(|e| e.view.clone())
            .ok_or_else(|| CuiError::not_found(format!("no operation {id}")))
    }

    /// The queued commands for `device` still within their time-to-live, now pending.
    pub fn release_queued(&self, device: &DeviceId) -> Vec<(String, SetCommand)> {
        let now = SystemTime::now();
        let mut released = Vec::new();
        for (id, entry) in self.lock().iter_mut() {
            let is_due = entry.view.status == Status::Queued
                && &entry.command.device == device
                && entry.queued_until.is_some_and(|t| t > now);
            if is_due {
                entry.view.status = Status::Pending;
                released.push((id.clone(), entry.command.clone()));
            }
        }
        released
    }

    /// Expires the queued commands past their time-to-live; their notifications.
    pub fn expire(&self, now: SystemTime) -> Vec<(String, Notification)> {
        let mut expired = Vec::new();
        for entry in self.lock().values_mut() {
            if entry.view.status == Status::Queued && entry.queued_until.is_some_and(|t| t <= now) {
                entry.view.status = Status::Expired;
                entry.finished_at = Some(now);
                expired.push((entry.user.clone(), result_notification(entry)));
            }
        }
        expired
    }

    /// Whether an operation is still open (for tests and metrics).
    pub fn is_open(&self, id: &str) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|e| !e.view.status.is_finished())
    }
}

/// `{type: "result", correlationId: <operation id>, body: <the operation>}`.
fn result_notification(entry: &Entry) -> Notification {
    let envelope = json!({
        "type": "result",
        "messageId": hestia_proto::stanza::new_id(),
        "correlationId": entry.view.operation_id,
        "timestamp": rfc3339(SystemTime::now()),
        "userId": entry.user,
        "body": entry.view,
    });
    Notification {
        event_id: entry.view.operation_id.clone(),
        kind: "result",
        envelope: envelope.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> SetCommand {
        SetCommand {
            user: "alice".into(),
            device: DeviceId::parse("igrs:lamp").expect("id"),
            property: PropertyName::parse("on").expect("name"),
            value: Value::Boolean(true),
            confirmed: false,
        }
    }

    #[test]
    fn an_answer_in_time_is_never_notified_and_a_late_one_is() {
        let ops = Operations::default();
        let quick = ops.open(command(), None).expect("open");
        let done = Ok(PropertyValue {
            device_id: command().device,
            property: "on".into(),
            value: Value::Boolean(true),
        });
        assert!(ops.finish(&quick.operation_id, &done).is_none());
        assert!(ops.defer(&quick.operation_id).is_none(), "already finished");

        let slow = ops.open(command(), None).expect("open");
        let view = ops.defer(&slow.operation_id).expect("deferred");
        assert_eq!(view.status, Status::Pending);
        let (user, n) = ops.finish(&slow.operation_id, &done).expect("notified");
        assert_eq!(user, "alice");
        let v: serde_json::Value = serde_json::from_str(&n.envelope).expect("json");
        assert_eq!(v["type"], "result");
        assert_eq!(v["body"]["status"], "succeeded");
        assert_eq!(v["body"]["result"]["value"], true);
        assert_eq!(
            ops.get("bob", &slow.operation_id).expect_err("bob").code,
            ErrorCode::NotFound
        );
    }

    #[test]
    fn queued_commands_are_released_by_device_or_expire() {
        let ops = Operations::default();
        let q = ops
            .open(command(), Some(Duration::from_secs(60)))
            .expect("queued");
        assert_eq!(q.status, Status::Queued);
        assert!(q.expires_at.is_some());
        let other = DeviceId::parse("igrs:plug").expect("id");
        assert!(ops.release_queued(&other).is_empty());
        assert_eq!(ops.release_queued(&command().device).len(), 1);
        assert!(ops.release_queued(&command().device).is_empty(), "once");

        let late = ops
            .open(command(), Some(Duration::from_millis(1)))
            .expect("queued");
        let expired = ops.expire(SystemTime::now() + Duration::from_secs(1));
        assert_eq!(expired.len(), 1);
        assert_eq!(
            ops.get("alice", &late.operation_id).expect("kept").status,
            Status::Expired
        );
        assert!(!ops.is_open(&late.operation_id));
    }
}
