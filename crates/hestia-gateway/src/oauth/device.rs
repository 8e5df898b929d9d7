//! The device authorization grant (RFC 8628), for linking where the requesting side has no
//! browser: the client gets a device code and a short user code (§3.2), the user opens
//! `/oauth/device` on any browser, signs in, enters the code and consents (§3.3), and the client
//! polls the token endpoint (§3.4–3.5): `authorization_pending`, `slow_down` when it polls faster
//! than the interval (which then grows by 5 s), `access_denied`, `expired_token`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hestia_store::OAuthClient;
use rand::Rng as _;
use serde_json::{Value, json};

use super::clients::Authenticated;
use super::error::{Form, OAuthError, Params, json_answer};
use super::pages::{self, Consent};
use super::scope::Scopes;
use super::{AuthServer, digest, random_token};
use crate::HesGateway;

/// User-code letters: consonants only (RFC 8628 §6.1), no vowels to spell words, none alike.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;
/// Seconds the interval grows by on each `slow_down` (§3.5).
const SLOW_DOWN_STEP: i64 = 5;

#[derive(Debug, Clone, PartialEq)]
enum Decision {
    Pending,
    Approved {
        user: String,
    },
    Denied,
    /// Tokens were issued; the code is done.
    Spent,
}

#[derive(Debug)]
struct DeviceEntry {
    client_id: String,
    client_name: String,
    scope: Scopes,
    expires_at: i64,
    interval: i64,
    last_poll: Option<i64>,
    decision: Decision,
}

#[derive(Debug, Default)]
struct Table {
    /// By the device code's SHA-256.
    entries: HashMap<[u8; 32], DeviceEntry>,
    /// User code (normalised) to device-code hash.
    by_user_code: HashMap<String, [u8; 32]>,
}

/// Device codes issued and not yet forgotten.
#[derive(Debug, Default)]
pub struct DeviceCodes(Mutex<Table>);

fn new_user_code() -> String {
    let mut rng = rand::thread_rng();
    (0..USER_CODE_LEN)
        .map(|_| char::from(USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())]))
        .collect()
}

/// `BCDF-GHJK`, as shown to people.
fn display(code: &str) -> String {
    format!("{}-{}", &code[..4], &code[4..])
}

