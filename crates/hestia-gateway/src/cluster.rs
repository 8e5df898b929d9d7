//! The gateway's clusters (ISO/IEC 10192-4-3 §5 interface objects), registered in one place:
//! each adapter answers the same questions for the devices it names, so the operations of
//! [`crate::model`] never know which kind of home a device lives in. A device id's cluster
//! part picks the adapter.

use std::sync::{Arc, RwLock};

use hestia_proto::device::Value;
use tokio::sync::mpsc;

use crate::events::{DeviceEvent, PROPERTY};
use crate::federation::peer::PeerCluster;
use crate::igrs::IgrsCluster;
use crate::model::{CuiError, DeviceId, DeviceView, PropertyName, PropertyValue};
use crate::mqtt::MqttCluster;

/// How many observations an adapter may have told before the gateway reads them; a full
/// channel drops the newest (counted), so a flood from one cluster never stalls the others.
const FEED_DEPTH: usize = 4096;

/// What a cluster adapter saw of one of its devices: the event to notify, and the property
/// values it reports (each becomes a `property` notification when it changed).
#[derive(Debug, Clone)]
pub struct Observed {
    pub event: DeviceEvent,
    pub values: Vec<(String, Value)>,
}

impl Observed {
    /// Property values alone: each is a `property` notification when it changed, and no other
    /// event is told.
    pub fn values(device: DeviceId, values: Vec<(String, Value)>) -> Observed {
        Observed {
            event: DeviceEvent {
                device,
                event: PROPERTY.to_owned(),
                event_id: hestia_proto::stanza::new_id(),
                at: std::time::SystemTime::now(),
                payload: serde_json::Value::Null,
            },
            values,
        }
    }

    /// Whether this carries only values (see [`Observed::values`]): a `property` event
    /// without a payload, which no device event is (their payloads are objects).
    pub fn is_values_only(&self) -> bool {
        self.event.event == PROPERTY && self.event.payload.is_null()
    }
}

/// The sending side of the gateway's cluster feed: adapters other than the in-process IGRS one
/// (whose devices the router's feed tells) report what their devices do through it.
#[derive(Debug, Clone)]
pub struct ClusterFeed(mpsc::Sender<Observed>);

impl ClusterFeed {
    /// A feed and the receiver the gateway's listener reads.
    pub fn channel() -> (ClusterFeed, mpsc::Receiver<Observed>) {
        let (tx, rx) = mpsc::channel(FEED_DEPTH);
        (ClusterFeed(tx), rx)
    }

    /// Tells the gateway; never waits (a full or closed feed drops the observation).
    pub fn tell(&self, observed: Observed) {
        if self.0.try_send(observed).is_err() {
            metrics::counter!("hestia_gateway_cluster_feed_dropped_total").increment(1);
        }
    }
}

/// One cluster adapter.
#[derive(Debug)]
pub enum Cluster {
    Igrs(IgrsCluster),
    /// A peer gateway a user federated with (§9).
    Peer(PeerCluster),
    /// A home of Homie v5 devices on an MQTT broker.
    Mqtt(MqttCluster),
}

impl Cluster {
    /// The cluster part of its devices' ids.
    pub fn name(&self) -> &str {
        match self {
            Cluster::Igrs(_) => crate::igrs::CLUSTER,
            Cluster::Peer(c) => c.name(),
            Cluster::Mqtt(c) => c.name(),
        }
    }

    /// Every device of the cluster `user` holds a right on.
    pub async fn devices(&self, user: &str) -> Result<Vec<DeviceView>, CuiError> {
        match self {
            Cluster::Igrs(c) => c.devices(user).await,
            Cluster::Peer(c) => c.devices(user).await,
            Cluster::Mqtt(c) => Ok(c.devices(user)),
        }
    }

    pub async fn get(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
    ) -> Result<PropertyValue, CuiError> {
        match self {
            Cluster::Igrs(c) => c.get(user, device, property).await,
            Cluster::Peer(c) => c.get(user, device, property).await,
            Cluster::Mqtt(c) => c.get(user, device, property),
        }
    }

    /// Sets the property; `confirmed` says the person confirmed it (checked before, by
    /// [`Cluster::check_confirmation`], and carried on to a peer gateway, which checks again).
    pub async fn set(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
        value: Value,
        confirmed: bool,
    ) -> Result<PropertyValue, CuiError> {
        match self {
            Cluster::Igrs(c) => c.set(user, device, property, value).await,
            Cluster::Peer(c) => c.set(user, device, property, value, confirmed).await,
            Cluster::Mqtt(c) => c.set(user, device, property, value).await,
        }
    }

