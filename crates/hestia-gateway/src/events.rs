//! Subscription to an event of a device and notification of an event (ISO/IEC 10192-4-3
//! §6.2 HES-CLIP): a user subscribes to one event of one device, with an optional filter and
//! an expiry; each notification carries the subscription's next `seq` (a gap tells the client
//! it missed some) and the event's `eventId` (the same event heard twice is one event).
//!
//! Notifications go to the user's open event streams (Server-Sent Events or WebSocket). A
//! subscription outlives a closed stream until it expires: its `seq` keeps counting, so a
//! client that reconnects sees the gap. Subscriptions live in the gateway's memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::model::{CuiError, DeviceId, ErrorCode};
use crate::webhook::{Callback, Delivery, Policy, Reach, Webhook};

/// The event every device has: its connection to its cluster came or went.
pub const ONLINE: &str = "online";
/// The event every device has: one of its property values changed.
pub const PROPERTY: &str = "property";

/// A subscription's lifetime when the request names none.
pub const DEFAULT_EXPIRES: Duration = Duration::from_secs(3600);
/// The longest lifetime one request may ask for; renewing extends it.
pub const MAX_EXPIRES: Duration = Duration::from_secs(24 * 3600);
/// Subscriptions one user may hold at once.
pub const MAX_PER_USER: usize = 256;
/// Notifications queued for one slow stream before it is told it lagged.
const STREAM_QUEUE: usize = 1024;

/// Something that happened to a device, as its cluster tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceEvent {
    pub device: DeviceId,
    pub event: String,
    pub event_id: String,
    pub at: SystemTime,
    pub payload: serde_json::Value,
}

/// An event name a subscription may ask for: 1-64 of a-z, 0-9, `_` and `-`.
pub fn check_event_name(name: &str) -> Result<(), CuiError> {
    if hestia_proto::device::is_valid_name(name) {
        Ok(())
    } else {
        Err(CuiError::bad_request(
            "an event name is 1-64 of a-z, 0-9, _ and -",
        ))
    }
}

/// Payload fields that must all equal the given values for a notification to be sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Filter(serde_json::Map<String, serde_json::Value>);

impl Filter {
    /// A filter from a request: an object of scalar values.
    pub fn parse(value: Option<&serde_json::Value>) -> Result<Filter, CuiError> {
        let Some(value) = value else {
            return Ok(Filter::default());
        };
        let bad = || CuiError::bad_request("filter is an object of field: scalar value");
        let map = value.as_object().ok_or_else(bad)?;
        if map
            .values()
            .any(|v| v.is_object() || v.is_array() || v.is_null())
        {
            return Err(bad());
        }
        Ok(Filter(map.clone()))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn admits(&self, payload: &serde_json::Value) -> bool {
        self.0.iter().all(|(k, want)| payload.get(k) == Some(want))
    }
}

/// One user's subscription to one event of one device.
#[derive(Debug)]
pub struct Subscription {
    pub id: String,
    pub user: String,
    pub device: DeviceId,
    pub event: String,
    /// The OAuth grant of the token it was made with; revoking the grant cancels it.
    pub grant: Option<String>,
    filter: Filter,
    expires_at: Mutex<SystemTime>,
    seq: AtomicU64,
    /// Where notifications go when not to the user's streams.
    webhook: Option<Webhook>,
}

impl Subscription {
    fn expires_at(&self) -> SystemTime {
        *self.expires_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_live(&self, now: SystemTime) -> bool {
        self.expires_at() > now
    }

    pub fn view(&self) -> SubscriptionView {
        SubscriptionView {
            subscription_id: self.id.clone(),
            device_id: self.device.clone(),
            event: self.event.clone(),
            filter: self.filter.clone(),
            expires_at: rfc3339(self.expires_at()),
            seq: self.seq.load(Ordering::Relaxed),
            callback: self.webhook.as_ref().map(|w| w.callback.url.to_string()),
            suspended: self.webhook.as_ref().map(|w| w.health.is_suspended()),
        }
    }
}

/// A subscription as the CUI shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    pub subscription_id: String,
    pub device_id: DeviceId,
    pub event: String,
    #[serde(skip_serializing_if = "Filter::is_empty")]
    pub filter: Filter,
    pub expires_at: String,
    /// The `seq` of the last notification sent (0: none yet).
    pub seq: u64,
    /// The webhook URL, when notifications are POSTed rather than streamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    /// Whether the webhook is suspended after repeated failures (renewing resumes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended: Option<bool>,
}

/// One notification, serialized once as the envelope of `../shared/DESIGN.md` §4.
#[derive(Debug)]
pub struct Notification {
    /// The event id (of a result: the operation id).
    pub event_id: String,
    /// The envelope's `type`: `event`, or `result` of a deferred operation.
    pub kind: &'static str,
    pub envelope: String,
}

/// What a user asks to subscribe to.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeRequest {
    pub device: DeviceId,
    pub event: String,
    pub filter: Filter,
    pub expires_in: Duration,
    /// POST notifications here instead of streaming them.
    pub callback: Option<Callback>,
    /// The OAuth grant of the subscribing token, if it was one.
    pub grant: Option<String>,
}

