//! The HES gateway (ISO/IEC 10192-4-3): one person reaches the devices of their home clusters
//! through the common user interface (CUI). This crate holds the one operation model
//! ([`model`], §6.2 HES-CLIP / §6.3 HES-CLDPE), the IGRS RA cluster adapter ([`igrs`]),
//! sign-in and tokens ([`auth`]), the HTTP binding under `/cui/v1` ([`http`]) and the OAuth 2.0
//! authorization server of C2C authorization ([`oauth`], §8), whose JWTs `/cui/v1` accepts too.
//!
//! Dependency direction: proto/store/router ← gateway ← server. The gateway reaches the IRSP
//! only through the application-server interface and the router's domain functions.

pub mod auth;
pub mod bus;
pub mod cluster;
pub mod console;
pub mod events;
pub mod federation;
pub mod http;
pub mod igrs;
pub mod limits;
pub mod model;
pub mod mqtt;
pub mod oauth;
pub mod operations;
pub mod sharing;
pub mod stream;
pub mod values;
pub mod webhook;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use hestia_proto::device::Value;
use hestia_router::Irsp;
use hestia_router::appserver::AppError;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::auth::{Issued, Tokens};
use crate::cluster::{Cluster, ClusterFeed, Clusters, Observed};
use crate::events::{DeviceEvent, Events, ONLINE, PROPERTY};
use crate::igrs::IgrsCluster;
use crate::model::{CuiError, DeviceId, Operation, Outcome, PropertyValue, SetOptions};
use crate::oauth::{AuthServer, OAuthSettings, Scopes};
use crate::operations::{Operations, SetCommand};
use crate::values::LiveValues;

/// The gateway: its clusters, its subscriptions and live values, its token table and its
/// authorization server.
#[derive(Debug)]
pub struct HesGateway {
    /// Itself, for the tasks it starts (a set outliving its caller's wait).
    me: Weak<HesGateway>,
    /// The IGRS cluster, also among `clusters`: signing in grants it.
    igrs: IgrsCluster,
    clusters: Clusters,
    /// Where adapters other than the IGRS one tell what their devices do.
    cluster_feed: ClusterFeed,
    /// The feed's receiving side, until [`HesGateway::listen`] takes it.
    cluster_observations: Mutex<Option<mpsc::Receiver<Observed>>>,
    events: Events,
    /// The HES-CLDPE binding: request/response events and notification topics.
    bus: bus::EventBus,
    values: LiveValues,
    operations: Operations,
    tasks: TaskTracker,
    tokens: Tokens,
    oauth: AuthServer,
    /// Size, rate and time limits of the HTTP API (`[cui]`).
    limits: Arc<limits::Limits>,
    /// Peer gateways and the links users made to them (§8, §9).
    federation: Arc<federation::Federation>,
    irsp: Arc<Irsp>,
}

/// Who a bearer token acts for, and how far.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user: String,
    /// None for the gateway's own sign-in tokens (full access); the token's scopes for an OAuth
    /// access token.
    pub scopes: Option<Scopes>,
    /// The OAuth client and grant of an access token (None for sign-in tokens): a peer
    /// gateway acting through a link is known by them.
    pub client_id: Option<String>,
    pub grant: Option<String>,
}

impl Principal {
    /// A person acting in full, as their own sign-in does; what a service module inside the
    /// gateway acts as for them on the event bus. The person must have granted the gateway
    /// (signed in once), or their requests are `unauthorized`.
    pub fn person(user: &str) -> Principal {
        Principal {
            user: user.to_owned(),
            scopes: None,
            client_id: None,
            grant: None,
        }
    }

    /// An OAuth access token must hold `needs`; a sign-in holds every scope.
    pub fn check_scope(&self, needs: oauth::Scope) -> Result<(), CuiError> {
        match &self.scopes {
            Some(scopes) if !scopes.contains(needs) => Err(CuiError::forbidden(format!(
                "the access token lacks the scope {}",
                needs.as_str()
            ))),
            _ => Ok(()),
        }
    }
}

impl HesGateway {
    /// A gateway over the in-process IRSP, with the default token lifetime. It hears devices
    /// once the future of [`HesGateway::listen`] runs.
    pub fn new(irsp: Arc<Irsp>) -> Result<Arc<HesGateway>, AppError> {
        HesGateway::with_tokens(irsp, Tokens::default())
    }

