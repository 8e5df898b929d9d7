//! HES-CLDPE (ISO/IEC 10192-4-3 §6.3): the CUI operations carried as events on the gateway's
//! event bus, the second binding of the one operation model beside HTTP (HES-CLIP, §6.2).
//!
//! - A **request event** (`type: request`) names an operation in its body
//!   ([`codec::RequestBody`]) and goes to the gateway's operation service, which carries it out
//!   as the request's principal, with the same rights and scope checks as HTTP.
//! - Its **response event** (`type: response`, or `type: error` with `{code, message,
//!   messageId}`) has the request's `messageId` as its `correlationId`.
//! - **Notifications** (`type: event`) are published on a topic per device and event
//!   (`devices/{deviceId}/{event}`, [`topic`]) and deferred results on `users/{u}/results`.
//!
//! Every event is the envelope of `../shared/DESIGN.md` §4. A service module inside the
//! gateway (the third CUI placement of §5) holds a [`BusClient`] and may [`EventBus::listen`];
//! a CUI in a separate device sends the same request events over its event WebSocket
//! ([`crate::stream`]).

pub mod codec;
pub mod topic;

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};

use crate::events::{DeviceEvent, rfc3339};
use crate::model::{CuiError, ErrorCode};
use crate::{HesGateway, Principal};
use codec::RequestBody;
use topic::TopicFilter;

/// Request events waiting for the operation service before publishers wait.
const REQUEST_QUEUE: usize = 1024;
/// Notifications buffered for a slow listener before it is told it lagged.
const LISTENER_QUEUE: usize = 4096;
/// Requests one client may have unanswered; past it, requests are refused `rate_limited`.
pub const MAX_IN_FLIGHT: usize = 32;
/// How long a client waits for a response event: the longest update wait, and room.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(15);

/// The envelope of every event (`../shared/DESIGN.md` §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    pub timestamp: String,
    /// The user the event is for or from; a device's notification on its topic has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub body: serde_json::Value,
}

impl Envelope {
    /// A new event of `kind`, stamped now with a fresh message id.
    pub fn new(kind: &str, user: Option<&str>, body: serde_json::Value) -> Envelope {
        Envelope {
            kind: kind.to_owned(),
            message_id: hestia_proto::stanza::new_id(),
            correlation_id: None,
            timestamp: rfc3339(SystemTime::now()),
            user_id: user.map(str::to_owned),
            body,
        }
    }

    /// A request event from `user`.
    pub fn request(user: &str, body: serde_json::Value) -> Envelope {
        Envelope::new("request", Some(user), body)
    }

    /// The response event to `request`: the outcome's body, or the error.
    fn answering(request: &Envelope, answer: Result<serde_json::Value, CuiError>) -> Envelope {
        let (kind, body) = match answer {
            Ok(body) => ("response", body),
            Err(e) => ("error", e.to_json()),
        };
        Envelope {
            correlation_id: Some(request.message_id.clone()),
            ..Envelope::new(kind, request.user_id.as_deref(), body)
        }
    }

    /// The error a response event carries, if it is one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        (self.kind == "error")
            .then(|| serde_json::from_value(self.body["code"].clone()).ok())
            .flatten()
    }
}

/// A notification as published: its topic and its envelope, serialized once.
#[derive(Debug)]
pub struct Published {
    pub topic: String,
    pub envelope: Envelope,
}

/// A request event on its way to the operation service, with who sent it and where the
/// response goes.
struct Request {
    envelope: Envelope,
    principal: Principal,
    reply: oneshot::Sender<Envelope>,
}

/// The bus: the operation service's request queue and the notification topics.
#[derive(Debug)]
pub struct EventBus {
    requests: mpsc::Sender<Request>,
    /// The queue's reading side, until the operation service takes it.
    queue: Mutex<Option<mpsc::Receiver<Request>>>,
    notifications: broadcast::Sender<Arc<Published>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("message_id", &self.envelope.message_id)
            .field("user", &self.principal.user)
            .finish_non_exhaustive()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        let (requests, queue) = mpsc::channel(REQUEST_QUEUE);
        EventBus {
            requests,
            queue: Mutex::new(Some(queue)),
            notifications: broadcast::channel(LISTENER_QUEUE).0,
        }
    }
}

