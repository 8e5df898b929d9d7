//! The CUI's HTTP binding (ISO/IEC 10192-4-3 §6.2 HES-CLIP over HTTP/JSON, `docs/cui.md`):
//! an axum router for `/cui/v1`. Handlers parse and authorise, build one
//! [`Operation`](crate::model::Operation) and render its outcome; every error body is
//! `{code, message, messageId}`, whatever failed — extraction, auth, or the cluster.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderValue, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::model::{
    CuiError, DeviceId, ErrorCode, Operation, Outcome, PropertyName, value_from_json,
};
use crate::oauth::Scope;
use crate::{HesGateway, Principal};

/// The largest request body accepted; every CUI request is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The `/cui/v1` routes, to be nested under that prefix by the server's HTTP port.
pub fn router<S: Clone + Send + Sync + 'static>(gateway: Arc<HesGateway>) -> Router<S> {
    Router::new()
        .route("/sign-in", post(sign_in))
        .route("/users/{user}/devices", get(list_devices))
        .route(
            "/users/{user}/devices/{device}/properties/{property}",
            get(get_property).put(set_property),
        )
        .fallback(|| async { CuiError::not_found("no such resource") })
        .method_not_allowed_fallback(|| async {
            CuiError::bad_request("method not allowed on this resource")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(gateway)
}

impl IntoResponse for CuiError {
    fn into_response(self) -> Response {
        let message_id = hestia_proto::stanza::new_id();
        if let Some(cause) = self.cause() {
            // The one place an internal cause is logged; the id ties it to what the client saw.
            tracing::error!(message_id = %message_id, cause, "CUI request failed");
        }
        let body = json!({ "code": self.code, "message": self.message, "messageId": message_id });
        let mut response = (self.code.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match self.code {
            ErrorCode::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // 405 names the methods the resource does allow (RFC 9110 §15.5.6).
            ErrorCode::ReadOnly => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            _ => {}
        }
        response
    }
}

/// A JSON body whose every rejection (syntax, type, size, content type) is `bad_request`.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = CuiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(CuiError::bad_request(rejection.body_text())),
        }
    }
}

/// Path parameters whose rejection is `bad_request`.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = CuiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Params(v))
            .map_err(|r: PathRejection| CuiError::bad_request(r.body_text()))
    }
}

/// Who a valid `Authorization: Bearer <token>` acts for: a console token or an OAuth access
/// token (see [`crate::oauth::access`]).
pub struct SignedIn(pub Principal);

impl FromRequestParts<Arc<HesGateway>> for SignedIn {
    type Rejection = CuiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Arc<HesGateway>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| CuiError::unauthorized("an Authorization: Bearer token is required"))?;
        gateway.principal(token.trim()).await.map(SignedIn)
    }
}

impl SignedIn {
    /// A user acts only as themself: `{u}` in the path must be the token's user, and an OAuth
    /// token must hold the operation's scope.
    fn acting_as(self, path_user: &str, needs: Scope) -> Result<String, CuiError> {
        if self.0.scopes.is_some_and(|s| !s.contains(needs)) {
            return Err(CuiError::forbidden(format!(
                "the access token lacks the scope {}",
                needs.as_str()
            )));
        }
        if self.0.user == path_user {
            Ok(self.0.user)
        } else {
            Err(CuiError::forbidden("a token acts only for its own user"))
        }
    }
}

/// `POST /sign-in`. No `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetValue {
    value: serde_json::Value,
}

async fn sign_in(
    State(gateway): State<Arc<HesGateway>>,
    Body(body): Body<SignIn>,
) -> Result<Response, CuiError> {
    let issued = gateway.sign_in(&body.username, &body.password).await?;
    let body = json!({
        "token": issued.token,
        "expiresIn": issued.expires_in.as_secs(),
        "userId": issued.user,
    });
    Ok(Json(body).into_response())
}

async fn list_devices(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params(path_user): Params<String>,
) -> Result<Response, CuiError> {
    let user = who.acting_as(&path_user, Scope::DevicesRead)?;
    run(&gateway, Operation::ListDevices { user }).await
}

async fn get_property(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params(path): Params<(String, String, String)>,
) -> Result<Response, CuiError> {
    let (user, device, property) = property_path(who, &path, Scope::DevicesRead)?;
    let op = Operation::GetProperty {
        user,
        device,
        property,
    };
    run(&gateway, op).await
}

async fn set_property(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params(path): Params<(String, String, String)>,
    Body(body): Body<SetValue>,
) -> Result<Response, CuiError> {
    let (user, device, property) = property_path(who, &path, Scope::DevicesWrite)?;
    let op = Operation::SetProperty {
        user,
        device,
        property,
        value: value_from_json(&body.value)?,
    };
    run(&gateway, op).await
}

/// `users/{u}/devices/{d}/properties/{p}`, checked: the token's own user, a valid device id
/// and property name.
fn property_path(
    who: SignedIn,
    (user, device, property): &(String, String, String),
    needs: Scope,
) -> Result<(String, DeviceId, PropertyName), CuiError> {
    let user = who.acting_as(user, needs)?;
    Ok((
        user,
        DeviceId::parse(device)?,
        PropertyName::parse(property)?,
    ))
}

async fn run(gateway: &HesGateway, op: Operation) -> Result<Response, CuiError> {
    Ok(match gateway.execute(op).await? {
        Outcome::Devices(devices) => Json(json!({ "devices": devices })).into_response(),
        Outcome::Property(p) => Json(p).into_response(),
    })
}
