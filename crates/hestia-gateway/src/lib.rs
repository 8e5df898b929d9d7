//! The HES gateway (ISO/IEC 10192-4-3): one person reaches the devices of their home clusters
//! through the common user interface (CUI). This crate holds the one operation model
//! ([`model`], §6.2 HES-CLIP / §6.3 HES-CLDPE), the IGRS RA cluster adapter ([`igrs`]),
//! sign-in and tokens ([`auth`]) and the HTTP binding under `/cui/v1` ([`http`]).
//!
//! Dependency direction: proto/store/router ← gateway ← server. The gateway reaches the IRSP
//! only through the application-server interface and the router's domain functions.

pub mod auth;
pub mod cluster;
pub mod console;
pub mod events;
pub mod http;
pub mod igrs;
pub mod model;
pub mod sharing;
pub mod stream;
pub mod values;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use hestia_proto::device::Value;
use hestia_router::Irsp;
use hestia_router::appserver::AppError;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{Issued, Tokens};
use crate::cluster::{Cluster, Clusters};
use crate::events::{DeviceEvent, Events, ONLINE, PROPERTY};
use crate::igrs::IgrsCluster;
use crate::model::{CuiError, DeviceId, Operation, Outcome, PropertyValue};
use crate::values::LiveValues;

/// The gateway: its clusters, its subscriptions and live values, and its token table.
#[derive(Debug)]
pub struct HesGateway {
    /// The IGRS cluster, also among `clusters`: signing in grants it.
    igrs: IgrsCluster,
    clusters: Clusters,
    events: Events,
    values: LiveValues,
    tokens: Tokens,
    irsp: Arc<Irsp>,
}

impl HesGateway {
    /// A gateway over the in-process IRSP, with the default token lifetime. It hears devices
    /// once the future of [`HesGateway::listen`] runs.
    pub fn new(irsp: Arc<Irsp>) -> Result<Arc<HesGateway>, AppError> {
        HesGateway::with_tokens(irsp, Tokens::default())
    }

    pub fn with_tokens(irsp: Arc<Irsp>, tokens: Tokens) -> Result<Arc<HesGateway>, AppError> {
        let igrs = IgrsCluster::new(irsp.clone())?;
        let mut clusters = Clusters::default();
        clusters.add(Cluster::Igrs(igrs.clone()));
        let gateway = Arc::new(HesGateway {
            igrs: igrs.clone(),
            clusters,
            events: Events::default(),
            values: LiveValues::default(),
            tokens,
            irsp,
        });
        Ok(gateway)
    }

