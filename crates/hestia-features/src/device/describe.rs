//! `describe` (§11.2): a device publishes its description with a `set` to its own account;
//! anyone who may `view` the device reads it with a `get` to the device's bare JID, answered by
//! the IRSP whether the device is online or not. (A `get` to the device's full JID reaches the
//! device itself.)

use std::sync::Arc;

use hestia_proto::StanzaError;
use hestia_proto::device::{self, Description};
use hestia_proto::igrs::DeviceRefusal;
use hestia_router::{IqRequest, IqResult, Irsp};

use super::{requester, snapshot};

pub const NAME: &str = device::DESCRIBE;

pub async fn publish(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let me = requester(&req)?;
    if !snapshot(&irsp, &me).await?.is_device() {
        return Err(DeviceRefusal::NotADevice.into());
    }
    let description = Description::parse(req.payload())?;
    // Stored in its canonical form, so what is answered later is what was checked.
    let xml = description.to_element().to_string();
    irsp.store
        .put_device_description(&me, &xml, hestia_router::push::unix_now())
        .await
        .map_err(|_| StanzaError::from(DeviceRefusal::DeviceFailed))?;
    irsp.catalog.put(&me, description);
    metrics::counter!("hestia_device_descriptions_published_total").increment(1);
    Ok(None)
}

pub async fn get(irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let device = req.to.local().ok_or(DeviceRefusal::NoDescription)?;
    let description = irsp
        .catalog
        .description(&irsp.store, device)
        .await
        .map_err(|_| StanzaError::from(DeviceRefusal::DeviceFailed))?
        .ok_or(DeviceRefusal::NoDescription)?;
    Ok(Some(description.to_element()))
}
