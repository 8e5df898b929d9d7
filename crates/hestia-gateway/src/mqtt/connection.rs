//! The MQTT cluster's one connection task: polls rumqttc's event loop (which reconnects when
//! polled after a failure), subscribes on every connection, and turns what the Homie devices
//! publish into the adapter's state and the gateway's cluster feed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS, SubscribeFilter};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::homie::{self, Description, DeviceState};
use super::{HomieDevice, Shared};
use crate::cluster::Observed;
use crate::events::{DeviceEvent, ONLINE};
use crate::model::DeviceId;

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Devices one cluster keeps at most; more are ignored (counted as unreadable).
const MAX_DEVICES: usize = 10_000;
/// Property topics one device keeps at most.
const MAX_TOPICS_PER_DEVICE: usize = 1024;

/// Runs until `stop` is cancelled.
pub(super) async fn run(
    shared: Arc<Shared>,
    client: AsyncClient,
    mut eventloop: EventLoop,
    stop: CancellationToken,
) {
    let cluster = shared.settings.name.clone();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let polled = tokio::select! {
            () = stop.cancelled() => {
                let _ = client.try_disconnect();
                return;
            }
            polled = eventloop.poll() => polled,
        };
        match polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = FIRST_BACKOFF;
                tracing::info!(cluster, host = %shared.settings.host, "MQTT cluster connected");
                subscribe(&client, &shared.settings.root);
                shared.is_connected.store(true, Ordering::Relaxed);
                metrics::gauge!("hestia_gateway_mqtt_connected", "cluster" => cluster.clone())
                    .set(1.0);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                metrics::counter!("hestia_gateway_mqtt_messages_total", "cluster" => cluster.clone())
                    .increment(1);
                shared.received(&p.topic, &p.payload);
            }
            Ok(_) => {}
            Err(e) => {
                if shared.is_connected.swap(false, Ordering::Relaxed) {
                    metrics::gauge!("hestia_gateway_mqtt_connected", "cluster" => cluster.clone())
                        .set(0.0);
                    shared.broker_lost();
                }
                // The error names the broker and the failure, never the credentials.
                tracing::warn!(cluster, error = %e, retry_in = ?backoff, "MQTT cluster unreachable");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Every device's `$state` and `$description`, and every property value (three levels under
/// the device; `$`-topics among them are left out when they arrive). Queued without waiting:
/// this task is the one that drains the queue.
fn subscribe(client: &AsyncClient, root: &str) {
    let base = format!("{root}/{}", homie::VERSION_LEVEL);
    let filters = ["+/$state", "+/$description", "+/+/+"]
        .map(|f| SubscribeFilter::new(format!("{base}/{f}"), QoS::AtLeastOnce));
    if let Err(e) = client.try_subscribe_many(filters) {
        tracing::warn!(error = %e, "the MQTT subscription could not be queued");
    }
}

impl Shared {
    /// One publication from the broker.
    pub(super) fn received(&self, topic: &str, payload: &[u8]) {
        let prefix = format!("{}/{}/", self.settings.root, homie::VERSION_LEVEL);
        let Some(rest) = topic.strip_prefix(&prefix) else {
            return;
        };
        let levels: Vec<&str> = rest.split('/').collect();
        match levels.as_slice() {
            [device, "$state"] if homie::is_valid_id(device) => self.state(device, payload),
            [device, "$description"] if homie::is_valid_id(device) => {
                self.description(device, payload)
            }
            [device, node, property]
                if [device, node, property]
                    .iter()
                    .all(|id| homie::is_valid_id(id)) =>
            {
                let Ok(text) = std::str::from_utf8(payload) else {
                    return self.unreadable(topic, "not UTF-8");
                };
                self.answer_waiters(topic, text);
                self.value(device, node, property, text);
            }
            _ => {}
        }
    }

    fn unreadable(&self, topic: &str, why: &str) {
        metrics::counter!("hestia_gateway_mqtt_unreadable_total", "cluster" => self.settings.name.clone())
            .increment(1);
        tracing::debug!(topic, why, "a Homie publication the gateway cannot read");
    }

    fn device_id(&self, device: &str) -> Option<DeviceId> {
        DeviceId::new(&self.settings.name, device).ok()
    }

    /// `$state`: an empty payload removes the device; a change of readiness is an `online`
    /// event.
    fn state(&self, device: &str, payload: &[u8]) {
        let state = match std::str::from_utf8(payload).map(DeviceState::parse) {
            Ok(state) => state,
            Err(_) => return self.unreadable(device, "$state is not UTF-8"),
        };
        let (was, is) = {
            let mut devices = self.lock_devices();
            let was = devices.get(device).is_some_and(|d| self.is_ready(d));
            if payload.is_empty() {
                devices.remove(device);
                (was, false)
            } else if let Some(state) = state {
                let Some(d) = entry(&mut devices, device) else {
                    return self.unreadable(device, "too many devices");
                };
                d.state = Some(state);
                (was, self.is_ready(d))
            } else {
                return self.unreadable(device, "an unknown $state");
            }
        };
        if was != is {
            self.tell_online(device, is);
        }
    }

    fn tell_online(&self, device: &str, online: bool) {
        let Some(device) = self.device_id(device) else {
            return;
        };
        self.feed.tell(Observed {
            event: DeviceEvent {
                device,
                event: ONLINE.to_owned(),
                event_id: hestia_proto::stanza::new_id(),
                at: SystemTime::now(),
                payload: json!({ "online": online }),
            },
            values: Vec::new(),
        });
    }

    /// `$description`: the device's properties; the values already heard now have a meaning.
    fn description(&self, device: &str, payload: &[u8]) {
        if payload.is_empty() {
            return;
        }
        let description = match Description::parse(payload) {
            Ok(d) => Arc::new(d),
            Err(why) => return self.unreadable(device, &why),
        };
        let values = {
            let mut devices = self.lock_devices();
            let Some(d) = entry(&mut devices, device) else {
                return self.unreadable(device, "too many devices");
            };
            d.description = Some(description.clone());
            d.payloads
                .iter()
                .filter_map(|((node, id), raw)| read(&description, node, id, raw))
                .collect::<Vec<_>>()
        };
        self.tell_values(device, values);
    }

    /// A property topic's payload.
    fn value(&self, device: &str, node: &str, id: &str, payload: &str) {
        let values = {
            let mut devices = self.lock_devices();
            let Some(d) = entry(&mut devices, device) else {
                return self.unreadable(device, "too many devices");
            };
            let key = (node.to_owned(), id.to_owned());
            if d.payloads.len() >= MAX_TOPICS_PER_DEVICE && !d.payloads.contains_key(&key) {
                return self.unreadable(device, "too many property topics");
            }
            d.payloads.insert(key, payload.to_owned());
            d.description
                .as_ref()
                .and_then(|desc| read(desc, node, id, payload))
        };
        self.tell_values(device, values.into_iter().collect());
    }

    fn tell_values(&self, device: &str, values: Vec<(String, hestia_proto::device::Value)>) {
        if values.is_empty() {
            return;
        }
        if let Some(id) = self.device_id(device) {
            self.feed.tell(Observed::values(id, values));
        }
    }

    /// The broker is gone: every device that was ready is offline, and its state unknown until
    /// the broker hands its retained `$state` again.
    fn broker_lost(&self) {
        let ready: Vec<String> = {
            let mut devices = self.lock_devices();
            let ready = devices
                .iter()
                .filter(|(_, d)| d.state.is_some_and(DeviceState::is_online))
                .map(|(id, _)| id.clone())
                .collect();
            devices.values_mut().for_each(|d| d.state = None);
            ready
        };
        for device in &ready {
            self.tell_online(device, false);
        }
    }
}

/// The device's entry, made if there is room: a broker full of topics cannot grow the
/// gateway's memory without bound.
fn entry<'a>(
    devices: &'a mut BTreeMap<String, HomieDevice>,
    device: &str,
) -> Option<&'a mut HomieDevice> {
    if devices.len() >= MAX_DEVICES && !devices.contains_key(device) {
        return None;
    }
    Some(devices.entry(device.to_owned()).or_default())
}

/// A payload as the value of the property its topic names, with its CUI name.
fn read(
    description: &Description,
    node: &str,
    id: &str,
    raw: &str,
) -> Option<(String, hestia_proto::device::Value)> {
    let (name, p) = description.by_topic(node, id)?;
    p.read(raw).map(|v| (name.to_owned(), v))
}
