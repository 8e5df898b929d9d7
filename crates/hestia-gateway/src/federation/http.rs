//! The federation routes under `/cui/v1`: a user's links (start, list, unlink), the consent
//! screen's return, and the C2C side a peer gateway calls (its half of a link, its webhooks).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::json;

use super::BINDING_COOKIE;
use super::link::InboundLink;
use crate::HesGateway;
use crate::http::{Body, Params, SignedIn, bearer};
use crate::model::CuiError;
use crate::oauth::pages;

pub fn routes() -> Router<Arc<HesGateway>> {
    Router::new()
        .route("/peers", get(list_peers))
        .route("/users/{user}/federations", get(list).post(start))
        .route("/users/{user}/federations/{link}", delete(unlink))
        .route("/federation/callback", get(callback))
        .route("/federation/links", post(peer_link))
        .route("/federation/links/{link}", delete(peer_unlink))
        .route("/federation/links/{link}/notifications", post(notified))
}

/// `GET /peers`: the peer gateways a user may link to.
async fn list_peers(
    State(gateway): State<Arc<HesGateway>>,
    _who: SignedIn,
) -> Result<Response, CuiError> {
    let peers: Vec<_> = gateway
        .federation()
        .peers()
        .iter()
        .map(|p| json!({ "name": p.name, "issuer": p.issuer }))
        .collect();
    Ok(Json(json!({ "peers": peers })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    peer: String,
    /// How the person consents at the peer.
    #[serde(default)]
    flow: Flow,
}

#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Flow {
    /// Authorization code with PKCE: this browser goes to the peer and comes back.
    #[default]
    Code,
    /// Device authorization grant (RFC 8628): a user code entered at the peer, anywhere.
    Device,
}

/// `POST /users/{u}/federations`: where to consent at the peer. A person's own sign-in only:
/// an OAuth client may not link further identities for them.
async fn start(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params(path_user): Params<String>,
    Body(body): Body<Start>,
) -> Result<Response, CuiError> {
    let user = who.acting_in_person(&path_user)?;
    if body.flow == Flow::Device {
        let waiting = gateway.start_device_link(&user, &body.peer).await?;
        return Ok((StatusCode::CREATED, Json(waiting)).into_response());
    }
    let redirect_uri = gateway.federation_redirect_uri();
    let begun = gateway
        .federation()
        .begin(&user, &body.peer, &redirect_uri)?;
    // Lax: the cookie comes back on the peer's top-level redirect, never on a cross-site POST.
    let secure = if redirect_uri.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{BINDING_COOKIE}={}; Path=/cui/v1/federation/callback; Max-Age=600; HttpOnly; SameSite=Lax{secure}",
        begun.binding
    );
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        Json(begun),
    )
        .into_response())
}

/// `GET /users/{u}/federations`.
async fn list(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params(path_user): Params<String>,
) -> Result<Response, CuiError> {
    let user = who.acting_in_person(&path_user)?;
    let waiting = gateway.federation().device_links_of(&user);
    Ok(
        Json(json!({ "federations": gateway.links_of(&user), "deviceLinks": waiting }))
            .into_response(),
    )
}

/// `DELETE /users/{u}/federations/{link}`.
async fn unlink(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params((path_user, link)): Params<(String, String)>,
) -> Result<Response, CuiError> {
    let user = who.acting_in_person(&path_user)?;
    gateway.unlink(&user, &link).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Returned {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /federation/callback`: the browser back from the peer's consent screen. The `state`
/// is the credential here (one use, ten minutes), so no bearer is asked.
async fn callback(
    State(gateway): State<Arc<HesGateway>>,
    headers: HeaderMap,
    Query(returned): Query<Returned>,
) -> Response {
    let page = |status: StatusCode, message: &str| {
        (status, Html(pages::error(status, message).html)).into_response()
    };
    if let Some(error) = returned.error {
        let why = returned.error_description.unwrap_or(error);
        return page(
            StatusCode::BAD_REQUEST,
            &format!("The link was not made: {why}."),
        );
    }
    let (Some(state), Some(code)) = (returned.state, returned.code) else {
        return page(StatusCode::BAD_REQUEST, "The peer sent no code and state.");
    };
    let binding = binding_cookie(&headers);
    match gateway.complete_link(&state, binding, &code).await {
        // Back to the console's federations, which now list the link.
        Ok(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/#federations")]).into_response(),
        Err(e) => page(
            e.code.status(),
            &format!("The link was not made: {}", e.message),
        ),
    }
}

/// `POST /federation/links`: a peer gateway gives its half of a link made by the same
/// person there, with the token that person's consent gave it.
async fn peer_link(
    State(gateway): State<Arc<HesGateway>>,
    SignedIn(who): SignedIn,
    Body(body): Body<InboundLink>,
) -> Result<Response, CuiError> {
    let made = gateway.accept_inbound_link(&who, body).await?;
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

/// `DELETE /federation/links/{link}`: the peer ended the link.
async fn peer_unlink(
    State(gateway): State<Arc<HesGateway>>,
    SignedIn(who): SignedIn,
    Params(link): Params<String>,
) -> Result<Response, CuiError> {
    gateway.peer_unlinked(&who, &link).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /federation/links/{link}/notifications`: a webhook of the peer.
async fn notified(
    State(gateway): State<Arc<HesGateway>>,
    Params(link): Params<String>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, CuiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    gateway
        .peer_notified(
            &link,
            bearer(&headers),
            header("hestia-timestamp"),
            header("hestia-signature"),
            &body,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The value of the link-binding cookie the browser sent, if any.
fn binding_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == BINDING_COOKIE).then_some(value)
        })
}