    pub fn with_tokens(irsp: Arc<Irsp>, tokens: Tokens) -> Result<Arc<HesGateway>, AppError> {
        HesGateway::with_settings(irsp, tokens, OAuthSettings::default())
    }

    /// A gateway whose authorization server is configured by `oauth`.
    pub fn with_settings(
        irsp: Arc<Irsp>,
        tokens: Tokens,
        oauth: OAuthSettings,
    ) -> Result<Arc<HesGateway>, AppError> {
        HesGateway::with_limits(irsp, tokens, oauth, limits::Limits::default())
    }

    /// A gateway with its authorization server's settings and the HTTP API's limits.
    pub fn with_limits(
        irsp: Arc<Irsp>,
        tokens: Tokens,
        oauth: OAuthSettings,
        limits: limits::Limits,
    ) -> Result<Arc<HesGateway>, AppError> {
        let igrs = IgrsCluster::new(irsp.clone())?;
        let clusters = Clusters::new(Cluster::Igrs(igrs.clone()));
        let (cluster_feed, observations) = ClusterFeed::channel();
        let gateway = Arc::new_cyclic(|me| HesGateway {
            me: me.clone(),
            igrs: igrs.clone(),
            clusters,
            cluster_feed,
            cluster_observations: Mutex::new(Some(observations)),
            events: Events::with_reach(limits.webhook_reach()),
            bus: bus::EventBus::default(),
            values: LiveValues::default(),
            operations: Operations::default(),
            tasks: TaskTracker::new(),
            tokens,
            oauth: AuthServer::new(irsp.store.clone(), oauth),
            limits: Arc::new(limits),
            federation: Arc::new(federation::Federation::new(irsp.store.clone())),
            irsp,
        });
        Ok(gateway)
    }