    /// Refuses an update of a property that needs confirmation unless the person confirmed
    /// it (§10 safety): `confirmation_required`, to be sent again with `confirmed`.
    pub async fn check_confirmation(
        &self,
        device: &DeviceId,
        property: &PropertyName,
        confirmed: bool,
    ) -> Result<(), CuiError> {
        let needs = match self {
            Cluster::Igrs(c) => c.needs_confirmation(device, property).await?,
            // The peer knows its devices' flags and refuses there; Homie has no such flag.
            Cluster::Peer(_) | Cluster::Mqtt(_) => false,
        };
        if needs && !confirmed {
            return Err(CuiError::new(
                crate::model::ErrorCode::ConfirmationRequired,
                format!(
                    "{} of {device} needs the person's confirmation: send it again with \"confirmed\": true",
                    property.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// What can be checked of a set before the device sees it (a queued command is checked
    /// when queued, so a caller learns of a mistake at once).
    pub async fn check_set(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
        value: &Value,
    ) -> Result<(), CuiError> {
        match self {
            Cluster::Igrs(c) => c.check_set(user, device, property, value).await.map(|_| ()),
            // The peer checks when the command reaches it.
            Cluster::Peer(c) => c
                .may_view(user)
                .then_some(())
                .ok_or_else(|| CuiError::not_found(format!("no device {device}"))),
            Cluster::Mqtt(c) => c.check_set(user, device, property, value).map(|_| ()),
        }
    }

    /// Whether the device is connected to its cluster now.
    pub fn is_online(&self, device: &DeviceId) -> bool {
        match self {
            Cluster::Igrs(c) => c.is_device_online(device),
            Cluster::Peer(c) => c.is_online(device),
            Cluster::Mqtt(c) => c.is_online(device),
        }
    }

    /// Whether `user` may see the device and hear its events now (asked at every delivery).
    pub async fn may_view(&self, user: &str, device: &DeviceId) -> Result<bool, CuiError> {
        match self {
            Cluster::Igrs(c) => c.may_view(user, device).await,
            Cluster::Peer(c) => Ok(c.may_view(user)),
            Cluster::Mqtt(c) => Ok(c.may_view(user, device)),
        }
    }

    /// The events the device describes, beside the `online` and `property` every device has;
    /// None when the device never described itself (any event name may then be subscribed).
    pub async fn events_of(&self, device: &DeviceId) -> Result<Option<Vec<String>>, CuiError> {
        match self {
            Cluster::Igrs(c) => c.events_of(device).await,
            // The peer refuses an event its device does not describe.
            Cluster::Peer(_) => Ok(None),
            // Homie devices have no events beside `online` and `property`.
            Cluster::Mqtt(_) => Ok(Some(Vec::new())),
        }
    }

    /// A subscription to the device's event was made here: a cluster that must be asked to
    /// send it (a peer gateway) is asked now, so the subscriber learns at once if it cannot.
    pub async fn watch(&self, user: &str, device: &DeviceId, event: &str) -> Result<(), CuiError> {
        match self {
            Cluster::Igrs(_) | Cluster::Mqtt(_) => Ok(()),
            Cluster::Peer(c) => c.watch(user, device, event).await,
        }
    }
}

/// The clusters by name. Clusters come and go while the gateway runs (a peer gateway is linked
/// and unlinked), so lookups hand out a shared handle rather than a borrow.
#[derive(Debug)]
pub struct Clusters {
    clusters: RwLock<Vec<Arc<Cluster>>>,
}

impl Clusters {
    /// The clusters, starting with one.
    pub fn new(first: Cluster) -> Clusters {
        Clusters {
            clusters: RwLock::new(vec![Arc::new(first)]),
        }
    }

    /// Adds a cluster; a name already taken is a `conflict`.
    pub fn add(&self, cluster: Cluster) -> Result<Arc<Cluster>, CuiError> {
        let mut clusters = self.clusters.write().unwrap_or_else(|e| e.into_inner());
        if clusters.iter().any(|c| c.name() == cluster.name()) {
            return Err(CuiError::new(
                crate::model::ErrorCode::Conflict,
                format!("a cluster named {} exists", cluster.name()),
            ));
        }
        let cluster = Arc::new(cluster);
        clusters.push(cluster.clone());
        Ok(cluster)
    }

    /// Removes the cluster of that name, handing it back.
    pub fn remove(&self, name: &str) -> Option<Arc<Cluster>> {
        let mut clusters = self.clusters.write().unwrap_or_else(|e| e.into_inner());
        let at = clusters.iter().position(|c| c.name() == name)?;
        Some(clusters.remove(at))
    }

    /// Every cluster, in the order they were added.
    pub fn all(&self) -> Vec<Arc<Cluster>> {
        self.clusters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The cluster named so, if any.
    pub fn named(&self, name: &str) -> Option<Arc<Cluster>> {
        self.clusters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|c| c.name() == name)
            .cloned()
    }

    /// The cluster a device belongs to. An unknown cluster is `not_found`, like an unknown
    /// device: the id names nothing this gateway reaches.
    pub fn of(&self, device: &DeviceId) -> Result<Arc<Cluster>, CuiError> {
        self.named(device.cluster())
            .ok_or_else(|| CuiError::not_found(format!("no device {device}")))
    }
}
