//! The CUI's HTTP binding (ISO/IEC 10192-4-3 §6.2 HES-CLIP over HTTP/JSON, `docs/cui.md`):
//! an axum router for `/cui/v1`. Handlers parse and authorise, build one
//! [`Operation`](crate::model::Operation) and render its outcome; every error body is
//! `{code, message, messageId}`, whatever failed — extraction, auth, or the cluster.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::events::{self, Filter, SubscribeRequest};
use crate::limits::Face;
use crate::model::{
    CuiError, DeviceId, ErrorCode, Operation, Outcome, PropertyName, SetOptions, value_from_json,
};
use crate::oauth::Scope;
use crate::operations;
use crate::webhook::Callback;
use crate::{HesGateway, Principal};

/// The `/cui/v1` routes, to be nested under that prefix by the server's HTTP port.
/// Its limits (`[cui]`, [`crate::limits`]) apply to every route.
pub fn router<S: Clone + Send + Sync + 'static>(gateway: Arc<HesGateway>) -> Router<S> {
    let max_body = gateway.limits().config.max_body_bytes;
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/sign-in", post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/users/{user}/devices", get(list_devices))
        .route(
            "/users/{user}/devices/{device}/properties/{property}",
            get(get_property).put(set_property),
        )
        .route(
            "/users/{user}/devices/{device}/properties/{property}/history",
            get(property_history),
        )
        .route(
            "/users/{user}/subscriptions",
            get(list_subscriptions).post(subscribe),
        )
        .route(
            "/users/{user}/subscriptions/{subscription}",
            get(get_subscription)
                .put(renew_subscription)
                .delete(cancel_subscription),
        )
        .route("/users/{user}/operations/{operation}", get(get_operation))
        .route("/users/{user}/events", get(crate::stream::sse))
        .route("/users/{user}/events/ws", get(crate::stream::websocket))
        .merge(crate::sharing::routes())
        .merge(crate::federation::http::routes())
        .fallback(|| async { CuiError::not_found("no such resource") })
        .method_not_allowed_fallback(|| async {
            CuiError::bad_request("method not allowed on this resource")
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            (gateway.clone(), Face::Cui),
            crate::limits::guard,
        ))
        .with_state(gateway)
}

impl IntoResponse for CuiError {
    fn into_response(self) -> Response {
        let mut response = (self.code.status(), Json(self.to_json())).into_response();
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

/// A JSON body whose every rejection (syntax, type, content type) is `bad_request`, except a
/// body over `cui.max_body_bytes`: `payload_too_large`.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = CuiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
                CuiError::new(ErrorCode::PayloadTooLarge, "the request body is too large"),
            ),
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
        let token = bearer(&parts.headers)
            .ok_or_else(|| CuiError::unauthorized("an Authorization: Bearer token is required"))?;
        gateway.principal(token.trim()).await.map(SignedIn)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

impl SignedIn {
    /// A user acts only as themself: `{u}` in the path must be the token's user, and an OAuth
    /// token must hold the operation's scope.
    pub fn acting_as(self, path_user: &str, needs: Scope) -> Result<String, CuiError> {
        self.0.check_scope(needs)?;
        if self.0.user == path_user {
            Ok(self.0.user)
        } else {
            Err(CuiError::forbidden("a token acts only for its own user"))
        }
    }

