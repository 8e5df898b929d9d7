//! Notification of an event to clients (ISO/IEC 10192-4-3 §6.2): the user's event stream, as
//! Server-Sent Events (`GET …/events`, for `fetch` readers and curl) or as a WebSocket
//! (`GET …/events/ws`, for browsers, which cannot put a bearer token on a WebSocket: the first
//! message authenticates, as Home Assistant's API does). Both carry the same envelopes; the
//! WebSocket also carries HES-CLDPE request and response events ([`crate::bus`]), as Home
//! Assistant's WebSocket API carries commands beside its event subscriptions.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

use crate::bus::{self, Envelope};
use crate::events::Notification;
use crate::http::{Params, SignedIn};
use crate::limits::StreamSlot;
use crate::model::{CuiError, ErrorCode};
use crate::oauth::Scope;
use crate::{HesGateway, Principal};

/// How long a WebSocket may stay silent before authenticating.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// The close code of a WebSocket refused for `cui.max_streams_per_user` (4000 + 429).
pub const CLOSE_TOO_MANY_STREAMS: u16 = 4429;

/// One open stream of a user's notifications; forgets the user's stream table entry when the
/// last one closes.
struct Listener {
    rx: broadcast::Receiver<Arc<Notification>>,
    gateway: Arc<HesGateway>,
    user: String,
    /// Counts the stream against the user's `cui.max_streams_per_user`.
    _slot: StreamSlot,
}

impl Listener {
    /// The stream of `user`, who holds `slot` of their `cui.max_streams_per_user`.
    fn open(gateway: Arc<HesGateway>, user: String, slot: StreamSlot) -> Listener {
        let rx = gateway.events().stream(&user);
        metrics::gauge!("hestia_gateway_event_streams").increment(1.0);
        Listener {
            rx,
            gateway,
            user,
            _slot: slot,
        }
    }