/// Subscriptions by the (device, event) they listen to.
type ByTopic = HashMap<(DeviceId, String), Vec<Arc<Subscription>>>;

/// Every live subscription, indexed by id and by (device, event), and every open stream.
#[derive(Debug, Default)]
pub struct Events {
    by_id: RwLock<HashMap<String, Arc<Subscription>>>,
    by_topic: RwLock<ByTopic>,
    streams: RwLock<HashMap<String, broadcast::Sender<Arc<Notification>>>>,
    webhooks: Webhooks,
}

/// What webhook deliveries share: one HTTP client (its connection pool), the retry policy and
/// the delivery tasks.
#[derive(Debug)]
struct Webhooks {
    client: reqwest::Client,
    policy: Mutex<Policy>,
    tasks: tokio_util::task::TaskTracker,
}

impl Default for Webhooks {
    fn default() -> Self {
        Webhooks::reaching(Reach::default())
    }
}

impl Webhooks {
    fn reaching(reach: Reach) -> Webhooks {
        Webhooks {
            client: reach.client(),
            policy: Mutex::default(),
            tasks: tokio_util::task::TaskTracker::new(),
        }
    }
}

impl Events {
    /// No subscriptions yet; webhooks reach only what `reach` allows.
    pub fn with_reach(reach: Reach) -> Events {
        Events {
            webhooks: Webhooks::reaching(reach),
            ..Events::default()
        }
    }

    /// How hard webhooks are tried from now on (tests shorten the back-off).
    pub fn set_webhook_policy(&self, policy: Policy) {
        *self
            .webhooks
            .policy
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = policy;
    }

    /// Records a subscription the gateway has checked the user may make.
    pub fn subscribe(
        &self,
        user: &str,
        request: SubscribeRequest,
    ) -> Result<SubscriptionView, CuiError> {
        let now = SystemTime::now();
        self.sweep(now);
        let mut by_id = write(&self.by_id);
        if by_id.values().filter(|s| s.user == user).count() >= MAX_PER_USER {
            return Err(CuiError::new(
                ErrorCode::Conflict,
                format!("a user holds at most {MAX_PER_USER} subscriptions"),
            ));
        }
        let subscription = Arc::new(Subscription {
            id: hestia_proto::stanza::new_id(),
            user: user.to_owned(),
            device: request.device,
            event: request.event,
            grant: request.grant,
            filter: request.filter,
            expires_at: Mutex::new(now + request.expires_in),
            seq: AtomicU64::new(0),
            webhook: request.callback.map(|callback| {
                let policy = *self
                    .webhooks
                    .policy
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                Webhook::start(
                    callback,
                    self.webhooks.client.clone(),
                    policy,
                    &self.webhooks.tasks,
                )
            }),
        });
        by_id.insert(subscription.id.clone(), subscription.clone());
        drop(by_id);
        write(&self.by_topic)
            .entry((subscription.device.clone(), subscription.event.clone()))
            .or_default()
            .push(subscription.clone());
        metrics::gauge!("hestia_gateway_subscriptions").increment(1.0);
        Ok(subscription.view())
    }

    /// The user's live subscription `id`; another user's is `not_found`, never `forbidden`.
    pub fn get(&self, user: &str, id: &str) -> Result<Arc<Subscription>, CuiError> {
        read(&self.by_id)
            .get(id)
            .filter(|s| s.user == user && s.is_live(SystemTime::now()))
            .cloned()
            .ok_or_else(|| CuiError::not_found(format!("no subscription {id}")))
    }

    /// Extends a subscription to `expires_in` from now.
    pub fn renew(
        &self,
        user: &str,
        id: &str,
        expires_in: Duration,
    ) -> Result<SubscriptionView, CuiError> {
        let subscription = self.get(user, id)?;
        *subscription
            .expires_at
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = SystemTime::now() + expires_in;
        if let Some(webhook) = &subscription.webhook {
            webhook.health.resume();
        }
        Ok(subscription.view())
    }

    pub fn cancel(&self, user: &str, id: &str) -> Result<(), CuiError> {
        let subscription = self.get(user, id)?;
        self.remove(&subscription);
        Ok(())
    }