impl EventBus {
    /// A client that sends request events as `principal`.
    pub fn client(&self, principal: Principal) -> BusClient {
        BusClient {
            principal,
            requests: self.requests.clone(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Every notification from now on whose topic `filter` admits. The listener is trusted
    /// code inside the gateway: it hears every device, so no user's rights are checked.
    pub fn listen(&self, filter: TopicFilter) -> Listener {
        Listener {
            filter,
            rx: self.notifications.subscribe(),
        }
    }

    /// Whether anyone listens: notifications are built only then.
    fn is_heard(&self) -> bool {
        self.notifications.receiver_count() > 0
    }

    /// Publishes what a device did on its topic.
    pub(crate) fn publish_device_event(&self, event: &DeviceEvent) {
        if !self.is_heard() {
            return;
        }
        let body = serde_json::json!({
            "eventId": event.event_id,
            "deviceId": event.device,
            "event": event.event,
            "payload": event.payload,
        });
        let envelope = Envelope {
            timestamp: rfc3339(event.at),
            ..Envelope::new("event", None, body)
        };
        self.send(topic::device_event(&event.device, &event.event), envelope);
    }

    /// Publishes the result of a user's deferred operation on the user's results topic.
    pub(crate) fn publish_result(&self, user: &str, envelope: &str) {
        if !self.is_heard() {
            return;
        }
        match serde_json::from_str::<Envelope>(envelope) {
            Ok(envelope) => self.send(topic::results_of(user), envelope),
            Err(e) => tracing::warn!(error = %e, "a result that is not an envelope"),
        }
    }

    fn send(&self, topic: String, envelope: Envelope) {
        let _ = self
            .notifications
            .send(Arc::new(Published { topic, envelope }));
        metrics::counter!("hestia_gateway_bus_notifications_total").increment(1);
    }

    /// The request queue, once: its reader is the operation service ([`serve`]).
    fn take_queue(&self) -> Option<mpsc::Receiver<Request>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// What a listener hears.
#[derive(Debug)]
pub struct Listener {
    filter: TopicFilter,
    rx: broadcast::Receiver<Arc<Published>>,
}

impl Listener {
    /// The next admitted notification; `Err(lost)` when the listener fell behind by `lost`
    /// notifications (of any topic); `None` once the gateway is gone.
    pub async fn next(&mut self) -> Option<Result<Arc<Published>, u64>> {
        loop {
            match self.rx.recv().await {
                Ok(p) if self.filter.admits(&p.topic) => return Some(Ok(p)),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(lost)) => return Some(Err(lost)),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// One sender of request events, acting as one principal.
#[derive(Debug, Clone)]
pub struct BusClient {
    principal: Principal,
    requests: mpsc::Sender<Request>,
    in_flight: Arc<Semaphore>,
}

impl BusClient {
    /// Who this client acts for.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Sends a request event and waits for its response event. Whatever goes wrong — a
    /// malformed request, a refusal, no answer in time — the answer is a response event
    /// correlated with the request, of type `error`.
    pub async fn request(&self, request: Envelope) -> Envelope {
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            let e = CuiError::new(
                ErrorCode::RateLimited,
                format!("at most {MAX_IN_FLIGHT} requests wait for their responses"),
            );
            return Envelope::answering(&request, Err(e));
        };
        let (reply, answer) = oneshot::channel();
        let queued = Request {
            envelope: request.clone(),
            principal: self.principal.clone(),
            reply,
        };
        if self.requests.send(queued).await.is_err() {
            return Envelope::answering(&request, Err(CuiError::internal("the bus is closed")));
        }
        match tokio::time::timeout(RESPONSE_TIMEOUT, answer).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => Envelope::answering(
                &request,
                Err(CuiError::internal("the request ended without a response")),
            ),
            Err(_) => Envelope::answering(
                &request,
                Err(CuiError::new(ErrorCode::Timeout, "no response in time")),
            ),
        }
    }

    /// A request for `body`, as this client's user.
    pub async fn ask(&self, body: serde_json::Value) -> Envelope {
        self.request(Envelope::request(&self.principal.user, body))
            .await
    }
}

/// The operation service: answers every request event on the bus until the gateway is
/// dropped, each on its own task so a slow device holds up no other request.
pub(crate) async fn serve(gateway: Weak<HesGateway>) {
    let Some(mut queue) = gateway.upgrade().and_then(|g| g.bus().take_queue()) else {
        return;
    };
    while let Some(request) = queue.recv().await {
        let Some(g) = gateway.upgrade() else {
            return;
        };
        let tasks = g.tasks.clone();
        tasks.spawn(async move {
            let response = Envelope::answering(&request.envelope, answer(&g, &request).await);
            metrics::counter!("hestia_gateway_bus_requests_total", "type" => response.kind.clone())
                .increment(1);
            let _ = request.reply.send(response);
        });
    }
}

/// Carries out one request event as its principal.
async fn answer(gateway: &HesGateway, request: &Request) -> Result<serde_json::Value, CuiError> {
    let Request {
        envelope,
        principal,
        ..
    } = request;
    if envelope.kind != "request" {
        return Err(CuiError::bad_request(
            "only events of type request are answered",
        ));
    }
    if envelope.user_id.as_deref() != Some(principal.user.as_str()) {
        return Err(CuiError::forbidden(
            "a request's userId is the user its sender acts for",
        ));
    }
    let body = RequestBody::parse(envelope.body.clone())?;
    principal.check_scope(body.scope())?;
    let op = body.into_operation(principal.user.clone(), principal.grant.clone())?;
    gateway
        .execute(op)
        .await?
        .to_json()
        .ok_or_else(|| CuiError::internal("an outcome the bus cannot carry"))
}
