//! The gateway's clusters (ISO/IEC 10192-4-3 §5 interface objects), registered in one place:
//! each adapter answers the same questions for the devices it names, so the operations of
//! [`crate::model`] never know which kind of home a device lives in. A device id's cluster
//! part picks the adapter.

use hestia_proto::device::Value;

use crate::igrs::IgrsCluster;
use crate::model::{CuiError, DeviceId, DeviceView, PropertyName, PropertyValue};

/// One cluster adapter.
#[derive(Debug)]
pub enum Cluster {
    Igrs(IgrsCluster),
}

impl Cluster {
    /// The cluster part of its devices' ids.
    pub fn name(&self) -> &str {
        match self {
            Cluster::Igrs(_) => crate::igrs::CLUSTER,
        }
    }

    /// Every device of the cluster `user` holds a right on.
    pub async fn devices(&self, user: &str) -> Result<Vec<DeviceView>, CuiError> {
        match self {
            Cluster::Igrs(c) => c.devices(user).await,
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
        }
    }

    pub async fn set(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
        value: Value,
    ) -> Result<PropertyValue, CuiError> {
        match self {
            Cluster::Igrs(c) => c.set(user, device, property, value).await,
        }
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
        }
    }

    /// Whether the device is connected to its cluster now.
    pub fn is_online(&self, device: &DeviceId) -> bool {
        match self {
            Cluster::Igrs(c) => c.is_device_online(device),
        }
    }

    /// Whether `user` may see the device and hear its events now (asked at every delivery).
    pub async fn may_view(&self, user: &str, device: &DeviceId) -> Result<bool, CuiError> {
        match self {
            Cluster::Igrs(c) => c.may_view(user, device).await,
        }
    }

    /// The events the device describes, beside the `online` and `property` every device has;
    /// None when the device never described itself (any event name may then be subscribed).
    pub async fn events_of(&self, device: &DeviceId) -> Result<Option<Vec<String>>, CuiError> {
        match self {
            Cluster::Igrs(c) => c.events_of(device).await,
        }
    }
}

/// The clusters by name.
#[derive(Debug, Default)]
pub struct Clusters {
    clusters: Vec<Cluster>,
}

impl Clusters {
    pub fn add(&mut self, cluster: Cluster) {
        self.clusters.push(cluster);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Cluster> {
        self.clusters.iter()
    }

    /// The cluster a device belongs to. An unknown cluster is `not_found`, like an unknown
    /// device: the id names nothing this gateway reaches.
    pub fn of(&self, device: &DeviceId) -> Result<&Cluster, CuiError> {
        self.clusters
            .iter()
            .find(|c| c.name() == device.cluster())
            .ok_or_else(|| CuiError::not_found(format!("no device {device}")))
    }
}