    /// As [`Self::acting_as`], for what only the person may do with their own sign-in (sharing,
    /// verification codes): no OAuth scope reaches it.
    pub fn acting_in_person(self, path_user: &str) -> Result<String, CuiError> {
        if self.0.scopes.is_some() {
            return Err(CuiError::forbidden(
                "sharing, verification codes and federation need the user's own sign-in, not an OAuth token",
            ));
        }
        self.acting_as(path_user, Scope::DevicesWrite)
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
#[serde(rename_all = "camelCase")]
struct SetValue {
    value: serde_json::Value,
    /// Seconds a command for an offline device may wait for it; absent: fail at once.
    queue_for: Option<u64>,
    /// The person confirmed this update of a property that needs confirmation.
    #[serde(default)]
    confirmed: bool,
}

/// `POST /sign-out`: the bearer token stops working; `204`.
async fn sign_out(
    State(gateway): State<Arc<HesGateway>>,
    headers: HeaderMap,
) -> Result<Response, CuiError> {
    let token = bearer(&headers)
        .ok_or_else(|| CuiError::unauthorized("an Authorization: Bearer token is required"))?;
    gateway.sign_out(token)?;
    Ok(StatusCode::NO_CONTENT.into_response())
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
    headers: HeaderMap,
    Body(body): Body<SetValue>,
) -> Result<Response, CuiError> {
    let (user, device, property) = property_path(who, &path, Scope::DevicesWrite)?;
    let (wait, is_async) = preferred_wait(&headers);
    let queue_for = body
        .queue_for
        .map(|s| seconds_within("queueFor", s, operations::MAX_QUEUE_FOR))
        .transpose()?;
    let op = Operation::SetProperty {
        user: user.clone(),
        device,
        property,
        value: value_from_json(&body.value)?,
        options: SetOptions {
            wait,
            queue_for,
            confirmed: body.confirmed,
        },
    };
    match gateway.execute(op).await? {
        Outcome::Accepted(view) => {
            let location = format!("/cui/v1/users/{user}/operations/{}", view.operation_id);
            let mut response = (
                StatusCode::ACCEPTED,
                [(header::LOCATION, location)],
                Json(view),
            )
                .into_response();
            if is_async {
                response.headers_mut().insert(
                    "preference-applied",
                    HeaderValue::from_static("respond-async"),
                );
            }
            Ok(response)
        }
        outcome => Ok(render(outcome)),
    }
}

/// How long the caller waits for the device (RFC 7240 `Prefer`): `respond-async` answers 202
/// at once, `wait=N` waits up to N seconds (at most 8); otherwise 5 s.
fn preferred_wait(headers: &HeaderMap) -> (Duration, bool) {
    let mut wait = operations::DEFAULT_WAIT;
    let mut is_async = false;
    for value in headers.get_all("prefer") {
        let Ok(value) = value.to_str() else { continue };
        for preference in value.split(',').map(str::trim) {
            if preference.eq_ignore_ascii_case("respond-async") {
                is_async = true;
            } else if let Some(n) = preference.strip_prefix("wait=")
                && let Ok(n) = n.trim().parse::<u64>()
            {
                wait = Duration::from_secs(n).min(operations::MAX_WAIT);
            }
        }
    }
    (if is_async { Duration::ZERO } else { wait }, is_async)
}

/// `GET /users/{u}/operations/{o}`: a deferred or queued update.
async fn get_operation(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params((path_user, operation)): Params<(String, String)>,
) -> Result<Response, CuiError> {
    let user = who.acting_as(&path_user, Scope::DevicesWrite)?;
    run(&gateway, Operation::GetOperation { user, operation }).await
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

/// The API's own description (OpenAPI 3.1), kept beside the code that serves it.
pub const OPENAPI: &str = include_str!("../api/openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn property_history(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params(path): Params<(String, String, String)>,
) -> Result<Response, CuiError> {
    let (user, device, property) = property_path(who, &path, Scope::DevicesRead)?;
    let op = Operation::History {
        user,
        device,
        property,
    };
    run(&gateway, op).await
}

/// `POST /users/{u}/subscriptions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SubscribeBody {
    device_id: String,
    event: String,
    filter: Option<serde_json::Value>,
    expires_in: Option<u64>,
    callback: Option<CallbackBody>,
}

/// Where a peer wants notifications POSTed. No `Debug`: it holds a secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackBody {
    url: String,
    secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RenewBody {
    expires_in: Option<u64>,
}

/// A subscription's lifetime from a request: 1 s to a day, an hour when absent.
pub(crate) fn expires_in(seconds: Option<u64>) -> Result<Duration, CuiError> {
    seconds.map_or(Ok(events::DEFAULT_EXPIRES), |s| {
        seconds_within("expiresIn", s, events::MAX_EXPIRES)
    })
}

/// A request's `field` of `seconds`, from 1 s to `max`.
pub(crate) fn seconds_within(
    field: &str,
    seconds: u64,
    max: Duration,
) -> Result<Duration, CuiError> {
    let wanted = Duration::from_secs(seconds);
    if seconds == 0 || wanted > max {
        return Err(CuiError::bad_request(format!(
            "{field} is 1 to {} seconds",
            max.as_secs()
        )));
    }
    Ok(wanted)
}

async fn subscribe(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params(path_user): Params<String>,
    Body(body): Body<SubscribeBody>,
) -> Result<Response, CuiError> {
    let grant = who.0.grant.clone();
    let user = who.acting_as(&path_user, Scope::Events)?;
    events::check_event_name(&body.event)?;
    let request = SubscribeRequest {
        device: DeviceId::parse(&body.device_id)?,
        event: body.event,
        filter: Filter::parse(body.filter.as_ref())?,
        expires_in: expires_in(body.expires_in)?,
        callback: body
            .callback
            .map(|c| Callback::parse(&c.url, &c.secret, gateway.limits().webhook_reach()))
            .transpose()?
            .map(|c| gateway.authenticate_callback(c, grant.as_deref())),
        grant,
    };
    let made = gateway
        .execute(Operation::Subscribe { user, request })
        .await?;
    let Outcome::Subscription(view) = made else {
        return Err(CuiError::internal(
            "subscribe did not answer a subscription",
        ));
    };
    let location = format!(
        "/cui/v1/users/{path_user}/subscriptions/{}",
        view.subscription_id
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

async fn list_subscriptions(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params(path_user): Params<String>,
) -> Result<Response, CuiError> {
    let user = who.acting_as(&path_user, Scope::Events)?;
    run(&gateway, Operation::ListSubscriptions { user }).await
}

async fn get_subscription(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params((path_user, id)): Params<(String, String)>,
) -> Result<Response, CuiError> {
    let user = who.acting_as(&path_user, Scope::Events)?;
    Ok(Json(gateway.events().get(&user, &id)?.view()).into_response())
}

async fn renew_subscription(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params((path_user, subscription)): Params<(String, String)>,
    Body(body): Body<RenewBody>,
) -> Result<Response, CuiError> {
    let user = who.acting_as(&path_user, Scope::Events)?;
    let op = Operation::Renew {
        user,
        subscription,
        expires_in: expires_in(body.expires_in)?,
    };
    run(&gateway, op).await
}

async fn cancel_subscription(
    State(gateway): State<Arc<HesGateway>>,
    who: SignedIn,
    Params((path_user, subscription)): Params<(String, String)>,
) -> Result<Response, CuiError> {
    let user = who.acting_as(&path_user, Scope::Events)?;
    run(&gateway, Operation::Cancel { user, subscription }).await
}

async fn run(gateway: &HesGateway, op: Operation) -> Result<Response, CuiError> {
    Ok(render(gateway.execute(op).await?))
}

fn render(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Sharing(s) => s.into_response(),
        Outcome::Cancelled => StatusCode::NO_CONTENT.into_response(),
        outcome => {
            let status = match outcome {
                Outcome::Accepted(_) => StatusCode::ACCEPTED,
                _ => StatusCode::OK,
            };
            match outcome.to_json() {
                Some(body) => (status, Json(body)).into_response(),
                None => CuiError::internal("an outcome without a body").into_response(),
            }
        }
    }
}
