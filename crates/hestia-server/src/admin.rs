//! The authenticated admin API (`/admin/v1`, `Authorization: Bearer <token>`): the account-server
//! operations of ISO/IEC 14543-5-9 §8.2 (register users and devices, modify information, delete,
//! reset verification codes), account disable/enable, invitations, sessions, and server push
//! (14543-5-8 §11.5), and the gateway's OAuth clients and signing keys (10192-4-3 §8). It calls
//! the same domain functions as in-band registration.

use std::path::Path;

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use hestia_features::registration::{NewRegistration, Origin, accounts};
use hestia_gateway::oauth::{ClientError, NewClient};
use hestia_proto::Jid;
use hestia_proto::igrs::RegistrationStatus;
use hestia_proto::igrs::{ForcedLogout, NS_PUSH};
use hestia_router::push::{self, Retention};
use hestia_store::{AccountKind, DeviceInfo, UserInfo};
use hestia_xml::Element;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::http::HttpState;

/// An API error: HTTP status, stable code, message, and the IGRS status when one applies.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub igrs_status: Option<u8>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            igrs_status: None,
        }
    }

    fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
}

impl From<RegistrationStatus> for ApiError {
    fn from(s: RegistrationStatus) -> ApiError {
        use RegistrationStatus as R;
        let (status, code) = match s {
            R::Success => (StatusCode::OK, "ok"),
            R::IdExists => (StatusCode::CONFLICT, "conflict"),
            R::MalformedField => (StatusCode::BAD_REQUEST, "bad_request"),
            R::IdViolatesAddressRules => (StatusCode::BAD_REQUEST, "jid_malformed"),
            R::PolicyFailed => (StatusCode::UNPROCESSABLE_ENTITY, "not_acceptable"),
            R::NotAllowed => (StatusCode::FORBIDDEN, "forbidden"),
            R::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            R::InternalError => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            status,
            code,
            message: s.meaning().to_owned(),
            igrs_status: Some(s.code()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            json!({ "code": self.code, "message": self.message, "status": self.igrs_status });
        (self.status, Json(body)).into_response()
    }
}

type ApiResult = Result<(StatusCode, Json<Value>), ApiError>;

/// Reads or creates the admin token (<data_dir>/admin-token, mode 0600).
pub fn ensure_token(configured: &str, data_dir: &Path) -> anyhow::Result<String> {
    if !configured.is_empty() {
        return Ok(configured.to_owned());
    }
    let path = data_dir.join("admin-token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_owned());
    }
    let token = hestia_proto::stanza::new_id() + &hestia_proto::stanza::new_id();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    std::io::Write::write_all(&mut opts.open(&path)?, token.as_bytes())?;
    Ok(token)
}

pub fn router(state: HttpState) -> Router<HttpState> {
    Router::new()
        .route("/accounts", get(list_accounts))
        .route(
            "/accounts/{id}",
            get(get_account)
                .patch(modify_account)
                .delete(delete_account),
        )
        .route("/accounts/{id}/relationships", get(relationships))
        .route("/accounts/{id}/disable", post(disable))
        .route("/accounts/{id}/enable", post(enable))
        .route("/users", post(add_user))
        .route("/devices", post(add_device))
        .route("/devices/{id}/verification-code", post(reset_code))
        .route("/devices/{id}/certificate", post(issue_certificate))
        .route("/invitations", post(create_invitation))
        .route("/sessions", get(list_sessions))
        .route("/sessions/{jid}", delete(end_session))
        .route("/push", post(server_push))
        .route("/oauth/clients", get(oauth_clients).post(add_oauth_client))
        .route("/oauth/clients/{id}", delete(delete_oauth_client))
        .route("/oauth/keys/rotate", post(rotate_oauth_keys))
        .route(
            "/federation/peers",
            get(federation_peers).post(add_federation_peer),
        )
        .layer(middleware::from_fn_with_state(state, require_token))
}

async fn require_token(State(s): State<HttpState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(s.admin_token.as_bytes())) && !given.is_empty() {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong admin token",
        )
        .into_response()
    }
}

