//! Notification of an event to clients (ISO/IEC 10192-4-3 §6.2): the user's event stream, as
//! Server-Sent Events (`GET …/events`, for `fetch` readers and curl) or as a WebSocket
//! (`GET …/events/ws`, for browsers, which cannot put a bearer token on a WebSocket: the first
//! message authenticates, as Home Assistant's API does). Both carry the same envelopes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::HesGateway;
use crate::events::Notification;
use crate::http::{Params, SignedIn};
use crate::limits::StreamSlot;
use crate::model::CuiError;
use crate::oauth::Scope;

/// How long a WebSocket may stay silent before authenticating.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// The close code of a WebSocket refused for `cui.max_streams_per_user` (4000 + 429).
pub const CLOSE_TOO_MANY_STREAMS: u16 = 4429;
/// The largest message a client may send on the event WebSocket (only `authenticate`).
const MAX_CLIENT_MESSAGE: usize = 4096;

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

/// `GET /users/{u}/events/ws`: the same envelopes as text messages. With an `Authorization`
/// header the stream starts at once; otherwise the first message must be
/// `{"type":"authenticate","token":"…"}` within [`AUTH_TIMEOUT`], answered
/// `{"type":"authenticated"}`, or the socket closes with 4401.
pub async fn websocket(
    State(gateway): State<Arc<HesGateway>>,
    Params(path_user): Params<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    parts: Parts,
) -> Result<Response, CuiError> {
    let upgrade = upgrade.map_err(|r| CuiError::bad_request(r.body_text()))?;
    // With the header the stream is counted before the upgrade, so one too many is a 429.
    let early = match crate::http::bearer(&parts.headers) {
        Some(token) => {
            let principal = gateway.principal(token).await?;
            let user = SignedIn(principal).acting_as(&path_user, Scope::Events)?;
            let slot = gateway.limits().open_stream(&user)?;
            Some((user, slot))
        }
        None => None,
    };
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve_socket(socket, gateway, path_user, early))
        .into_response())
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
    early: Option<(String, StreamSlot)>,
) {
    let (user, slot) = match early {
        Some(signed_in) => signed_in,
        None => match authenticate(&mut socket, &gateway, &path_user).await {
            Ok(user) => match gateway.limits().open_stream(&user) {
                Ok(slot) => (user, slot),
                Err(e) => return close_with(socket, CLOSE_TOO_MANY_STREAMS, e).await,
            },
            Err(e) => return close_with(socket, 4401, e).await,
        },
    };
    let mut listener = Listener::open(gateway, user, slot);
    loop {
        tokio::select! {
            next = listener.next() => {
                let text = match next {
                    Some(Ok(n)) => n.envelope.clone(),
                    Some(Err(lost)) => lagged(lost),
                    None => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                // Pings are answered by the WebSocket layer; nothing else is expected.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {
                    let _ = socket.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1008,
                        reason: "the event stream takes no messages".into(),
                    }))).await;
                    return;
                }
            },
        }
    }
}

async fn authenticate(
    socket: &mut WebSocket,
    gateway: &HesGateway,
    path_user: &str,
) -> Result<String, CuiError> {
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
    let user =
        SignedIn(gateway.principal(token.trim()).await?).acting_as(path_user, Scope::Events)?;
    let ok = json!({ "type": "authenticated", "userId": user }).to_string();
    socket
        .send(Message::Text(ok.into()))
        .await
        .map_err(|_| CuiError::unauthorized("the socket closed"))?;
    Ok(user)
}