    /// Turns what the IRSP's devices do into gateway events, from now until the gateway is
    /// dropped; the caller runs it on its task tracker.
    pub fn listen(self: &Arc<Self>) -> impl Future<Output = ()> + Send + 'static {
        listen_to_igrs(
            Arc::downgrade(self),
            self.igrs.clone(),
            self.irsp.feed.subscribe(),
        )
    }

    /// Signs a user in with their IGRS account; records their grant to the gateway (signing
    /// in is the consent to act for them) and issues a token.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Issued, CuiError> {
        let user = self
            .tokens
            .verify(&self.irsp.store, username, password)
            .await?;
        self.igrs.grant(&user).await?;
        Ok(self.tokens.issue(&user))
    }

    /// The user a bearer token was issued to.
    pub fn user_of(&self, token: &str) -> Result<String, CuiError> {
        self.tokens.user_of(token)
    }

    /// The gateway's subscriptions and open streams.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Carries out one operation on the cluster its device belongs to.
    pub async fn execute(&self, op: Operation) -> Result<Outcome, CuiError> {
        match op {
            Operation::ListDevices { user } => self.devices(&user).await.map(Outcome::Devices),
            Operation::GetProperty {
                user,
                device,
                property,
            } => {
                let read = self
                    .clusters
                    .of(&device)?
                    .get(&user, &device, &property)
                    .await?;
                self.heard(&read).await;
                Ok(Outcome::Property(read))
            }
            Operation::SetProperty {
                user,
                device,
                property,
                value,
            } => {
                let cluster = self.clusters.of(&device)?;
                let set = cluster.set(&user, &device, &property, value).await?;
                self.heard(&set).await;
                Ok(Outcome::Property(set))
            }
            Operation::Subscribe { user, request } => {
                self.check_subscribable(&user, &request.device, &request.event)
                    .await?;
                self.events
                    .subscribe(&user, request)
                    .map(Outcome::Subscription)
            }
            Operation::Renew {
                user,
                subscription,
                expires_in,
            } => self
                .events
                .renew(&user, &subscription, expires_in)
                .map(Outcome::Subscription),
            Operation::Cancel { user, subscription } => self
                .events
                .cancel(&user, &subscription)
                .map(|()| Outcome::Cancelled),
            Operation::ListSubscriptions { user } => {
                Ok(Outcome::Subscriptions(self.events.list(&user)))
            }
            Operation::History {
                user,
                device,
                property,
            } => {
                self.require_view(&user, &device).await?;
                Ok(Outcome::History {
                    points: self.values.history(&device, property.as_str()),
                    property: property.as_str().to_owned(),
                    device,
                })
            }
            Operation::Sharing(op) => self.igrs.sharing(op).await.map(Outcome::Sharing),
        }
    }

    /// The devices of every cluster the user reaches, sorted by id.
    async fn devices(&self, user: &str) -> Result<Vec<model::DeviceView>, CuiError> {
        let mut all = Vec::new();
        for cluster in self.clusters.iter() {
            all.extend(cluster.devices(user).await?);
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// An unrelated device is `not_found`, so its existence never leaks.
    async fn require_view(&self, user: &str, device: &DeviceId) -> Result<(), CuiError> {
        if self.clusters.of(device)?.may_view(user, device).await? {
            Ok(())
        } else {
            Err(CuiError::not_found(format!("no device {device}")))
        }
    }

    async fn check_subscribable(
        &self,
        user: &str,
        device: &DeviceId,
        event: &str,
    ) -> Result<(), CuiError> {
        self.require_view(user, device).await?;
        if event == ONLINE || event == PROPERTY {
            return Ok(());
        }
        match self.clusters.of(device)?.events_of(device).await? {
            Some(events) if !events.iter().any(|e| e == event) => Err(CuiError::not_found(
                format!("{device} has no event {event}"),
            )),
            _ => Ok(()),
        }
    }

    /// A value read or set through the gateway is news when it changed.
    async fn heard(&self, value: &PropertyValue) {
        self.property_changed(
            &value.device_id,
            &value.property,
            &value.value,
            SystemTime::now(),
        )
        .await;
    }

    /// Records a property value a cluster reported and, when it changed, notifies the
    /// `property` subscribers.
    pub async fn property_changed(
        &self,
        device: &DeviceId,
        property: &str,
        value: &Value,
        at: SystemTime,
    ) {
        if !self.values.observe(device, property, value, at) {
            return;
        }
        let event = DeviceEvent {
            device: device.clone(),
            event: PROPERTY.to_owned(),
            event_id: hestia_proto::stanza::new_id(),
            at,
            payload: serde_json::json!({
                "property": property,
                "value": model::value_to_json(value),
            }),
        };
        self.publish(&event).await;
    }

    /// Notifies every matching subscription whose user may still see the device: rights are
    /// read at each event, so a revoked right silences a subscription at once.
    pub async fn publish(&self, event: &DeviceEvent) -> usize {
        let subscribed = self.events.matching(event);
        if subscribed.is_empty() {
            return 0;
        }
        let Ok(cluster) = self.clusters.of(&event.device) else {
            return 0;
        };
        let mut may_view: HashMap<&str, bool> = HashMap::new();
        let mut sent = 0;
        for subscription in &subscribed {
            let allowed = match may_view.get(subscription.user.as_str()) {
                Some(allowed) => *allowed,
                None => {
                    let allowed = cluster
                        .may_view(&subscription.user, &event.device)
                        .await
                        .unwrap_or(false);
                    may_view.insert(&subscription.user, allowed);
                    allowed
                }
            };
            if allowed {
                sent += self.events.notify(subscription, event);
            }
        }
        sent
    }
}

/// Turns the IRSP's device feed into gateway events until the gateway is dropped.
async fn listen_to_igrs(
    gateway: Weak<HesGateway>,
    igrs: IgrsCluster,
    mut feed: tokio::sync::broadcast::Receiver<hestia_router::feed::Observation>,
) {
    loop {
        let observation = match feed.recv().await {
            Ok(observation) => observation,
            Err(RecvError::Lagged(lost)) => {
                tracing::warn!(lost, "the gateway fell behind the device feed");
                metrics::counter!("hestia_gateway_feed_lost_total").increment(lost);
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        match igrs.translate(observation).await {
            Ok((event, values)) => {
                for (property, value) in values {
                    gateway
                        .property_changed(&event.device, &property, &value, event.at)
                        .await;
                }
                gateway.publish(&event).await;
            }
            Err(e) => tracing::debug!(error = %e, "an IRSP observation the gateway cannot name"),
        }
    }
}
