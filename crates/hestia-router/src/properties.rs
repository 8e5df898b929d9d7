//! Device property requests on their way to a device (ISO/IEC 14543-5-8 §11.2): the IRSP checks
//! each `get` and `set` in `…:device` against the description the device published, so a wrong
//! type, an out-of-range value or a read-only property is refused before the device sees it,
//! and a request to a device's bare JID goes to the device's one connection.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hestia_proto::device::{self, Description};
use hestia_proto::igrs::{DeviceRefusal, NS_DEVICE};
use hestia_proto::{IqType, Jid};
use hestia_store::{Store, StoreError};
use hestia_xml::Element;

use crate::Irsp;

/// Every device's description, read from the store once and kept: property writes are checked
/// against it on the hot path.
#[derive(Debug, Default)]
pub struct Catalog {
    entries: RwLock<HashMap<String, Option<Arc<Description>>>>,
}

impl Catalog {
    /// The device's description; None when it never published one (or its stored one no
    /// longer parses, which a schema change could cause).
    pub async fn description(
        &self,
        store: &Store,
        device: &str,
    ) -> Result<Option<Arc<Description>>, StoreError> {
        if let Some(entry) = self.read().get(device) {
            return Ok(entry.clone());
        }
        let parsed = store
            .device_description(device)
            .await?
            .and_then(|xml| hestia_xml::parse_element(&xml, NS_DEVICE).ok())
            .and_then(|el| Description::parse(&el).ok())
            .map(Arc::new);
        self.write().insert(device.to_owned(), parsed.clone());
        Ok(parsed)
    }

    /// Records a description the device just published (and stored).
    pub fn put(&self, device: &str, description: Description) {
        self.write()
            .insert(device.to_owned(), Some(Arc::new(description)));
    }

    /// Drops what is known of a device (its account is gone).
    pub fn forget(&self, device: &str) {
        self.write().remove(device);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Option<Arc<Description>>>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Option<Arc<Description>>>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// True for a `get` or `set` property request, the two the IRSP checks and forwards.
pub fn is_property_request(iq_type: IqType, payload: &Element) -> bool {
    payload.ns() == NS_DEVICE
        && matches!(
            (iq_type, payload.name()),
            (IqType::Get, device::GET) | (IqType::Set, device::SET)
        )
}

/// Checks a property request for `device` against its description. A device that has not
/// described itself gets requests unchecked: it is the only judge of them then.
pub async fn check(irsp: &Irsp, device: &str, payload: &Element) -> Result<(), DeviceRefusal> {
    let description = match irsp.catalog.description(&irsp.store, device).await {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(()),
        Err(e) => {
            tracing::warn!(device, error = %e, "description lookup failed");
            return Err(DeviceRefusal::DeviceFailed);
        }
    };
    match payload.name() {
        device::SET => description.check_set(payload).map(|_| ()),
        _ => description.check_get(payload),
    }
}

/// The connection a request to a device's bare JID goes to: a device holds at most one.
pub fn device_connection(irsp: &Irsp, device: &Jid) -> Option<Jid> {
    irsp.directory
        .sessions_of(device)
        .into_iter()
        .find(|s| !s.is_observer())
        .map(|s| s.info.jid.clone())
}
