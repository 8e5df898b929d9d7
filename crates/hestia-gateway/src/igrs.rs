//! The IGRS RA cluster adapter (ISO/IEC 10192-4-3 §5 interface object for an IGRS cluster),
//! in process: the gateway is the IRSP's application server `gateway` (14543-5-9 §7.3) and
//! acts for each signed-in user through an observer session, so the router applies exactly
//! that user's relationships and rights (14543-5-8 §9) to every `get` and `set`.
//!
//! The device list is read from the user's relationship snapshot — the same data the user's
//! roster shows — so a device appears only through a relationship that carries a right.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use hestia_proto::device::{self, Description, PropertyType, Value};
use hestia_proto::igrs::{DeviceRefusal, NS_DEVICE};
use hestia_proto::{Jid, StanzaError, StanzaErrorCondition as Cond, ns};
use hestia_router::Irsp;
use hestia_router::appserver::{AppError, AppServer, AppSession};
use hestia_router::feed::Observation;
use hestia_router::relations::Snapshot;
use hestia_xml::Element;
use serde_json::json;

mod sharing;

use crate::events::DeviceEvent;
use crate::model::{
    CuiError, DeviceId, DeviceView, ErrorCode, PropertyName, PropertyValue, PropertyView,
};

/// The cluster name of the IRSP's devices in device ids: `igrs:<device localpart>`.
pub const CLUSTER: &str = "igrs";

/// The application-server name the gateway acts under (a user's grant names it).
pub const APP_NAME: &str = "gateway";

/// Idle sessions kept per user, and users with idle sessions, between requests.
const IDLE_PER_USER: usize = 4;
const IDLE_USERS: usize = 4096;

/// The in-process IGRS cluster.
#[derive(Debug, Clone)]
pub struct IgrsCluster {
    app: AppServer,
    sessions: Arc<SessionPool>,
}

/// Sessions acting for users, kept between requests: opening one costs two store queries
/// (the grant, the account) and a directory bind, more than the IQ itself. A kept session
/// the router has since closed (the grant withdrawn, the account deleted) fails its next use
/// and is replaced by a fresh one, which checks the grant again.
#[derive(Debug, Default)]
struct SessionPool(std::sync::Mutex<HashMap<String, Vec<AppSession>>>);

impl SessionPool {
    fn take(&self, user: &str) -> Option<AppSession> {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let kept = idle.get_mut(user)?;
        let session = kept.pop();
        if kept.is_empty() {
            idle.remove(user);
        }
        session
    }

    fn put(&self, user: &str, session: AppSession) {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= IDLE_USERS && !idle.contains_key(user) {
            // Full: keep no more users' sessions than that; this one closes on drop.
            return;
        }
        let kept = idle.entry(user.to_owned()).or_default();
        if kept.len() < IDLE_PER_USER {
            kept.push(session);
        }
    }
}

impl IgrsCluster {
    pub fn new(irsp: Arc<Irsp>) -> Result<IgrsCluster, AppError> {
        Ok(IgrsCluster {
            app: AppServer::new(irsp, APP_NAME)?,
            sessions: Arc::default(),
        })
    }

    fn irsp(&self) -> &Irsp {
        self.app.irsp()
    }

    /// Records that `user` lets the gateway act for them (signing in is the consent).
    pub async fn grant(&self, user: &str) -> Result<(), CuiError> {
        self.app.grant(user).await.map_err(app_error)
    }

    /// Every device `user` holds a right on, with its online status and described properties.
    pub async fn devices(&self, user: &str) -> Result<Vec<DeviceView>, CuiError> {
        let snapshot = self.snapshot(user).await?;
        let mut views = Vec::with_capacity(snapshot.rights.len());
        for (device, right) in &snapshot.rights {
            let name = snapshot
                .item(device)
                .and_then(|i| i.name.clone())
                .unwrap_or_else(|| device.clone());
            let description = self.description(device).await?;
            views.push(DeviceView {
                id: DeviceId::new(CLUSTER, device)?,
                cluster: CLUSTER.to_owned(),
                device_type: self
                    .snapshot(device)
                    .await?
                    .device_type
                    .clone()
                    .unwrap_or_default(),
                name,
                online: self.is_online(device),
                right: right.as_str().to_owned(),
                properties: description
                    .as_ref()
                    .map(|d| d.properties.iter().map(PropertyView::from).collect())
                    .unwrap_or_default(),
                events: description
                    .map(|d| d.events.iter().map(|e| e.name.clone()).collect())
                    .unwrap_or_default(),
            });
        }
        views.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(views)
    }