#[derive(Deserialize)]
struct ListQuery {
    kind: Option<AccountKind>,
    limit: Option<u32>,
    offset: Option<u32>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "admin API failure");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
}

async fn list_accounts(State(s): State<HttpState>, Query(q): Query<ListQuery>) -> ApiResult {
    let rows = s
        .irsp
        .store
        .list_accounts(
            q.kind,
            q.limit.unwrap_or(100).min(1000),
            q.offset.unwrap_or(0),
        )
        .await
        .map_err(internal)?;
    Ok((StatusCode::OK, Json(json!({ "accounts": rows }))))
}

async fn get_account(State(s): State<HttpState>, UrlPath(id): UrlPath<String>) -> ApiResult {
    let local = localpart(&id)?;
    let a = existing_account(&s, &local).await?;
    let jid = format!("{}@{}", a.localpart, s.irsp.domain);
    let sessions: Vec<String> = s
        .irsp
        .directory
        .sessions_of(&Jid::parse(&jid).map_err(internal)?)
        .iter()
        .map(|h| h.info.jid.to_string())
        .collect();
    Ok((
        StatusCode::OK,
        Json(json!({
            "id": a.localpart, "jid": jid, "kind": a.kind, "disabled": a.is_disabled, "created_at": a.created_at,
            "user": a.user, "device": a.device, "has_verification_code": a.verification_code.is_some(), "sessions": sessions,
        })),
    ))
}

/// An account's relationships (its roster with kinds and rights) and, for a device, its
/// policy and every grant on it (14543-5-8 §9, §10).
async fn relationships(State(s): State<HttpState>, UrlPath(id): UrlPath<String>) -> ApiResult {
    let local = localpart(&id)?;
    existing_account(&s, &local).await?;
    let snapshot = s
        .irsp
        .relations
        .snapshot(&s.irsp.store, &local)
        .await
        .map_err(internal)?;
    let jid = |l: &str| format!("{l}@{}", s.irsp.domain);
    let mut items: Vec<_> = snapshot.items.values().collect();
    items.sort_by(|a, b| a.contact.cmp(&b.contact));
    let items: Vec<Value> = items
        .into_iter()
        .map(|i| {
            json!({
                "jid": jid(&i.contact), "subscription": i.subscription, "ask": i.ask,
                "pending_request": i.pending_in.is_some(), "preapproved": i.preapproved,
                "relation": i.relation, "right": snapshot.right(&i.contact),
                "name": i.name, "groups": i.groups,
            })
        })
        .collect();
    let mut body = json!({ "id": local, "roster_version": snapshot.version, "items": items });
    if snapshot.is_device() {
        let mut grants: Vec<_> = snapshot.rights.iter().collect();
        grants.sort();
        body["policy"] = json!(snapshot.policy);
        body["grants"] = grants
            .into_iter()
            .map(|(u, r)| json!({ "user": jid(u), "right": r }))
            .collect();
    }
    Ok((StatusCode::OK, Json(body)))
}

/// The account, or 404.
async fn existing_account(s: &HttpState, local: &str) -> Result<hestia_store::Account, ApiError> {
    s.irsp
        .store
        .account(local)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found("account"))
}

