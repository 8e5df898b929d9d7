//! The MQTT cluster adapter (ISO/IEC 10192-4-3 §5 interface object for a non-IGRS cluster): a
//! home whose devices follow the Homie convention v5 ([`homie`]) on an MQTT broker. Its devices
//! are `<cluster>:<homie device id>`, a Homie property `<node>/<property>` is the CUI property
//! `<node>_<property>`; values come from the retained property topics, online status from
//! `$state`, and a set publishes to `…/set` and waits for the device to publish the new value.
//!
//! Who reaches the cluster is the §7 relationship between a CUI user (an IGRS account) and this
//! cluster, configured as its `members` with a right on all of its devices: a user not listed
//! sees none of them, a `view` member cannot set.

pub mod config;
mod connection;
mod formats;
pub mod homie;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use hestia_proto::device::Value;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, DropGuard};

pub use config::{Member, MqttConfig, MqttSettings};

use crate::cluster::ClusterFeed;
use crate::model::{
    CuiError, DeviceId, DeviceView, ErrorCode, PropertyName, PropertyValue, PropertyView,
};
use homie::{Description, DeviceState, Property};

/// The largest MQTT packet taken or sent: a `$description` of a big device is tens of KiB.
const MAX_PACKET_BYTES: usize = 256 * 1024;
/// Requests (publishes, subscriptions) queued for the event loop.
const REQUEST_QUEUE: usize = 64;

/// A member's right on every device of an MQTT cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRight {
    View,
    Control,
    Owner,
}

impl MemberRight {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRight::View => "view",
            MemberRight::Control => "control",
            MemberRight::Owner => "owner",
        }
    }

    fn may_set(self) -> bool {
        self != MemberRight::View
    }
}

/// One Homie device as last heard.
#[derive(Debug, Default)]
struct HomieDevice {
    state: Option<DeviceState>,
    description: Option<Arc<Description>>,
    /// The last payload of each property topic, by (node, property): kept even before the
    /// description that says how to read it arrives.
    payloads: HashMap<(String, String), String>,
}

/// What the adapter and its connection task share.
#[derive(Debug)]
struct Shared {
    settings: MqttSettings,
    feed: ClusterFeed,
    is_connected: AtomicBool,
    devices: Mutex<BTreeMap<String, HomieDevice>>,
    /// Sets waiting for the device's echo, by property topic.
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<String>>>>,
}

/// An MQTT broker's Homie devices, as a cluster.
#[derive(Debug)]
pub struct MqttCluster {
    shared: Arc<Shared>,
    client: AsyncClient,
    /// Ends the connection task when the cluster is dropped (removed from the gateway).
    _stop: DropGuard,
}