    /// Reads one property as `user`.
    pub async fn get(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
    ) -> Result<PropertyValue, CuiError> {
        let (jid, kind) = self.target(user, device, property).await?;
        let request = device::get_request([property.as_str()]);
        let answer = self.exchange(user, &jid, "get", request).await?;
        let raw = answer
            .get_child(device::GET, NS_DEVICE)
            .and_then(|g| device::assignments(g).ok())
            .and_then(|pairs| {
                pairs
                    .into_iter()
                    .find(|(n, _)| *n == property.as_str())
                    .map(|(_, v)| v.to_owned())
            })
            .ok_or_else(|| CuiError::internal("the device's answer lacks the property"))?;
        Ok(PropertyValue {
            device_id: device.clone(),
            property: property.as_str().to_owned(),
            value: crate::model::value_from_wire(&raw, kind.as_ref()),
        })
    }

    /// Sets one property as `user`; the answer is the value now set.
    pub async fn set(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
        value: Value,
    ) -> Result<PropertyValue, CuiError> {
        let jid = self.check_set(user, device, property, &value).await?;
        let request = device::with_values(device::SET, [(property.as_str(), value.to_string())]);
        self.exchange(user, &jid, "set", request).await?;
        Ok(PropertyValue {
            device_id: device.clone(),
            property: property.as_str().to_owned(),
            value,
        })
    }

    /// What the gateway can check of a set before the device sees it: the user relates to the
    /// device, the property is described, the value has its JSON type. The device's JID.
    pub async fn check_set(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
        value: &Value,
    ) -> Result<Jid, CuiError> {
        let (jid, kind) = self.target(user, device, property).await?;
        if let Some(kind) = &kind
            && !crate::model::is_of_type(value, kind)
        {
            return Err(CuiError::bad_request(format!(
                "{} is a {} property",
                property.as_str(),
                kind.name()
            )));
        }
        Ok(jid)
    }

    /// Whether the device is connected to the IRSP now.
    pub fn is_device_online(&self, device: &DeviceId) -> bool {
        device.cluster() == CLUSTER && self.is_online(device.local())
    }

    /// The device's JID and the described type of the property, once the user is known to
    /// relate to the device. An unrelated device is `not_found`, so its existence never leaks.
    async fn target(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
    ) -> Result<(Jid, Option<PropertyType>), CuiError> {
        let no_device = || CuiError::not_found(format!("no device {device}"));
        if device.cluster() != CLUSTER {
            return Err(no_device());
        }
        let snapshot = self.snapshot(user).await?;
        if snapshot.right(device.local()).is_none() {
            return Err(no_device());
        }
        let jid =
            Jid::bare(device.local(), self.irsp().domain.domain()).map_err(|_| no_device())?;
        let kind = match self.description(device.local()).await? {
            Some(d) => Some(
                d.property(property.as_str())
                    .ok_or_else(|| {
                        CuiError::not_found(format!(
                            "{device} has no property {}",
                            property.as_str()
                        ))
                    })?
                    .kind
                    .clone(),
            ),
            // A device that never described itself is the only judge of its requests.
            None => None,
        };
        Ok((jid, kind))
    }

    /// Sends one IQ to the device through a session acting for `user` and maps a refusal.
    async fn exchange(
        &self,
        user: &str,
        device: &Jid,
        iq_type: &str,
        payload: Element,
    ) -> Result<Element, CuiError> {
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", iq_type)
            .with_attr("to", device.to_string())
            .with_child(payload);
        let answer = match self.kept_session(user).await {
            Some(mut kept) => match kept.iq(iq.clone()).await {
                // Closed since it was kept: a fresh session, which checks the grant again.
                Err(AppError::Ended(_)) => self.exchange_fresh(user, iq).await,
                answer => {
                    self.sessions.put(user, kept);
                    answer
                }
            },
            None => self.exchange_fresh(user, iq).await,
        };
        match answer {
            Ok(answer) => Ok(answer),
            Err(AppError::Stanza(e)) => Err(self.refusal(&e, device)),
            Err(e) => Err(app_error(e)),
        }
    }