fn localpart(id: &str) -> Result<String, ApiError> {
    hestia_proto::jid::normalize_localpart(id)
        .map_err(|_| RegistrationStatus::IdViolatesAddressRules.into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUser {
    username: String,
    password: String,
    name: Option<String>,
    email: Option<String>,
}

async fn add_user(State(s): State<HttpState>, Json(b): Json<AddUser>) -> ApiResult {
    let reg = NewRegistration {
        username: b.username,
        password: b.password,
        kind: AccountKind::User,
        user: UserInfo {
            name: b.name,
            email: b.email,
        },
        device: None,
        verification_code: None,
        invitation: None,
    };
    let jid = s.registrar.register(&s.irsp, reg, Origin::Admin).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "jid": jid.to_string(), "status": 0 })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddDevice {
    id: String,
    password: String,
    #[serde(rename = "type")]
    device_type: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    manufacturer: String,
    #[serde(default)]
    serial: String,
    verification_code: String,
    /// Also issue an X.509 client certificate for SASL EXTERNAL (XEP-0178) and return it.
    #[serde(default)]
    issue_certificate: bool,
}

async fn add_device(State(s): State<HttpState>, Json(b): Json<AddDevice>) -> ApiResult {
    if b.device_type.trim().is_empty() {
        return Err(RegistrationStatus::MalformedField.into());
    }
    let reg = NewRegistration {
        username: b.id,
        password: b.password,
        kind: AccountKind::Device,
        user: UserInfo::default(),
        device: Some(DeviceInfo {
            device_type: b.device_type,
            model: b.model,
            manufacturer: b.manufacturer,
            serial: b.serial,
        }),
        verification_code: Some(b.verification_code),
        invitation: None,
    };
    let issue = b.issue_certificate;
    let jid = s.registrar.register(&s.irsp, reg, Origin::Admin).await?;
    let mut body = json!({ "jid": jid.to_string(), "status": 0 });
    if issue {
        let (cert, key) = s
            .pki
            .issue_device_certificate(&jid.to_string())
            .map_err(internal)?;
        body["certificate_pem"] = json!(cert);
        body["key_pem"] = json!(key);
    }
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Modify {
    password: Option<String>,
    name: Option<String>,
    email: Option<String>,
    device: Option<DeviceInfo>,
}

async fn modify_account(
    State(s): State<HttpState>,
    UrlPath(id): UrlPath<String>,
    Json(b): Json<Modify>,
) -> ApiResult {
    let local = localpart(&id)?;
    let account = existing_account(&s, &local).await?;
    if let Some(pw) = &b.password {
        s.registrar.change_password(&s.irsp, &local, pw).await?;
    }
    if b.name.is_some() || b.email.is_some() {
        let info = UserInfo {
            name: b.name.or(account.user.name),
            email: b.email.or(account.user.email),
        };
        s.registrar.update_user_info(&s.irsp, &local, &info).await?;
    }
    if let Some(d) = &b.device {
        s.registrar.update_device_info(&s.irsp, &local, d).await?;
    }
    Ok((StatusCode::OK, Json(json!({ "status": 0 }))))
}

async fn delete_account(State(s): State<HttpState>, UrlPath(id): UrlPath<String>) -> ApiResult {
    let local = localpart(&id)?;
    if !accounts::delete_account(&s.irsp, &local).await? {
        return Err(ApiError::not_found("account"));
    }
    Ok((StatusCode::OK, Json(json!({ "status": 0 }))))
}

async fn set_disabled(s: &HttpState, id: &str, is_disabled: bool) -> ApiResult {
    let local = localpart(id)?;
    if s.irsp
        .store
        .credentials(&local)
        .await
        .map_err(internal)?
        .is_none()
    {
        return Err(ApiError::not_found("account"));
    }
    accounts::set_disabled(&s.irsp, &local, is_disabled).await?;
    Ok((
        StatusCode::OK,
        Json(json!({ "status": 0, "disabled": is_disabled })),
    ))
}

async fn disable(State(s): State<HttpState>, UrlPath(id): UrlPath<String>) -> ApiResult {
    set_disabled(&s, &id, true).await
}

async fn enable(State(s): State<HttpState>, UrlPath(id): UrlPath<String>) -> ApiResult {
    set_disabled(&s, &id, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetCode {
    code: String,
}

async fn reset_code(
    State(s): State<HttpState>,
    UrlPath(id): UrlPath<String>,
    Json(b): Json<ResetCode>,
) -> ApiResult {
    let local = localpart(&id)?;
    s.registrar
        .reset_verification_code(&s.irsp, &local, &b.code)
        .await?;
    Ok((StatusCode::OK, Json(json!({ "status": 0 }))))
}

async fn issue_certificate(State(s): State<HttpState>, UrlPath(id): UrlPath<String>) -> ApiResult {
    let local = localpart(&id)?;
    let account = existing_account(&s, &local).await?;
    if account.kind != AccountKind::Device {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "certificates are issued to devices",
        ));
    }
    let jid = format!("{local}@{}", s.irsp.domain);
    let (cert, key) = s.pki.issue_device_certificate(&jid).map_err(internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "jid": jid, "certificate_pem": cert, "key_pem": key })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvitation {
    /// Seconds until the invitation expires.
    ttl_seconds: Option<i64>,
}

async fn create_invitation(State(s): State<HttpState>, Json(b): Json<NewInvitation>) -> ApiResult {
    let token = hestia_proto::stanza::new_id();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let expires_at = now + b.ttl_seconds.unwrap_or(7 * 86_400);
    s.irsp
        .store
        .create_invitation(&token, expires_at)
        .await
        .map_err(internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": token, "expires_at": expires_at })),
    ))
}

async fn list_sessions(State(s): State<HttpState>) -> ApiResult {
    let sessions: Vec<Value> = s
        .irsp
        .directory
        .all()
        .iter()
        .map(|h| {
            let i = &h.info;
            let since = i.bound_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            json!({ "jid": i.jid.to_string(), "kind": i.kind, "address": i.remote_addr.to_string(), "tls": i.is_tls, "mechanism": i.mechanism, "bound_at": since, "available": h.is_available() })
        })
        .collect();
    Ok((StatusCode::OK, Json(json!({ "sessions": sessions }))))
}

async fn end_session(State(s): State<HttpState>, UrlPath(jid): UrlPath<String>) -> ApiResult {
    let jid =
        Jid::parse(&jid).map_err(|_| ApiError::from(RegistrationStatus::IdViolatesAddressRules))?;
    let n = if jid.is_full() {
        let h = s
            .irsp
            .directory
            .get(&jid)
            .ok_or_else(|| ApiError::not_found("session"))?;
        hestia_router::push::force_logout(&s.irsp, &h, ForcedLogout::EndedByOperator);
        1
    } else {
        accounts::end_sessions(&s.irsp, &jid, ForcedLogout::EndedByOperator)
    };
    Ok((StatusCode::OK, Json(json!({ "ended": n }))))
}

/// Longest notice text a push may carry.
const MAX_NOTICE_BYTES: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPush {
    /// One account, user or device.
    to: Option<String>,
    /// Every device on which this user holds a right.
    devices_of: Option<String>,
    /// Every device of this IGRS type.
    device_type: Option<String>,
    text: String,
    subject: Option<String>,
    /// A `headline` for available connections only, instead of a stored `normal` push.
    #[serde(default)]
    transient: bool,
}

/// POST /push: a `<notice/>` server push to one entity, to all devices of a user, or to all
/// devices of a type; stored for recipients that are offline unless `transient`.
async fn server_push(State(s): State<HttpState>, Json(b): Json<NewPush>) -> ApiResult {
    if b.text.len() > MAX_NOTICE_BYTES {
        return Err(bad_request(format!(
            "text is longer than {MAX_NOTICE_BYTES} bytes"
        )));
    }
    let recipients = push_recipients(&s, &b).await?;
    let mut notice = Element::new("notice", NS_PUSH)
        .with_attr("by", "admin")
        .with_text(b.text.clone());
    if let Some(subject) = &b.subject {
        notice.set_attr("subject", subject.clone());
    }
    let retention = if b.transient {
        Retention::Transient
    } else {
        Retention::Stored
    };
    let report = push::push_to_all(&s.irsp, &recipients, &notice, retention).await;
    let body = json!({
        "recipients": report.recipients,
        "delivered": report.delivered,
        "stored": report.stored,
        "dropped": report.dropped,
    });
    Ok((StatusCode::OK, Json(body)))
}

/// The localparts a push goes to; exactly one way of naming them must be given.
async fn push_recipients(s: &HttpState, b: &NewPush) -> Result<Vec<String>, ApiError> {
    match (&b.to, &b.devices_of, &b.device_type) {
        (Some(to), None, None) => {
            let local = localpart(to)?;
            existing_account(s, &local).await?;
            Ok(vec![local])
        }
        (None, Some(user), None) => {
            let local = localpart(user)?;
            if existing_account(s, &local).await?.kind != AccountKind::User {
                return Err(bad_request(format!("{local} is not a user")));
            }
            push::devices_of(&s.irsp, &local).await.map_err(internal)
        }
        (None, None, Some(device_type)) => s
            .irsp
            .store
            .devices_of_type(device_type)
            .await
            .map_err(internal),
        _ => Err(bad_request(
            "name exactly one of to, devices_of, device_type",
        )),
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> ApiError {
        match e {
            ClientError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m),
            ClientError::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            ClientError::NotFound => ApiError::not_found("OAuth client"),
            ClientError::Internal(cause) => internal(cause),
        }
    }
}

fn client_json(c: &hestia_store::OAuthClient) -> Value {
    json!({
        "client_id": c.client_id, "name": c.name, "redirect_uris": c.redirect_uris,
        "scopes": c.scopes, "audiences": c.audiences, "created_at": c.created_at,
    })
}

/// Registers a peer gateway as an OAuth client; the answer holds its secret, shown only here.
async fn add_oauth_client(State(s): State<HttpState>, Json(new): Json<NewClient>) -> ApiResult {
    let registered = s.gateway.oauth().register_client(new).await?;
    let mut body = client_json(&registered.client);
    body["client_secret"] = Value::String(registered.secret);
    Ok((StatusCode::CREATED, Json(body)))
}

async fn oauth_clients(State(s): State<HttpState>) -> ApiResult {
    let clients = s.gateway.oauth().clients().await?;
    let list: Vec<Value> = clients.iter().map(client_json).collect();
    Ok((StatusCode::OK, Json(json!({ "clients": list }))))
}

/// Removes a client: every federation with it is unlinked and its tokens refused at once.
async fn delete_oauth_client(
    State(s): State<HttpState>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult {
    s.gateway.oauth().delete_client(&id).await?;
    Ok((StatusCode::OK, Json(json!({ "deleted": id }))))
}

/// A peer gateway to add while the server runs (as `[federation.peers.<name>]` does at start).
/// No `Debug`: it holds the client secret.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPeer {
    name: String,
    issuer: String,
    client_id: String,
    client_secret: hestia_config::Secret,
    peer_client_id: String,
}

/// Adds a peer gateway until the server stops (keep it in `[federation.peers]` to have it after a
/// restart); the links its users made before come back with it.
async fn add_federation_peer(State(s): State<HttpState>, Json(new): Json<NewPeer>) -> ApiResult {
    let peer = hestia_gateway::federation::PeerConfig {
        issuer: new.issuer,
        client_id: new.client_id,
        client_secret: new.client_secret,
        peer_client_id: new.peer_client_id,
    };
    let config = hestia_gateway::federation::FederationConfig {
        peers: [(new.name.clone(), peer)].into_iter().collect(),
    };
    if let Some(problem) = config.problems().into_iter().next() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            problem,
        ));
    }
    for peer in config.peers() {
        s.gateway
            .add_peer(peer)
            .await
            .map_err(|e| ApiError::new(e.code.status(), e.code.as_str(), e.message))?;
    }
    Ok((StatusCode::CREATED, Json(json!({ "name": new.name }))))
}

async fn federation_peers(State(s): State<HttpState>) -> ApiResult {
    let peers: Vec<Value> = s
        .gateway
        .federation()
        .peers()
        .iter()
        .map(|p| json!({ "name": p.name, "issuer": p.issuer, "client_id": p.client_id, "peer_client_id": p.peer_client_id }))
        .collect();
    Ok((StatusCode::OK, Json(json!({ "peers": peers }))))
}

/// Makes a new signing key current; the previous one stays published until its tokens expire.
async fn rotate_oauth_keys(State(s): State<HttpState>) -> ApiResult {
    let kid = s.gateway.oauth().rotate_keys().await?;
    Ok((StatusCode::OK, Json(json!({ "kid": kid }))))
}
