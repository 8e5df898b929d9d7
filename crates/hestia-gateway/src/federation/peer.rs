//! A peer gateway as a cluster (ISO/IEC 10192-4-3 §9, the C2C interface): its devices are the
//! devices the peer lists for the same person's linked identity there, named
//! `<peer>:<the peer's device id>`, and every operation is the same HES-CLIP operation on the
//! peer's `/cui/v1`, carried with the link's tokens. The peer enforces its own rights; this
//! side only decides that a user without a link reaches nothing there.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use hestia_proto::device::Value;
use reqwest::Method;
use serde_json::{Value as Json, json};

use super::{Direction, Federation, Link, RemoteWatch};
use crate::model::{
    CuiError, DeviceId, DeviceView, ErrorCode, PropertyName, PropertyValue, PropertyView,
    value_from_json, value_to_json,
};

/// How long a set the peer deferred is followed before it is reported as timed out.
const FOLLOW_FOR: Duration = Duration::from_secs(60);
const FOLLOW_EVERY: Duration = Duration::from_millis(250);
/// What the peer is asked to wait for its device (its longest).
const PEER_WAIT: &str = "wait=8";
/// Expiry asked for a subscription at the peer; renewed in the last half of its life.
const REMOTE_EXPIRY: Duration = Duration::from_secs(86_400);

/// One peer gateway, as a cluster.
#[derive(Debug)]
pub struct PeerCluster {
    name: String,
    federation: Arc<Federation>,
    /// Where the peer posts this gateway's notifications: this gateway's issuer.
    callback_base: String,
    /// Online status as last heard, by the peer's device id.
    online: RwLock<HashMap<String, bool>>,
}