    /// A kept session for `user`, cleared of late answers to requests that timed out.
    async fn kept_session(&self, user: &str) -> Option<AppSession> {
        let mut session = self.sessions.take(user)?;
        session.discard_unread().await.then_some(session)
    }

    async fn exchange_fresh(&self, user: &str, iq: Element) -> Result<Element, AppError> {
        let mut session: AppSession = self.app.act_for_requests(user).await?;
        let answer = session.iq(iq).await;
        if !matches!(answer, Err(AppError::Ended(_))) {
            self.sessions.put(user, session);
        }
        answer
    }

    /// An IGRS refusal as a CUI error. The IRSP answers a missing right and an offline device
    /// alike (`service-unavailable`, as for a stranger); the user is known to be related here,
    /// so whether the device is connected tells the two apart.
    fn refusal(&self, error: &StanzaError, device: &Jid) -> CuiError {
        if let Some(r) = DeviceRefusal::of(error) {
            return device_refusal(r);
        }
        match error.condition {
            Cond::ServiceUnavailable if self.is_online(device.local().unwrap_or_default()) => {
                CuiError::forbidden("your right on this device does not allow this")
            }
            Cond::ServiceUnavailable | Cond::RecipientUnavailable => CuiError::new(
                ErrorCode::ClusterUnreachable,
                "device_offline: the device is not connected",
            ),
            Cond::ItemNotFound => CuiError::not_found("no such device or property"),
            Cond::Forbidden | Cond::NotAuthorized => CuiError::forbidden("refused by the IRSP"),
            other => CuiError::internal(format!("IGRS answered {}", other.name())),
        }
    }

    /// Whether `user` holds a right on the device now.
    pub async fn may_view(&self, user: &str, device: &DeviceId) -> Result<bool, CuiError> {
        if device.cluster() != CLUSTER {
            return Ok(false);
        }
        Ok(self.snapshot(user).await?.right(device.local()).is_some())
    }

    /// Whether the device described the property as needing confirmation (unsafe to set
    /// unasked: a heater, a lock, a plug feeding a heater).
    pub async fn needs_confirmation(
        &self,
        device: &DeviceId,
        property: &PropertyName,
    ) -> Result<bool, CuiError> {
        Ok(self
            .description(device.local())
            .await?
            .and_then(|d| d.property(property.as_str()).map(|p| p.needs_confirmation))
            .unwrap_or(false))
    }

    /// The events the device described; None when it never described itself.
    pub async fn events_of(&self, device: &DeviceId) -> Result<Option<Vec<String>>, CuiError> {
        Ok(self
            .description(device.local())
            .await?
            .map(|d| d.events.iter().map(|e| e.name.clone()).collect()))
    }

    /// What an observation of the IRSP means to the gateway: the device event itself, and the
    /// property values its item reports (see [`reported_values`]).
    pub async fn translate(
        &self,
        observation: Observation,
    ) -> Result<(DeviceEvent, Vec<(String, Value)>), CuiError> {
        match observation {
            Observation::Online { device, online } => {
                let event = DeviceEvent {
                    device: DeviceId::new(CLUSTER, &device)?,
                    event: crate::events::ONLINE.to_owned(),
                    event_id: hestia_proto::stanza::new_id(),
                    at: SystemTime::now(),
                    payload: json!({ "online": online }),
                };
                Ok((event, Vec::new()))
            }
            Observation::Published {
                device,
                event,
                item_id,
                payload,
                at,
            } => {
                let id = DeviceId::new(CLUSTER, &device)?;
                let values = match (&payload, self.description(&device).await?) {
                    (Some(item), Some(d)) => reported_values(item, &d),
                    _ => Vec::new(),
                };
                let event = DeviceEvent {
                    device: id,
                    event,
                    // The item id the device chose is unique per event node, not per device.
                    event_id: format!("{device}:{item_id}"),
                    at,
                    payload: payload.as_deref().map_or(json!({}), payload_json),
                };
                Ok((event, values))
            }
        }
    }