    /// Turns what the IRSP's devices, and the devices of every other cluster, do into gateway
    /// events, from now until the gateway is dropped; the caller runs it on its task tracker.
    /// Only the first call hears the other clusters (their feed has one reader).
    pub fn listen(self: &Arc<Self>) -> impl Future<Output = ()> + Send + 'static {
        let observations = self
            .cluster_observations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let clusters = listen_to_clusters(
            Arc::downgrade(self),
            self.igrs.clone(),
            self.irsp.feed.subscribe(),
            observations,
        );
        let federation = federation::keep_links(Arc::downgrade(self));
        let operation_service = bus::serve(Arc::downgrade(self));
        async move {
            futures_util::future::join3(clusters, federation, operation_service).await;
        }
    }

    /// The clusters this gateway reaches.
    pub fn clusters(&self) -> &Clusters {
        &self.clusters
    }

    /// Adds a cluster adapter (an MQTT home, a peer gateway); its devices appear at once.
    pub fn add_cluster(&self, cluster: Cluster) -> Result<Arc<Cluster>, CuiError> {
        self.clusters.add(cluster)
    }

    /// Where a cluster adapter tells what its devices do.
    pub fn cluster_feed(&self) -> ClusterFeed {
        self.cluster_feed.clone()
    }

    /// Peer gateways and links (the OAuth client side of C2C authorization).
    pub fn federation(&self) -> &Arc<federation::Federation> {
        &self.federation
    }

    /// The authorization server (C2C authorization).
    pub fn oauth(&self) -> &AuthServer {
        &self.oauth
    }

    /// The HTTP API's size, rate and time limits.
    pub fn limits(&self) -> &Arc<limits::Limits> {
        &self.limits
    }

    /// Signs a user in with their IGRS account; records their grant to the gateway (signing
    /// in is the consent to act for them) and issues a token.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Issued, CuiError> {
        let user = self.consent(username, password).await?;
        Ok(self.tokens.issue(&user))
    }

    /// Checks a user's IGRS credentials (throttled as sign-in is) and records their grant to the
    /// gateway: what both sign-in and an OAuth consent screen do. The normalised user.
    pub async fn consent(&self, username: &str, password: &str) -> Result<String, CuiError> {
        let user = self
            .tokens
            .verify(&self.irsp.store, username, password)
            .await?;
        self.igrs.grant(&user).await?;
        Ok(user)
    }

    /// Signs out: the console token stops working at once. An OAuth access token is revoked at
    /// the authorization server instead.
    pub fn sign_out(&self, token: &str) -> Result<(), CuiError> {
        if oauth::jwt::is_jwt(token) {
            return Err(CuiError::bad_request(
                "an OAuth access token is revoked at /oauth/revoke",
            ));
        }
        if self.tokens.revoke(token) {
            Ok(())
        } else {
            Err(CuiError::unauthorized("unknown token"))
        }
    }

    /// The user a console (sign-in) token was issued to.
    pub fn user_of(&self, token: &str) -> Result<String, CuiError> {
        self.tokens.user_of(token)
    }

    /// The gateway's subscriptions and open streams.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The gateway's event bus (HES-CLDPE).
    pub fn bus(&self) -> &bus::EventBus {
        &self.bus
    }

    /// Who a bearer token acts for: a console token, or a JWT access token of this gateway's
    /// authorization server whose audience is this gateway's CUI.
    pub async fn principal(&self, token: &str) -> Result<Principal, CuiError> {
        if !oauth::jwt::is_jwt(token) {
            return self.tokens.user_of(token).map(|user| Principal {
                user,
                scopes: None,
                client_id: None,
                grant: None,
            });
        }
        let claims = self
            .oauth
            .verify_access_token(token)
            .await
            .map_err(CuiError::unauthorized)?;
        if claims.aud != self.oauth.settings().audience {
            return Err(CuiError::unauthorized(
                "the access token is for another audience",
            ));
        }
        let scopes = Scopes::parse(&claims.scope).map_err(CuiError::unauthorized)?;
        Ok(Principal {
            user: claims.sub.clone(),
            scopes: Some(scopes),
            client_id: Some(claims.client_id.clone()),
            grant: Some(claims.gid.clone()),
        })
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
                options,
            } => {
                let command = SetCommand {
                    user,
                    device,
                    property,
                    value,
                    confirmed: options.confirmed,
                };
                self.update(command, options).await
            }
            Operation::GetOperation { user, operation } => self
                .operations
                .get(&user, &operation)
                .map(Outcome::Operation),
            Operation::Subscribe { user, request } => {
                self.check_subscribable(&user, &request.device, &request.event)
                    .await?;
                self.clusters
                    .of(&request.device)?
                    .watch(&user, &request.device, &request.event)
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

    /// Update of a device property: the value set when the device answers within the caller's
    /// wait, else a deferred operation; for an offline device with `queue_for`, a queued one.
    async fn update(&self, command: SetCommand, options: SetOptions) -> Result<Outcome, CuiError> {
        let cluster = self.clusters.of(&command.device)?;
        cluster
            .check_confirmation(&command.device, &command.property, command.confirmed)
            .await?;
        if let Some(ttl) = options.queue_for
            && !cluster.is_online(&command.device)
        {
            cluster
                .check_set(
                    &command.user,
                    &command.device,
                    &command.property,
                    &command.value,
                )
                .await?;
            return self
                .operations
                .open(command, Some(ttl))
                .map(Outcome::Accepted);
        }
        let id = self.operations.open(command.clone(), None)?.operation_id;
        let mut answer = self.start(id.clone(), command)?;
        match tokio::time::timeout(options.wait, &mut answer).await {
            Ok(result) => {
                self.operations.forget(&id);
                flatten(result).map(Outcome::Property)
            }
            Err(_) => match self.operations.defer(&id) {
                Some(view) => Ok(Outcome::Accepted(view)),
                // It finished while the wait ran out: the caller takes the answer after all.
                None => {
                    self.operations.forget(&id);
                    flatten(answer.await).map(Outcome::Property)
                }
            },
        }
    }

    /// Carries a set out on the gateway's own task, so it finishes whether or not the caller
    /// still waits.
    fn start(
        &self,
        id: String,
        command: SetCommand,
    ) -> Result<oneshot::Receiver<Result<PropertyValue, CuiError>>, CuiError> {
        let me = self
            .me
            .upgrade()
            .ok_or_else(|| CuiError::internal("the gateway is stopping"))?;
        let (tx, rx) = oneshot::channel();
        self.tasks.spawn(async move {
            let _ = tx.send(me.carry_out(&id, command).await);
        });
        Ok(rx)
    }

    async fn carry_out(&self, id: &str, c: SetCommand) -> Result<PropertyValue, CuiError> {
        let result = match self.clusters.of(&c.device) {
            Ok(cluster) => {
                cluster
                    .set(&c.user, &c.device, &c.property, c.value, c.confirmed)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Ok(set) = &result {
            self.heard(set).await;
        }
        if let Some((user, notification)) = self.operations.finish(id, &result) {
            self.tell_result(&user, notification);
        }
        result
    }

    /// A device came online: its queued commands go now.
    fn release_queued(&self, device: &DeviceId) {
        for (id, command) in self.operations.release_queued(device) {
            if let Err(e) = self.start(id, command) {
                tracing::warn!(error = %e, "a queued command could not start");
            }
        }
    }

    /// Queued commands past their time-to-live are told as expired.
    fn expire_queued(&self) {
        for (user, notification) in self.operations.expire(SystemTime::now()) {
            self.tell_result(&user, notification);
        }
    }

    /// A deferred operation's result goes to the user's streams and the user's bus topic.
    fn tell_result(&self, user: &str, notification: events::Notification) {
        self.bus.publish_result(user, &notification.envelope);
        self.events.send_to_user(user, notification);
    }

    /// The devices of every cluster the user reaches, sorted by id.
    async fn devices(&self, user: &str) -> Result<Vec<model::DeviceView>, CuiError> {
        let mut all = Vec::new();
        for cluster in self.clusters.all() {
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

    /// What a cluster saw: its reported values first (each a `property` notification when it
    /// changed), then the event itself; a device coming online releases its queued commands.
    async fn observe(&self, observed: Observed) {
        let is_values_only = observed.is_values_only();
        let Observed { event, values } = observed;
        for (property, value) in values {
            self.property_changed(&event.device, &property, &value, event.at)
                .await;
        }
        if is_values_only {
            return;
        }
        if event.event == ONLINE && event.payload["online"] == true {
            self.release_queued(&event.device);
        }
        self.publish(&event).await;
    }

    /// Notifies every matching subscription whose user may still see the device: rights are
    /// read at each event, so a revoked right silences a subscription at once.
    pub async fn publish(&self, event: &DeviceEvent) -> usize {
        self.bus.publish_device_event(event);
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

/// An answer that never came (the task ended without one) is an internal failure.
fn flatten(
    answer: Result<Result<PropertyValue, CuiError>, oneshot::error::RecvError>,
) -> Result<PropertyValue, CuiError> {
    answer.unwrap_or_else(|_| {
        Err(CuiError::internal(
            "the update's task ended without an answer",
        ))
    })
}

/// How often queued commands are checked for expiry.
const EXPIRY_TICK: Duration = Duration::from_secs(1);

/// Turns the IRSP's device feed and the other clusters' feed into gateway events until the
/// gateway is dropped, and expires queued commands as their time-to-live ends.
async fn listen_to_clusters(
    gateway: Weak<HesGateway>,
    igrs: IgrsCluster,
    mut feed: tokio::sync::broadcast::Receiver<hestia_router::feed::Observation>,
    mut others: Option<mpsc::Receiver<Observed>>,
) {
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    loop {
        let observed = tokio::select! {
            received = feed.recv() => match received {
                Ok(observation) => match igrs.translate(observation).await {
                    Ok((event, values)) => Observed { event, values },
                    Err(e) => {
                        tracing::debug!(error = %e, "an IRSP observation the gateway cannot name");
                        continue;
                    }
                },
                Err(RecvError::Lagged(lost)) => {
                    tracing::warn!(lost, "the gateway fell behind the device feed");
                    metrics::counter!("hestia_gateway_feed_lost_total").increment(lost);
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
            Some(observed) = next_observed(&mut others) => observed,
            _ = tick.tick() => {
                let Some(gateway) = gateway.upgrade() else {
                    return;
                };
                gateway.expire_queued();
                continue;
            }
        };
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        gateway.observe(observed).await;
    }
}

/// The next observation of the other clusters; never, once their feed is gone.
async fn next_observed(others: &mut Option<mpsc::Receiver<Observed>>) -> Option<Observed> {
    match others {
        Some(rx) => match rx.recv().await {
            Some(observed) => Some(observed),
            None => {
                *others = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}