    /// The next notification, or how many this stream lost by falling behind.
    async fn next(&mut self) -> Option<Result<Arc<Notification>, u64>> {
        match self.rx.recv().await {
            Ok(n) => Some(Ok(n)),
            Err(RecvError::Lagged(lost)) => Some(Err(lost)),
            Err(RecvError::Closed) => None,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // The receiver must go first for the table to see nobody reads any more.
        let (_, replacement) = broadcast::channel(1);
        drop(std::mem::replace(&mut self.rx, replacement));
        self.gateway.events().close_stream(&self.user);
        metrics::gauge!("hestia_gateway_event_streams").decrement(1.0);
    }
}

/// What a stream says when it fell behind: the client re-reads what it shows.
fn lagged(lost: u64) -> String {
    json!({ "type": "lagged", "lost": lost }).to_string()
}

/// `GET /users/{u}/events`: `text/event-stream`, each notification with its `eventId` as the
/// SSE id; a comment every 15 s keeps proxies from closing an idle stream.
pub async fn sse(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params(path_user): Params<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, CuiError> {
    let user = who.acting_as(&path_user, Scope::Events)?;
    let slot = gateway.limits().open_stream(&user)?;
    let listener = Listener::open(gateway, user, slot);
    let events = stream::unfold(listener, |mut listener| async move {
        let event = match listener.next().await? {
            Ok(n) => Event::default()
                .event(n.kind)
                .id(n.event_id.clone())
                .data(n.envelope.clone()),
            Err(lost) => Event::default().event("lagged").data(lagged(lost)),
        };
        Some((Ok(event), listener))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The first message on the event WebSocket when no `Authorization` header came with it.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum ClientMessage {
    Authenticate { token: String },
}

/// Who an event WebSocket acts for: the principal, the token (each request event it sends
/// is counted against the token's and the address's rate limits, as an HTTP request is) and
/// its slot of `cui.max_streams_per_user`.
struct SocketOwner {
    principal: Principal,
    token: String,
    peer: Option<IpAddr>,
    slot: StreamSlot,
}

/// `GET /users/{u}/events/ws`: the same envelopes as text messages. With an `Authorization`
/// header the stream starts at once; otherwise the first message must be
/// `{"type":"authenticate","token":"…"}` within [`AUTH_TIMEOUT`], answered
/// `{"type":"authenticated"}`, or the socket closes with 4401. After that the client may send
/// HES-CLDPE request events ([`crate::bus`]); each is answered on the socket by its response
/// event, between the notifications.
pub async fn websocket(
    State(gateway): State<Arc<HesGateway>>,
    Params(path_user): Params<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    parts: Parts,
) -> Result<Response, CuiError> {
    let upgrade = upgrade.map_err(|r| CuiError::bad_request(r.body_text()))?;
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // With the header the stream is counted before the upgrade, so one too many is a 429.
    let early = match crate::http::bearer(&parts.headers) {
        Some(token) => {
            let principal = gateway.principal(token).await?;
            let owner = own(&gateway, principal, token, peer, &path_user)?;
            Some(owner)
        }
        None => None,
    };
    let max_message = gateway.limits().config.max_body_bytes;
    Ok(upgrade
        .max_message_size(max_message)
        .on_upgrade(move |socket| serve_socket(socket, gateway, path_user, peer, early))
        .into_response())
}

/// The socket's owner, if the principal may read `path_user`'s events and has a stream slot
/// left.
fn own(
    gateway: &HesGateway,
    principal: Principal,
    token: &str,
    peer: Option<IpAddr>,
    path_user: &str,
) -> Result<SocketOwner, CuiError> {
    let user = SignedIn(principal.clone()).acting_as(path_user, Scope::Events)?;
    let slot = gateway.limits().open_stream(&user)?;
    Ok(SocketOwner {
        principal,
        token: token.to_owned(),
        peer,
        slot,
    })
}

/// Closes the socket with `code` and the error's message.
async fn close_with(mut socket: WebSocket, code: u16, e: CuiError) {
    let frame = axum::extract::ws::CloseFrame {
        code,
        reason: e.message.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn serve_socket(
    mut socket: WebSocket,
    gateway: Arc<HesGateway>,
    path_user: String,
    peer: Option<IpAddr>,
    early: Option<SocketOwner>,
) {
    let owner = match early {
        Some(owner) => owner,
        None => match authenticate(&mut socket, &gateway, &path_user).await {
            Ok((principal, token)) => match own(&gateway, principal, &token, peer, &path_user) {
                Ok(owner) => owner,
                Err(e) => return close_with(socket, CLOSE_TOO_MANY_STREAMS, e).await,
            },
            Err(e) => return close_with(socket, 4401, e).await,
        },
    };
    let client = gateway.bus().client(owner.principal.clone());
    let user = owner.principal.user.clone();
    let mut listener = Listener::open(gateway.clone(), user, owner.slot);
    // Response events, written between notifications as their requests finish.
    let (responses, mut answered) = mpsc::channel::<Envelope>(bus::MAX_IN_FLIGHT);
    loop {
        let text = tokio::select! {
            next = listener.next() => match next {
                Some(Ok(n)) => n.envelope.clone(),
                Some(Err(lost)) => lagged(lost),
                None => return,
            },
            Some(response) = answered.recv() => match serde_json::to_string(&response) {
                Ok(text) => text,
                Err(_) => continue,
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the WebSocket layer.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(Message::Text(text))) => {
                    match take_request(&gateway, &owner.token, owner.peer, text.as_str()) {
                        Ok(request) => {
                            let (client, responses) = (client.clone(), responses.clone());
                            gateway.tasks.spawn(async move {
                                let _ = responses.send(client.request(request).await).await;
                            });
                            continue;
                        }
                        Err(refused) => refused,
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let _ = socket.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1003,
                        reason: "the event stream takes JSON text messages".into(),
                    }))).await;
                    return;
                }
            },
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}

/// A client's text message as a request event for the bus, or the error event that refuses
/// it (malformed JSON, not an envelope, over the rate limit), to be written back at once.
fn take_request(
    gateway: &HesGateway,
    token: &str,
    peer: Option<IpAddr>,
    text: &str,
) -> Result<Envelope, String> {
    let refuse = |correlation: Option<String>, e: CuiError| {
        let refusal = Envelope {
            correlation_id: correlation,
            ..Envelope::new("error", None, e.to_json())
        };
        serde_json::to_string(&refusal).unwrap_or_default()
    };
    let request: Envelope = serde_json::from_str(text).map_err(|e| {
        refuse(
            None,
            CuiError::bad_request(format!("not a request event: {e}")),
        )
    })?;
    if let Err(retry_after) = gateway.limits().admit(peer, Some(token)) {
        let e = CuiError::new(
            ErrorCode::RateLimited,
            format!("too many requests; retry after {} s", retry_after.max(1)),
        );
        return Err(refuse(Some(request.message_id), e));
    }
    Ok(request)
}

/// The principal and token of the socket's first message.
async fn authenticate(
    socket: &mut WebSocket,
    gateway: &HesGateway,
    path_user: &str,
) -> Result<(Principal, String), CuiError> {
    let first = tokio::time::timeout(AUTH_TIMEOUT, socket.recv())
        .await
        .map_err(|_| CuiError::unauthorized("no authenticate message in time"))?;
    let Some(Ok(Message::Text(text))) = first else {
        return Err(CuiError::unauthorized(
            "the first message must authenticate",
        ));
    };
    let ClientMessage::Authenticate { token } = serde_json::from_str(text.as_str())
        .map_err(|_| CuiError::unauthorized("the first message must authenticate"))?;
    let token = token.trim().to_owned();
    let principal = gateway.principal(&token).await?;
    let user = SignedIn(principal.clone()).acting_as(path_user, Scope::Events)?;
    let ok = json!({ "type": "authenticated", "userId": user }).to_string();
    socket
        .send(Message::Text(ok.into()))
        .await
        .map_err(|_| CuiError::unauthorized("the socket closed"))?;
    Ok((principal, token))
}