    /// The user's live subscriptions, oldest first.
    pub fn list(&self, user: &str) -> Vec<SubscriptionView> {
        let now = SystemTime::now();
        let mut mine: Vec<SubscriptionView> = read(&self.by_id)
            .values()
            .filter(|s| s.user == user && s.is_live(now))
            .map(|s| s.view())
            .collect();
        mine.sort_by(|a, b| a.expires_at.cmp(&b.expires_at));
        mine
    }

    /// Cancels every subscription of `user` (signed out, or the grant was withdrawn).
    pub fn cancel_all(&self, user: &str) {
        self.cancel_where(|s| s.user == user);
    }

    /// Whether a live subscription of `user` wants the device's event.
    pub fn is_wanted(&self, user: &str, device: &DeviceId, event: &str) -> bool {
        let now = SystemTime::now();
        read(&self.by_id)
            .values()
            .any(|s| s.user == user && s.device == *device && s.event == event && s.is_live(now))
    }

    /// Cancels every subscription made with a token of `grant` (the grant was revoked).
    pub fn cancel_grant(&self, grant: &str) {
        self.cancel_where(|s| s.grant.as_deref() == Some(grant));
    }

    /// Cancels every subscription `doomed` picks.
    pub fn cancel_where(&self, doomed: impl Fn(&Subscription) -> bool) {
        let picked: Vec<Arc<Subscription>> = read(&self.by_id)
            .values()
            .filter(|s| doomed(s))
            .cloned()
            .collect();
        for s in picked {
            self.remove(&s);
        }
    }

    /// A new stream of the user's notifications.
    pub fn stream(&self, user: &str) -> broadcast::Receiver<Arc<Notification>> {
        write(&self.streams)
            .entry(user.to_owned())
            .or_insert_with(|| broadcast::channel(STREAM_QUEUE).0)
            .subscribe()
    }

    /// The live subscriptions `event` matches (topic and filter).
    pub fn matching(&self, event: &DeviceEvent) -> Vec<Arc<Subscription>> {
        let now = SystemTime::now();
        let key = (event.device.clone(), event.event.clone());
        let topics = read(&self.by_topic);
        let Some(subscribed) = topics.get(&key) else {
            return Vec::new();
        };
        subscribed
            .iter()
            .filter(|s| s.is_live(now) && s.filter.admits(&event.payload))
            .cloned()
            .collect()
    }

    /// Sends `event` as the subscription's next notification to the user's open streams;
    /// returns how many streams got it.
    pub fn notify(&self, subscription: &Subscription, event: &DeviceEvent) -> usize {
        let seq = subscription.seq.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(webhook) = &subscription.webhook {
            let delivery = Delivery {
                event_id: event.event_id.clone(),
                envelope: envelope(subscription, seq, event).to_string(),
            };
            return usize::from(webhook.send(delivery));
        }
        let streams = read(&self.streams);
        let Some(tx) = streams.get(&subscription.user) else {
            return 0;
        };
        let notification = Notification {
            event_id: event.event_id.clone(),
            kind: "event",
            envelope: envelope(subscription, seq, event).to_string(),
        };
        let sent = tx.send(Arc::new(notification)).unwrap_or(0);
        metrics::counter!("hestia_gateway_notifications_total").increment(sent as u64);
        sent
    }

    /// Sends a notification that belongs to no subscription (a deferred result) to the
    /// user's open streams; how many got it.
    pub fn send_to_user(&self, user: &str, notification: Notification) -> usize {
        read(&self.streams)
            .get(user)
            .map_or(0, |tx| tx.send(Arc::new(notification)).unwrap_or(0))
    }

    /// Forgets streams nobody reads any more; called when one closes.
    pub fn close_stream(&self, user: &str) {
        let mut streams = write(&self.streams);
        if streams.get(user).is_some_and(|tx| tx.receiver_count() == 0) {
            streams.remove(user);
        }
    }

    fn remove(&self, subscription: &Subscription) {
        if write(&self.by_id).remove(&subscription.id).is_none() {
            return;
        }
        let key = (subscription.device.clone(), subscription.event.clone());
        let mut topics = write(&self.by_topic);
        if let Some(list) = topics.get_mut(&key) {
            list.retain(|s| s.id != subscription.id);
            if list.is_empty() {
                topics.remove(&key);
            }
        }
        metrics::gauge!("hestia_gateway_subscriptions").decrement(1.0);
    }

    /// Drops expired subscriptions (at each new one, so the tables stay bounded).
    fn sweep(&self, now: SystemTime) {
        let expired: Vec<Arc<Subscription>> = read(&self.by_id)
            .values()
            .filter(|s| !s.is_live(now))
            .cloned()
            .collect();
        for s in expired {
            self.remove(&s);
        }
    }
}