impl PeerCluster {
    pub fn new(name: &str, federation: Arc<Federation>, callback_base: &str) -> PeerCluster {
        PeerCluster {
            name: name.to_owned(),
            federation,
            callback_base: callback_base.trim_end_matches('/').to_owned(),
            online: RwLock::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn link(&self, user: &str, device: Option<&DeviceId>) -> Result<Arc<Link>, CuiError> {
        self.federation
            .links()
            .outbound(user, &self.name)
            .ok_or_else(|| match device {
                Some(d) => CuiError::not_found(format!("no device {d}")),
                None => CuiError::not_found(format!("no link to {}", self.name)),
            })
    }

    /// Records what the peer said of a device's connection.
    pub fn heard_online(&self, remote_device: &str, online: bool) {
        self.online
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(remote_device.to_owned(), online);
    }

    /// The peer's devices for the user's linked identity; none without a link.
    pub async fn devices(&self, user: &str) -> Result<Vec<DeviceView>, CuiError> {
        let Some(link) = self.federation.links().outbound(user, &self.name) else {
            return Ok(Vec::new());
        };
        let path = format!("/cui/v1/users/{}/devices", enc(&link.remote_user));
        let (_, answer) = self
            .federation
            .call(&link, Method::GET, &path, None, None)
            .await?;
        let listed = answer["devices"].as_array().cloned().unwrap_or_default();
        let mut devices = Vec::with_capacity(listed.len());
        for d in &listed {
            match self.device_view(d) {
                Some(view) => {
                    self.heard_online(view.id.local(), view.online);
                    devices.push(view);
                }
                None => {
                    tracing::debug!(peer = %self.name, "a device the peer listed is unreadable")
                }
            }
        }
        Ok(devices)
    }

    /// A device of the peer's list, renamed into this gateway's ids.
    fn device_view(&self, d: &Json) -> Option<DeviceView> {
        let id = DeviceId::new(&self.name, d["id"].as_str()?).ok()?;
        let properties = d["properties"]
            .as_array()
            .map(|ps| ps.iter().filter_map(property_view).collect())
            .unwrap_or_default();
        Some(DeviceView {
            id,
            cluster: self.name.clone(),
            device_type: d["type"].as_str().unwrap_or_default().to_owned(),
            name: d["name"].as_str().unwrap_or_default().to_owned(),
            online: d["online"].as_bool().unwrap_or(false),
            right: d["right"].as_str().unwrap_or("view").to_owned(),
            properties,
            events: d["events"]
                .as_array()
                .map(|es| {
                    es.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    fn property_path(link: &Link, device: &DeviceId, property: &PropertyName) -> String {
        format!(
            "/cui/v1/users/{}/devices/{}/properties/{}",
            enc(&link.remote_user),
            enc(device.local()),
            enc(property.as_str())
        )
    }

    pub async fn get(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
    ) -> Result<PropertyValue, CuiError> {
        let link = self.link(user, Some(device))?;
        let path = Self::property_path(&link, device, property);
        let (_, answer) = self
            .federation
            .call(&link, Method::GET, &path, None, None)
            .await?;
        self.value_of(device, property, &answer)
    }

    /// Sets at the peer; a set the peer defers is followed until it ends.
    pub async fn set(
        &self,
        user: &str,
        device: &DeviceId,
        property: &PropertyName,
        value: Value,
        confirmed: bool,
    ) -> Result<PropertyValue, CuiError> {
        let link = self.link(user, Some(device))?;
        let path = Self::property_path(&link, device, property);
        let body = json!({ "value": value_to_json(&value), "confirmed": confirmed });
        let (status, answer) = self
            .federation
            .call(&link, Method::PUT, &path, Some(&body), Some(PEER_WAIT))
            .await?;
        if status != reqwest::StatusCode::ACCEPTED {
            return self.value_of(device, property, &answer);
        }
        let operation = answer["operationId"]
            .as_str()
            .ok_or_else(|| CuiError::internal("the peer deferred a set without an operation"))?;
        self.follow(&link, device, property, operation).await
    }

    /// Polls a deferred set at the peer until it succeeds or fails.
    async fn follow(
        &self,
        link: &Link,
        device: &DeviceId,
        property: &PropertyName,
        operation: &str,
    ) -> Result<PropertyValue, CuiError> {
        let path = format!(
            "/cui/v1/users/{}/operations/{}",
            enc(&link.remote_user),
            enc(operation)
        );
        let give_up = tokio::time::Instant::now() + FOLLOW_FOR;
        while tokio::time::Instant::now() < give_up {
            tokio::time::sleep(FOLLOW_EVERY).await;
            let (_, view) = self
                .federation
                .call(link, Method::GET, &path, None, None)
                .await?;
            match view["status"].as_str() {
                Some("succeeded") => return self.value_of(device, property, &view["result"]),
                Some("failed") | Some("expired") => {
                    let code = view["error"]["code"]
                        .as_str()
                        .and_then(ErrorCode::parse)
                        .unwrap_or(ErrorCode::ClusterUnreachable);
                    let message = view["error"]["message"]
                        .as_str()
                        .unwrap_or("the set failed");
                    return Err(CuiError::new(code, format!("the peer gateway: {message}")));
                }
                _ => {}
            }
        }
        Err(CuiError::new(
            ErrorCode::Timeout,
            format!("the peer did not finish the set within {FOLLOW_FOR:?}"),
        ))
    }

    fn value_of(
        &self,
        device: &DeviceId,
        property: &PropertyName,
        answer: &Json,
    ) -> Result<PropertyValue, CuiError> {
        Ok(PropertyValue {
            device_id: device.clone(),
            property: property.as_str().to_owned(),
            value: value_from_json(&answer["value"])?,
        })
    }

    /// Whether the peer last said the device is connected (unknown = offline).
    pub fn is_online(&self, device: &DeviceId) -> bool {
        self.online
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(device.local())
            .copied()
            .unwrap_or(false)
    }

    /// A linked user may see what the peer shows them; the peer checks its own rights on
    /// every call, and on every event it sends.
    pub fn may_view(&self, user: &str) -> bool {
        self.federation.links().outbound(user, &self.name).is_some()
    }

    /// Makes sure the peer sends this gateway the device's event for the user: one
    /// subscription at the peer per (device, event) and link, shared by every subscription
    /// here, its webhook posted to this link's notification endpoint.
    pub async fn watch(&self, user: &str, device: &DeviceId, event: &str) -> Result<(), CuiError> {
        let link = self.link(user, Some(device))?;
        let key = (device.local().to_owned(), event.to_owned());
        let mut remote = link.remote_subscriptions.lock().await;
        if remote.contains_key(&key) {
            return Ok(());
        }
        let watch = self.subscribe_at_peer(&link, &key).await?;
        remote.insert(key, watch);
        Ok(())
    }

    async fn subscribe_at_peer(
        &self,
        link: &Link,
        (device, event): &(String, String),
    ) -> Result<RemoteWatch, CuiError> {
        let body = json!({
            "deviceId": device,
            "event": event,
            "expiresIn": REMOTE_EXPIRY.as_secs(),
            "callback": {
                "url": format!(
                    "{}/cui/v1/federation/links/{}/notifications",
                    self.callback_base, link.id
                ),
                "secret": link.callback_secret,
            },
        });
        let path = format!("/cui/v1/users/{}/subscriptions", enc(&link.remote_user));
        let (_, made) = self
            .federation
            .call(link, Method::POST, &path, Some(&body), None)
            .await?;
        let watch = watch_made(&made)?;
        let key = (device.clone(), event.clone());
        self.federation.save_watch(link, &key, &watch).await;
        Ok(watch)
    }

    /// Keeps each link's subscriptions at the peer as long as someone here wants their
    /// events: renews them (subscribing again where the peer forgot one, as a restarted peer
    /// does) and releases those nobody here subscribes to any more.
    pub async fn maintain(&self, is_wanted: impl Fn(&str, &DeviceId, &str) -> bool) {
        for link in self.federation.links().all() {
            if link.peer.name != self.name || link.direction != Direction::Outbound {
                continue;
            }
            let mut remote = link.remote_subscriptions.lock().await;
            let keys: Vec<(String, String)> = remote.keys().cloned().collect();
            for key in keys {
                let wanted = DeviceId::new(&self.name, &key.0)
                    .is_ok_and(|device| is_wanted(&link.user, &device, &key.1));
                let Some(watch) = remote.get(&key).cloned() else {
                    continue;
                };
                if !wanted {
                    self.release(&link, &watch).await;
                    self.federation.forget_watch(&link, &key).await;
                    remote.remove(&key);
                } else {
                    match self.renew(&link, &key, &watch).await {
                        Ok(renewed) => {
                            remote.insert(key, renewed);
                        }
                        Err(e) => {
                            tracing::warn!(peer = %self.name, device = %key.0, error = %e, "a subscription at the peer was not renewed");
                        }
                    }
                }
            }
        }
    }

    async fn renew(
        &self,
        link: &Link,
        key: &(String, String),
        watch: &RemoteWatch,
    ) -> Result<RemoteWatch, CuiError> {
        let path = format!(
            "/cui/v1/users/{}/subscriptions/{}",
            enc(&link.remote_user),
            enc(&watch.id)
        );
        let body = json!({ "expiresIn": REMOTE_EXPIRY.as_secs() });
        match self
            .federation
            .call(link, Method::PUT, &path, Some(&body), None)
            .await
        {
            Ok((_, renewed)) => {
                let renewed = watch_made(&renewed)?;
                self.federation.save_watch(link, key, &renewed).await;
                Ok(renewed)
            }
            // The peer restarted or expired it: make it again.
            Err(e) if e.code == ErrorCode::NotFound => self.subscribe_at_peer(link, key).await,
            Err(e) => Err(e),
        }
    }

    async fn release(&self, link: &Link, watch: &RemoteWatch) {
        let path = format!(
            "/cui/v1/users/{}/subscriptions/{}",
            enc(&link.remote_user),
            enc(&watch.id)
        );
        if let Err(e) = self
            .federation
            .call(link, Method::DELETE, &path, None, None)
            .await
            && e.code != ErrorCode::NotFound
        {
            tracing::warn!(peer = %self.name, error = %e, "a subscription at the peer was not released");
        }
    }
}

/// A subscription the peer made or renewed: its id and when it expires there.
fn watch_made(made: &Json) -> Result<RemoteWatch, CuiError> {
    let id = made["subscriptionId"]
        .as_str()
        .ok_or_else(|| CuiError::internal("the peer made a subscription without an id"))?;
    let expires_at = made["expiresAt"]
        .as_str()
        .and_then(|at| humantime::parse_rfc3339(at).ok())
        .unwrap_or_else(|| SystemTime::now() + REMOTE_EXPIRY);
    Ok(RemoteWatch {
        id: id.to_owned(),
        expires_at,
    })
}

/// A described property from the peer's JSON; its type and access must be ones this gateway
/// knows.
fn property_view(p: &Json) -> Option<PropertyView> {
    let kind = ["boolean", "integer", "number", "string", "enum"]
        .into_iter()
        .find(|k| p["type"] == *k)?;
    let access = ["read", "write", "read-write"]
        .into_iter()
        .find(|a| p["access"] == *a)
        .unwrap_or("read");
    Some(PropertyView {
        name: p["name"].as_str()?.to_owned(),
        kind,
        format: ["color", "date-time", "duration", "json"]
            .into_iter()
            .find(|f| p["format"] == *f),
        access,
        unit: p["unit"].as_str().map(str::to_owned),
        min: p["min"].as_number().cloned(),
        max: p["max"].as_number().cloned(),
        max_length: p["maxLength"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok()),
        values: p["values"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        needs_confirmation: p["needsConfirmation"].as_bool().unwrap_or(false),
    })
}

/// A path segment, percent-encoded.
pub(super) fn enc(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