/// What people type, normalised: upper case, without dashes and spaces.
fn normalise(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

impl DeviceCodes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AuthServer {
    fn start_device(&self, client: &OAuthClient, scope: Scopes) -> (String, String, i64) {
        let now = self.now();
        let device_code = random_token();
        let mut table = self.devices.lock();
        // Forget what has expired (a poll after that is answered `invalid_grant`).
        let horizon = now - self.settings.device_code_ttl;
        table.entries.retain(|_, e| e.expires_at > horizon);
        let live: std::collections::HashSet<[u8; 32]> = table.entries.keys().copied().collect();
        table.by_user_code.retain(|_, h| live.contains(h));
        let user_code = loop {
            let c = new_user_code();
            if !table.by_user_code.contains_key(&c) {
                break c;
            }
        };
        let hash = digest(&device_code);
        table.by_user_code.insert(user_code.clone(), hash);
        table.entries.insert(
            hash,
            DeviceEntry {
                client_id: client.client_id.clone(),
                client_name: client.name.clone(),
                scope,
                expires_at: now + self.settings.device_code_ttl,
                interval: self.settings.device_interval,
                last_poll: None,
                decision: Decision::Pending,
            },
        );
        (device_code, user_code, now)
    }

    /// The pending request a user code names: the client's name and the scope.
    fn pending(&self, user_code: &str) -> Option<(String, Scopes)> {
        let now = self.now();
        let table = self.devices.lock();
        let hash = table.by_user_code.get(&normalise(user_code))?;
        table
            .entries
            .get(hash)
            .filter(|e| e.expires_at > now && e.decision == Decision::Pending)
            .map(|e| (e.client_name.clone(), e.scope))
    }

    fn decide_device(&self, user_code: &str, decision: Decision) -> bool {
        let now = self.now();
        let mut table = self.devices.lock();
        let Some(hash) = table.by_user_code.get(&normalise(user_code)).copied() else {
            return false;
        };
        match table.entries.get_mut(&hash) {
            Some(e) if e.expires_at > now && e.decision == Decision::Pending => {
                e.decision = decision;
                true
            }
            _ => false,
        }
    }

    /// The token endpoint's device-code grant: a poll.
    pub(crate) async fn device_grant(
        &self,
        client: &OAuthClient,
        params: &Params,
    ) -> Result<Value, OAuthError> {
        let hash = digest(params.require("device_code")?);
        let now = self.now();
        let (user, scope) = {
            let mut table = self.devices.lock();
            let entry = match table.entries.get_mut(&hash) {
                Some(e) if e.client_id == client.client_id => e,
                _ => return Err(OAuthError::invalid_grant("unknown device code")),
            };
            if entry.expires_at <= now {
                return Err(OAuthError::device(
                    "expired_token",
                    "the device code has expired",
                ));
            }
            let is_too_soon = entry.last_poll.is_some_and(|t| now - t < entry.interval);
            entry.last_poll = Some(now);
            if is_too_soon && entry.decision == Decision::Pending {
                entry.interval += SLOW_DOWN_STEP;
                return Err(OAuthError::device(
                    "slow_down",
                    format!("poll at most every {} s", entry.interval),
                ));
            }
            match std::mem::replace(&mut entry.decision, Decision::Spent) {
                Decision::Pending => {
                    entry.decision = Decision::Pending;
                    return Err(OAuthError::device(
                        "authorization_pending",
                        "the user has not decided yet",
                    ));
                }
                Decision::Denied => {
                    entry.decision = Decision::Denied;
                    return Err(OAuthError::device(
                        "access_denied",
                        "the user denied the request",
                    ));
                }
                Decision::Spent => {
                    return Err(OAuthError::invalid_grant(
                        "the device code was already used",
                    ));
                }
                Decision::Approved { user } => (user, entry.scope),
            }
        };
        let grant_id = random_token();
        self.new_grant(client, &user, scope, &grant_id).await?;
        self.token_response(&self.issue_for(client, &user, scope, &grant_id), true)
            .await
    }
}

/// `POST /oauth/device_authorization` (§3.1–3.2).
pub async fn authorize_device(
    State(gateway): State<Arc<HesGateway>>,
    Authenticated { client, params }: Authenticated,
) -> Response {
    let server = gateway.oauth();
    let answer = async {
        let allowed = Scopes::from_list(&client.scopes).unwrap_or_default();
        let scope =
            Scopes::within(params.get("scope"), allowed).map_err(OAuthError::invalid_scope)?;
        let (device_code, user_code, _) = server.start_device(&client, scope);
        let uri = format!("{}/oauth/device", server.settings.issuer);
        let shown = display(&user_code);
        Ok(json!({
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": uri,
            "verification_uri_complete": format!("{uri}?user_code={shown}"),
            "expires_in": server.settings.device_code_ttl,
            "interval": server.settings.device_interval,
        }))
    };
    json_answer(answer.await)
}

fn device_consent(
    client_name: &str,
    scope: Scopes,
    user_code: &str,
    alert: Option<&str>,
    username: &str,
    status: StatusCode,
) -> Response {
    pages::consent(
        &Consent {
            client_name,
            scopes: scope,
            action: "/oauth/device",
            hidden: vec![("user_code", user_code)],
            alert,
            username,
        },
        status,
    )
    .into_response()
}

/// `GET /oauth/device[?user_code=…]`: the code form, or the consent screen for a known code.
pub async fn show(State(gateway): State<Arc<HesGateway>>, uri: Uri) -> Response {
    let params = Params::parse(uri.query().unwrap_or_default().as_bytes()).unwrap_or_default();
    let Some(code) = params.get("user_code") else {
        return pages::enter_code(None, StatusCode::OK).into_response();
    };
    match gateway.oauth().pending(code) {
        Some((name, scope)) => device_consent(&name, scope, code, None, "", StatusCode::OK),
        None => pages::enter_code(
            Some("That code is unknown or has expired."),
            StatusCode::NOT_FOUND,
        )
        .into_response(),
    }
}

/// `POST /oauth/device`: the user's decision on a user code.
pub async fn decide(
    State(gateway): State<Arc<HesGateway>>,
    form: Result<Form, OAuthError>,
) -> Response {
    let params = match pages::form_params(form) {
        Ok(p) => p,
        Err(page) => return *page,
    };
    let server = gateway.oauth();
    let code = params.get("user_code").unwrap_or_default();
    let Some((name, scope)) = server.pending(code) else {
        return pages::enter_code(
            Some("That code is unknown or has expired."),
            StatusCode::NOT_FOUND,
        )
        .into_response();
    };
    match params.get("decision") {
        Some("deny") => {
            server.decide_device(code, Decision::Denied);
            return pages::done(false, &name).into_response();
        }
        Some("allow") => {}
        _ => return pages::error(StatusCode::BAD_REQUEST, "Choose Allow or Deny.").into_response(),
    }
    let username = params.get("username").unwrap_or_default();
    match gateway
        .consent(username, params.get("password").unwrap_or_default())
        .await
    {
        Ok(user) => {
            if server.decide_device(code, Decision::Approved { user }) {
                pages::done(true, &name).into_response()
            } else {
                pages::enter_code(
                    Some("That code is unknown or has expired."),
                    StatusCode::NOT_FOUND,
                )
                .into_response()
            }
        }
        Err(e) => device_consent(
            &name,
            scope,
            code,
            Some(&e.message),
            username,
            e.code.status(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_unambiguous_and_forgiving() {
        for _ in 0..100 {
            let c = new_user_code();
            assert_eq!(c.len(), USER_CODE_LEN);
            assert!(c.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{c}");
            assert!(!c.contains(['A', 'E', 'I', 'O', 'U', 'Y', '0', '1']), "{c}");
        }
        assert_eq!(display("BCDFGHJK"), "BCDF-GHJK");
        assert_eq!(normalise(" bcdf-ghjk "), "BCDFGHJK");
    }
}