    async fn snapshot(&self, account: &str) -> Result<Arc<Snapshot>, CuiError> {
        let irsp = self.irsp();
        irsp.relations
            .snapshot(&irsp.store, account)
            .await
            .map_err(CuiError::internal)
    }

    async fn description(&self, device: &str) -> Result<Option<Arc<Description>>, CuiError> {
        let irsp = self.irsp();
        irsp.catalog
            .description(&irsp.store, device)
            .await
            .map_err(CuiError::internal)
    }

    fn is_online(&self, device: &str) -> bool {
        hestia_router::relations::account_jid(self.irsp(), device).is_some_and(|jid| {
            hestia_router::properties::device_connection(self.irsp(), &jid).is_some()
        })
    }
}

/// An event item's payload as JSON: its attributes as string fields, its text (when any) as
/// `text`, and its element name as `type` (`<motion zone='hall'/>` → `{"type":"motion",
/// "zone":"hall"}`).
pub fn payload_json(item: &Element) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("type".into(), item.name().into());
    for (name, value) in item.attrs() {
        map.insert(name.into(), value.into());
    }
    let text = item.text();
    if !text.trim().is_empty() {
        map.insert("text".into(), text.trim().into());
    }
    serde_json::Value::Object(map)
}

/// The property values an event item reports, by the convention of `docs/cui.md`: an element
/// named after a described property carries its `value` (`<temperature value='19.6'/>`), and an
/// attribute named after a described property carries that property's value
/// (`<switched on='true'/>`). Values that do not parse as their type are ignored.
pub fn reported_values(item: &Element, description: &Description) -> Vec<(String, Value)> {
    let mut values = Vec::new();
    let mut report = |name: &str, raw: &str| {
        if let Some(p) = description.property(name)
            && let Ok(value) = p.check_value(raw)
        {
            values.push((name.to_owned(), value));
        }
    };
    if let Some(raw) = item.attr("value") {
        report(item.name(), raw);
    }
    for (name, raw) in item.attrs() {
        if name != "value" {
            report(name, raw);
        }
    }
    values
}

/// The CUI code of each IGRS device refusal (`docs/protocol.md`, codes 201–211).
fn device_refusal(r: DeviceRefusal) -> CuiError {
    use DeviceRefusal as R;
    let code = match r {
        R::UnknownProperty | R::NoDescription | R::UnknownEvent => ErrorCode::NotFound,
        R::WrongType | R::BadRequest | R::BadDescription => ErrorCode::BadRequest,
        R::OutOfRange => ErrorCode::OutOfRange,
        R::ReadOnly => ErrorCode::ReadOnly,
        R::WriteOnly | R::NotADevice => ErrorCode::Forbidden,
        R::DeviceFailed => ErrorCode::ClusterUnreachable,
    };
    CuiError::new(code, r.meaning())
}

/// The application-server interface's failures: a withdrawn grant means signing in again.
fn app_error(e: AppError) -> CuiError {
    match e {
        AppError::NotGranted(_) | AppError::NoSuchAccount => {
            CuiError::unauthorized("the gateway may no longer act for you; sign in again")
        }
        AppError::Timeout(d) => {
            CuiError::new(ErrorCode::Timeout, format!("no answer within {d:?}"))
        }
        AppError::Ended(why) => CuiError::new(
            ErrorCode::ClusterUnreachable,
            format!("the IGRS session ended: {why}"),
        ),
        other => CuiError::internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_device_refusal_has_a_code() {
        let want = [
            (DeviceRefusal::ReadOnly, ErrorCode::ReadOnly),
            (DeviceRefusal::OutOfRange, ErrorCode::OutOfRange),
            (DeviceRefusal::WrongType, ErrorCode::BadRequest),
            (DeviceRefusal::UnknownProperty, ErrorCode::NotFound),
        ];
        for (refusal, code) in want {
            assert_eq!(device_refusal(refusal).code, code, "{refusal:?}");
        }
        for r in DeviceRefusal::all() {
            assert_eq!(device_refusal(r).message, r.meaning());
        }
    }
}