/// `{type, messageId, correlationId, timestamp, userId, body}`, the correlation id being the
/// subscription's.
fn envelope(subscription: &Subscription, seq: u64, event: &DeviceEvent) -> serde_json::Value {
    json!({
        "type": "event",
        "messageId": hestia_proto::stanza::new_id(),
        "correlationId": subscription.id,
        "timestamp": rfc3339(event.at),
        "userId": subscription.user,
        "body": {
            "subscriptionId": subscription.id,
            "seq": seq,
            "eventId": event.event_id,
            "deviceId": event.device,
            "event": event.event,
            "payload": event.payload,
        },
    })
}

/// A time as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(device: &str, name: &str, payload: serde_json::Value) -> DeviceEvent {
        DeviceEvent {
            device: DeviceId::parse(device).expect("id"),
            event: name.to_owned(),
            event_id: hestia_proto::stanza::new_id(),
            at: SystemTime::now(),
            payload,
        }
    }

    fn request(device: &str, name: &str, filter: Filter) -> SubscribeRequest {
        SubscribeRequest {
            device: DeviceId::parse(device).expect("id"),
            event: name.to_owned(),
            filter,
            expires_in: DEFAULT_EXPIRES,
            callback: None,
            grant: None,
        }
    }

    #[test]
    fn notifications_count_seq_per_subscription_and_honour_filters() {
        let events = Events::default();
        let filter = Filter::parse(Some(&json!({"zone": "hall"}))).expect("filter");
        let all = events
            .subscribe("alice", request("igrs:cam", "motion", Filter::default()))
            .expect("all");
        let hall = events
            .subscribe("alice", request("igrs:cam", "motion", filter))
            .expect("hall");
        let mut stream = events.stream("alice");
        for zone in ["hall", "garden", "hall"] {
            let e = event("igrs:cam", "motion", json!({"zone": zone}));
            for s in events.matching(&e) {
                assert_eq!(events.notify(&s, &e), 1);
            }
        }
        let mut seqs: HashMap<String, Vec<u64>> = HashMap::new();
        while let Ok(n) = stream.try_recv() {
            let v: serde_json::Value = serde_json::from_str(&n.envelope).expect("json");
            assert_eq!(v["type"], "event");
            assert_eq!(v["body"]["eventId"], n.event_id.as_str());
            let id = v["body"]["subscriptionId"].as_str().expect("id").to_owned();
            seqs.entry(id)
                .or_default()
                .push(v["body"]["seq"].as_u64().expect("seq"));
        }
        assert_eq!(seqs[&all.subscription_id], [1, 2, 3]);
        assert_eq!(seqs[&hall.subscription_id], [1, 2]);
    }

    #[test]
    fn subscriptions_are_private_expire_and_cancel() {
        let events = Events::default();
        let view = events
            .subscribe("alice", request("igrs:lamp", PROPERTY, Filter::default()))
            .expect("subscribe");
        let id = &view.subscription_id;
        assert_eq!(
            events.get("bob", id).expect_err("bob").code,
            ErrorCode::NotFound
        );
        assert_eq!(events.list("alice").len(), 1);
        assert!(events.list("bob").is_empty());
        events
            .renew("alice", id, Duration::from_millis(1))
            .expect("renew");
        std::thread::sleep(Duration::from_millis(5));
        let e = event("igrs:lamp", PROPERTY, json!({}));
        assert!(events.matching(&e).is_empty(), "expired");
        assert_eq!(
            events.cancel("alice", id).expect_err("expired").code,
            ErrorCode::NotFound
        );
        let again = events
            .subscribe("alice", request("igrs:lamp", PROPERTY, Filter::default()))
            .expect("again");
        events
            .cancel("alice", &again.subscription_id)
            .expect("cancel");
        assert!(events.matching(&e).is_empty(), "cancelled");
    }

    #[test]
    fn filters_are_objects_of_scalars() {
        assert!(Filter::parse(None).expect("none").is_empty());
        for bad in [
            json!([1]),
            json!("x"),
            json!({"a": {"b": 1}}),
            json!({"a": null}),
        ] {
            assert!(Filter::parse(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_user_holds_a_bounded_number() {
        let events = Events::default();
        for _ in 0..MAX_PER_USER {
            events
                .subscribe("alice", request("igrs:lamp", ONLINE, Filter::default()))
                .expect("within");
        }
        let e = events
            .subscribe("alice", request("igrs:lamp", ONLINE, Filter::default()))
            .expect_err("over");
        assert_eq!(e.code, ErrorCode::Conflict);
        events
            .subscribe("bob", request("igrs:lamp", ONLINE, Filter::default()))
            .expect("bob has his own");
    }
}
