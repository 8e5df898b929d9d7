//! XMPP over WebSocket (RFC 7395) at `/xmpp-websocket` on the HTTP port: the upgrade, with
//! the `xmpp` subprotocol required (§3.3.1), and the adapter from axum's WebSocket to the
//! c2s session's text-message pipe ([`hestia_session::websocket`]). The stream itself is an
//! ordinary c2s connection, with its limits, per-address count and shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hestia_session::C2s;
use hestia_session::websocket::WebSocketIo;

use crate::config::ConsiderSecure;
use crate::http::HttpState;

/// The subprotocol RFC 7395 §3.3.1 registers.
pub const SUBPROTOCOL: &str = "xmpp";

/// What the WebSocket endpoint needs.
#[derive(Debug, Clone)]
pub struct WebSocketState {
    pub c2s: Arc<C2s>,
    pub consider_secure: ConsiderSecure,
    /// The HTTP listener is bound to a loopback address (for [`ConsiderSecure::Loopback`]).
    pub is_loopback_listener: bool,
    /// The HTTP port serves HTTPS: every WebSocket on it is encrypted.
    pub is_tls_listener: bool,
}

/// `GET /xmpp-websocket`.
pub async fn upgrade(
    State(http): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(s) = http.websocket else {
        return (StatusCode::NOT_FOUND, "WebSocket disabled").into_response();
    };
    let ws = ws.protocols([SUBPROTOCOL]);
    if ws.selected_protocol().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            "the \"xmpp\" WebSocket subprotocol is required (RFC 7395 §3.3.1)",
        )
            .into_response();
    }
    let is_secure = match s.consider_secure {
        _ if s.is_tls_listener => true,
        ConsiderSecure::Always => true,
        ConsiderSecure::Never => false,
        ConsiderSecure::Loopback => s.is_loopback_listener && peer.ip().is_loopback(),
    };
    // As much as the stream parser accepts in one go, so it is the parser that sees an
    // oversize stanza and answers policy-violation; beyond this the WebSocket layer refuses
    // the message itself.
    let max = s.c2s.options.post_auth_limits.max_stanza_bytes + hestia_xml::FEED_SLACK;
    ws.max_message_size(max)
        .on_upgrade(move |socket| async move {
            s.c2s.spawn_websocket(pipe(socket), peer, is_secure);
        })
}

/// axum's WebSocket as text messages in and out; a close (or a ping/pong) is not a message.
fn pipe(socket: WebSocket) -> WebSocketIo {
    let (tx, rx) = socket.split();
    let rx = rx
        .take_while(|m| std::future::ready(!matches!(m, Ok(Message::Close(_)))))
        .filter_map(|m| {
            std::future::ready(match m {
                Ok(Message::Text(text)) => Some(Ok(text.as_str().to_owned())),
                Ok(Message::Binary(_)) => Some(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "binary WebSocket message (RFC 7395 uses text)",
                ))),
                Ok(_) => None,
                Err(e) => Some(Err(io::Error::other(e))),
            })
        });
    let tx = tx
        .sink_map_err(io::Error::other)
        .with(|frame: String| std::future::ready(Ok::<_, io::Error>(Message::text(frame))));
    WebSocketIo::new(Box::pin(rx), Box::pin(tx))
}