impl MqttCluster {
    /// The cluster and its connection task, which the caller runs on its task tracker: it
    /// connects, subscribes, tells `feed` what the devices do, and reconnects with back-off
    /// until the cluster is dropped.
    pub fn start(
        settings: MqttSettings,
        feed: ClusterFeed,
    ) -> (MqttCluster, impl Future<Output = ()> + Send + 'static) {
        let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
        options
            .set_keep_alive(std::time::Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        if let Some((user, password)) = &settings.credentials {
            options.set_credentials(user, password.expose());
        }
        let (client, eventloop) = AsyncClient::new(options, REQUEST_QUEUE);
        let shared = Arc::new(Shared {
            settings,
            feed,
            is_connected: AtomicBool::new(false),
            devices: Mutex::default(),
            waiters: Mutex::default(),
        });
        let stop = CancellationToken::new();
        let task = connection::run(shared.clone(), client.clone(), eventloop, stop.clone());
        let cluster = MqttCluster {
            shared,
            client,
            _stop: stop.drop_guard(),
        };
        (cluster, task)
    }

    pub fn name(&self) -> &str {
        &self.shared.settings.name
    }

    fn right_of(&self, user: &str) -> Option<MemberRight> {
        self.shared.settings.members.get(user).copied()
    }

    /// Every device of the broker, to a member; none to anyone else.
    pub fn devices(&self, user: &str) -> Vec<DeviceView> {
        let Some(right) = self.right_of(user) else {
            return Vec::new();
        };
        let devices = self.shared.lock_devices();
        let mut views = Vec::with_capacity(devices.len());
        // A device is one that announced itself: property topics alone do not make one.
        let announced = devices
            .iter()
            .filter(|(_, d)| d.state.is_some() || d.description.is_some());
        for (id, device) in announced {
            let Ok(device_id) = DeviceId::new(self.name(), id) else {
                continue;
            };
            let description = device.description.as_deref();
            views.push(DeviceView {
                id: device_id,
                cluster: self.name().to_owned(),
                device_type: description
                    .and_then(|d| d.device_type.clone())
                    .unwrap_or_default(),
                name: description
                    .and_then(|d| d.name.clone())
                    .unwrap_or_else(|| id.clone()),
                online: self.shared.is_ready(device),
                right: right.as_str().to_owned(),
                properties: description.map_or_else(Vec::new, |d| {
                    d.properties
                        .iter()
                        .map(|(name, p)| p.view(name))
                        .collect::<Vec<PropertyView>>()
                }),
                events: Vec::new(),
            });
        }
        views
    }

    /// The property as described and its device's id, once `user` is known to be a member;
    /// a stranger, an unknown device or property are all `not_found`.
    fn target(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
    ) -> Result<(MemberRight, Property), CuiError> {
        let no_device = || CuiError::not_found(format!("no device {device}"));
        let right = self.right_of(user).ok_or_else(no_device)?;
        if device.cluster() != self.name() {
            return Err(no_device());
        }
        let devices = self.shared.lock_devices();
        let described = devices.get(device.local()).ok_or_else(no_device)?;
        let p = described
            .description
            .as_ref()
            .and_then(|d| d.properties.get(property.as_str()))
            .ok_or_else(|| {
                CuiError::not_found(format!("{device} has no property {}", property.as_str()))
            })?;
        Ok((right, p.clone()))
    }

    /// The last value the device published.
    pub fn get(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
    ) -> Result<PropertyValue, CuiError> {
        let (_, p) = self.target(user, device, property)?;
        let devices = self.shared.lock_devices();
        let value = devices
            .get(device.local())
            .and_then(|d| d.payloads.get(&(p.node.clone(), p.id.clone())))
            .and_then(|raw| p.read(raw))
            .ok_or_else(|| {
                CuiError::new(
                    ErrorCode::ClusterUnreachable,
                    format!("{device} has published no value of {}", property.as_str()),
                )
            })?;
        Ok(PropertyValue {
            device_id: device.clone(),
            property: property.as_str().to_owned(),
            value,
        })
    }

    /// What can be checked of a set before the device sees it: membership and right, the
    /// property is settable, the value fits its datatype. The property and the `/set` payload.
    pub fn check_set(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
        value: &Value,
    ) -> Result<(Property, String), CuiError> {
        let (right, p) = self.target(user, device, property)?;
        if !right.may_set() {
            return Err(CuiError::forbidden(
                "your right on this cluster does not allow this",
            ));
        }
        if !p.is_settable {
            return Err(CuiError::new(
                ErrorCode::ReadOnly,
                "property is read-only (not settable)",
            ));
        }
        let payload = p.payload(value)?;
        Ok((p, payload))
    }

    /// Publishes to the property's `/set` topic and waits for the device to publish the value
    /// it took (a non-retained property is fire-and-forget: Homie devices do not echo it).
    pub async fn set(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
        value: Value,
    ) -> Result<PropertyValue, CuiError> {
        let (p, payload) = self.check_set(user, device, property, &value)?;
        if !self.is_online(device) {
            return Err(CuiError::new(
                ErrorCode::ClusterUnreachable,
                "device_offline: the device is not ready",
            ));
        }
        let topic = self.shared.property_topic(device.local(), &p);
        let echo = p.is_retained.then(|| self.shared.wait_for(&topic));
        self.client
            .publish(format!("{topic}/set"), QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| CuiError::new(ErrorCode::ClusterUnreachable, format!("mqtt: {e}")))?;
        let value = match echo {
            None => value,
            Some(echo) => self.echoed(echo, &p).await?,
        };
        Ok(PropertyValue {
            device_id: device.clone(),
            property: property.as_str().to_owned(),
            value,
        })
    }

    async fn echoed(
        &self,
        echo: oneshot::Receiver<String>,
        p: &Property,
    ) -> Result<Value, CuiError> {
        let timeout = self.shared.settings.set_timeout;
        match tokio::time::timeout(timeout, echo).await {
            Ok(Ok(raw)) => p.read(&raw).ok_or_else(|| {
                CuiError::new(
                    ErrorCode::ClusterUnreachable,
                    "the device published a value its datatype does not allow",
                )
            }),
            Ok(Err(_)) => Err(CuiError::internal("the MQTT connection task ended")),
            Err(_) => {
                metrics::counter!("hestia_gateway_mqtt_set_timeouts_total", "cluster" => self.name().to_owned())
                    .increment(1);
                Err(CuiError::new(
                    ErrorCode::Timeout,
                    format!("the device did not publish the new value within {timeout:?}"),
                ))
            }
        }
    }

    /// Whether the broker is reachable and the device's `$state` is `ready`.
    pub fn is_online(&self, device: &DeviceId) -> bool {
        device.cluster() == self.name()
            && self
                .shared
                .lock_devices()
                .get(device.local())
                .is_some_and(|d| self.shared.is_ready(d))
    }

    /// A member may see every device of the cluster.
    pub fn may_view(&self, user: &str, device: &DeviceId) -> bool {
        device.cluster() == self.name() && self.right_of(user).is_some()
    }
}

impl Shared {
    fn lock_devices(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, HomieDevice>> {
        self.devices.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_ready(&self, device: &HomieDevice) -> bool {
        self.is_connected.load(Ordering::Relaxed)
            && device.state.is_some_and(DeviceState::is_online)
    }

    fn property_topic(&self, device: &str, p: &Property) -> String {
        format!(
            "{}/{}/{device}/{}/{}",
            self.settings.root,
            homie::VERSION_LEVEL,
            p.node,
            p.id
        )
    }

    /// The next payload published on `topic`.
    fn wait_for(&self, topic: &str) -> oneshot::Receiver<String> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let list = waiters.entry(topic.to_owned()).or_default();
        list.retain(|w| !w.is_closed());
        list.push(tx);
        rx
    }

    /// Hands a payload published on `topic` to the sets waiting for it.
    fn answer_waiters(&self, topic: &str, payload: &str) {
        let waiting = self
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(topic);
        for waiter in waiting.into_iter().flatten() {
            let _ = waiter.send(payload.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Observed;

    /// A cluster whose connection task never runs: publications are handed to it directly.
    fn cluster() -> (MqttCluster, tokio::sync::mpsc::Receiver<Observed>) {
        let config = MqttConfig {
            name: "mqtt".into(),
            members: vec![Member {
                user: "alice".into(),
                right: MemberRight::View,
            }],
            ..MqttConfig::default()
        };
        let (feed, told) = ClusterFeed::channel();
        let (cluster, _never_run) =
            MqttCluster::start(MqttSettings::new(&config).expect("valid"), feed);
        cluster.shared.is_connected.store(true, Ordering::Relaxed);
        (cluster, told)
    }

    const DESCRIPTION: &str = r#"{"homie":"5.0","version":1,"nodes":{"light":{"properties":{"on":{"datatype":"boolean","settable":true}}}}}"#;

    #[tokio::test]
    async fn publications_become_devices_values_and_online_events() {
        let (cluster, mut told) = cluster();
        let hear = |topic: &str, payload: &str| cluster.shared.received(topic, payload.as_bytes());
        hear("homie/5/lamp/light/on", "true");
        assert!(
            cluster.devices("alice").is_empty(),
            "a value alone is no device"
        );
        hear("homie/5/lamp/$state", "ready");
        let online = told.try_recv().expect("online");
        assert_eq!(online.event.payload, serde_json::json!({"online": true}));
        assert_eq!(cluster.devices("alice")[0].right, "view");
        assert!(cluster.devices("bob").is_empty(), "bob is no member");
        hear("homie/5/lamp/$description", DESCRIPTION);
        let values = told.try_recv().expect("values");
        assert!(values.is_values_only());
        assert_eq!(
            values.values,
            [("light_on".to_owned(), Value::Boolean(true))]
        );
        for ignored in [
            "homie/5/lamp/$meta/x",
            "homie/5/$broadcast/a/b",
            "other/5/lamp/light/on",
            "homie/4/lamp/light/on",
            "homie/5/Lamp/light/on",
        ] {
            hear(ignored, "false");
        }
        hear("homie/5/lamp/$state", "sleeping");
        let offline = told.try_recv().expect("offline");
        assert_eq!(offline.event.payload, serde_json::json!({"online": false}));
        assert!(told.try_recv().is_err(), "nothing else was told");
        let lamp = DeviceId::parse("mqtt:lamp").expect("id");
        let on = PropertyName::parse("light_on").expect("name");
        assert_eq!(
            cluster.get("alice", &lamp, &on).expect("read").value,
            Value::Boolean(true)
        );
        let refused = cluster.check_set("alice", &lamp, &on, &Value::Boolean(false));
        assert_eq!(refused.expect_err("view").code, ErrorCode::Forbidden);
        hear("homie/5/lamp/$state", "");
        assert!(
            cluster.devices("alice").is_empty(),
            "an empty $state removes the device"
        );
    }
}
