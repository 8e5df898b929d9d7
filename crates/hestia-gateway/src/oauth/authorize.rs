//! The authorization endpoint (RFC 6749 §4.1.1–4.1.2) with PKCE (RFC 7636, `S256` only): the
//! user signs in with their IGRS account on a consent screen and allows or denies; the client
//! gets a code on its exact redirect URI. A code is single use, lives 60 s and is bound to the
//! client, the redirect URI, the PKCE challenge, the scope and the user; presenting it a second
//! time revokes the tokens issued from it (§4.1.2, §10.5).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hestia_store::OAuthClient;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::error::{Form, OAuthError, Params};
use super::pages::{self, Consent, Page};
use super::scope::Scopes;
use super::{AuthServer, digest, random_token};
use crate::HesGateway;

/// Lifetime of a code.
pub const CODE_TTL: i64 = 60;
/// How long a spent code is remembered, so its replay is recognised.
const SPENT_MEMORY: i64 = 600;
/// The parameters an authorization request carries through the consent form.
const CARRIED: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

#[derive(Debug)]
struct CodeEntry {
    client_id: String,
    redirect_uri: String,
    was_redirect_given: bool,
    challenge: String,
    scope: Scopes,
    user: String,
    expires_at: i64,
    /// Some once presented: with the grant it created, if it created one.
    spent: Option<Option<String>>,
}

/// Codes issued and not yet forgotten, by their SHA-256.
#[derive(Debug, Default)]
pub struct Codes(Mutex<HashMap<[u8; 32], CodeEntry>>);

/// What a redeemed code grants.
pub(crate) struct Redeemed {
    pub user: String,
    pub scope: Scopes,
    pub grant_id: String,
}

/// A checked authorization request.
struct AuthRequest {
    client: OAuthClient,
    redirect_uri: String,
    was_redirect_given: bool,
    state: Option<String>,
    scope: Scopes,
    challenge: String,
}

/// 303 to `uri` with `pairs` added to its query.
fn redirect(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{separator}{}", query.finish());
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => {
            pages::error(StatusCode::BAD_REQUEST, "the redirect URI is not usable").into_response()
        }
    }
}

/// A URL-safe base64 SHA-256 of 32 bytes is 43 characters.
fn is_valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: 43–128 unreserved characters.
fn is_valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `BASE64URL(SHA256(verifier)) == challenge`, compared in constant time.
pub(crate) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    is_valid_verifier(verifier) && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

impl AuthServer {
    /// Checks a request: an unknown client or a wrong redirect URI gets an error page (nowhere
    /// safe to redirect); anything else wrong is redirected back with `error` (§4.1.2.1).
    async fn check_request(&self, params: &Params) -> Result<AuthRequest, Box<Response>> {
        let page = |m: &str| {
            Err(Box::new(
                pages::error(StatusCode::BAD_REQUEST, m).into_response(),
            ))
        };
        let Some(client_id) = params.get("client_id") else {
            return page("The request names no client (client_id is missing).");
        };
        let client = match self.store.oauth_client(client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return page("The application is not registered here (unknown client_id)."),
            Err(e) => {
                tracing::error!(error = %e, "reading an OAuth client failed");
                return Err(Box::new(
                    pages::error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong here; try again later.",
                    )
                    .into_response(),
                ));
            }
        };
        let (redirect_uri, was_redirect_given) = match params.get("redirect_uri") {
            Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => (uri.to_owned(), true),
            Some(_) => return page("The redirect URI is not one registered for this application."),
            None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
            None => {
                return page("The request names no redirect URI and the application has several.");
            }
        };
        let state = params.get("state").map(str::to_owned);
        let back = |error: &str, description: &str| {
            let mut pairs = vec![
                ("error", error),
                ("error_description", description),
                ("iss", self.settings.issuer.as_str()),
            ];
            if let Some(s) = &state {
                pairs.push(("state", s));
            }
            Err(Box::new(redirect(&redirect_uri, &pairs)))
        };
        if params.get("response_type") != Some("code") {
            return back(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
        if params.get("code_challenge_method") != Some("S256") {
            return back(
                "invalid_request",
                "PKCE with code_challenge_method=S256 is required (plain is refused)",
            );
        }
        let challenge = match params.get("code_challenge") {
            Some(c) if is_valid_challenge(c) => c.to_owned(),
            _ => {
                return back(
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256 (43 characters)",
                );
            }
        };
        let allowed = Scopes::from_list(&client.scopes).unwrap_or_default();
        let scope = match Scopes::within(params.get("scope"), allowed) {
            Ok(s) => s,
            Err(e) => return back("invalid_scope", &e),
        };
        Ok(AuthRequest {
            client,
            redirect_uri,
            was_redirect_given,
            state,
            scope,
            challenge,
        })
    }

    fn issue_code(&self, req: &AuthRequest, user: &str) -> String {
        let code = random_token();
        let now = self.now();
        let mut codes = self.codes.0.lock().unwrap_or_else(|e| e.into_inner());
        if codes.len() > 1000 {
            codes.retain(|_, c| c.expires_at + SPENT_MEMORY > now);
        }
        codes.insert(
            digest(&code),
            CodeEntry {
                client_id: req.client.client_id.clone(),
                redirect_uri: req.redirect_uri.clone(),
                was_redirect_given: req.was_redirect_given,
                challenge: req.challenge.clone(),
                scope: req.scope,
                user: user.to_owned(),
                expires_at: now + CODE_TTL,
                spent: None,
            },
        );
        code
    }

    /// Redeems a code for `client` (the token endpoint's `authorization_code` grant). Any
    /// presentation spends it; a second one revokes the grant the first created.
    pub(crate) async fn redeem_code(
        &self,
        client: &OAuthClient,
        params: &Params,
    ) -> Result<Redeemed, OAuthError> {
        let code = params.require("code")?;
        let verifier = params.require("code_verifier")?;
        let now = self.now();
        let replayed = {
            let mut codes = self.codes.0.lock().unwrap_or_else(|e| e.into_inner());
            let entry = match codes.get_mut(&digest(code)) {
                Some(e) if e.client_id == client.client_id => e,
                _ => return Err(OAuthError::invalid_grant("unknown authorization code")),
            };
            match &entry.spent {
                Some(grant) => grant.clone(),
                None if entry.expires_at <= now => {
                    entry.spent = Some(None);
                    return Err(OAuthError::invalid_grant(
                        "the authorization code has expired",
                    ));
                }
                None => {
                    entry.spent = Some(None);
                    let redirect_ok = match params.get("redirect_uri") {
                        Some(uri) => uri == entry.redirect_uri,
                        None => !entry.was_redirect_given,
                    };
                    if !redirect_ok {
                        return Err(OAuthError::invalid_grant(
                            "redirect_uri differs from the authorization request",
                        ));
                    }
                    if !pkce_matches(verifier, &entry.challenge) {
                        return Err(OAuthError::invalid_grant(
                            "code_verifier does not match the code_challenge",
                        ));
                    }
                    let grant_id = random_token();
                    entry.spent = Some(Some(grant_id.clone()));
                    return Ok(Redeemed {
                        user: entry.user.clone(),
                        scope: entry.scope,
                        grant_id,
                    });
                }
            }
        };
        if let Some(grant) = replayed {
            self.revoke_grant(&grant)
                .await
                .map_err(OAuthError::internal)?;
            tracing::warn!(client = %client.client_id, "authorization code replayed; its grant is revoked");
        }
        Err(OAuthError::invalid_grant(
            "the authorization code was already used; the tokens issued from it are revoked",
        ))
    }
}

fn consent_page(
    req: &AuthRequest,
    params: &Params,
    alert: Option<&str>,
    username: &str,
    status: StatusCode,
) -> Page {
    let hidden = CARRIED
        .iter()
        .filter_map(|name| params.get(name).map(|v| (*name, v)))
        .collect();
    pages::consent(
        &Consent {
            client_name: &req.client.name,
            scopes: req.scope,
            action: "/oauth/authorize",
            hidden,
            alert,
            username,
        },
        status,
    )
}

/// `GET /oauth/authorize`: the consent screen, or the request's error.
pub async fn show(State(gateway): State<Arc<HesGateway>>, uri: Uri) -> Response {
    let params = match Params::parse(uri.query().unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, &e).into_response(),
    };
    match gateway.oauth().check_request(&params).await {
        Ok(req) => consent_page(&req, &params, None, "", StatusCode::OK).into_response(),
        Err(refused) => *refused,
    }
}

/// `POST /oauth/authorize`: the user's decision, with their credentials when they allow.
pub async fn decide(
    State(gateway): State<Arc<HesGateway>>,
    form: Result<Form, OAuthError>,
) -> Response {
    let params = match pages::form_params(form) {
        Ok(p) => p,
        Err(page) => return *page,
    };
    let server = gateway.oauth();
    let req = match server.check_request(&params).await {
        Ok(req) => req,
        Err(refused) => return *refused,
    };
    let mut pairs = vec![("iss", server.settings.issuer.as_str())];
    if let Some(state) = &req.state {
        pairs.push(("state", state));
    }
    match params.get("decision") {
        Some("allow") => {}
        Some("deny") => {
            pairs.push(("error", "access_denied"));
            pairs.push(("error_description", "the user denied the request"));
            return redirect(&req.redirect_uri, &pairs);
        }
        _ => return pages::error(StatusCode::BAD_REQUEST, "Choose Allow or Deny.").into_response(),
    }
    let username = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    match gateway.consent(username, password).await {
        Ok(user) => {
            let code = server.issue_code(&req, &user);
            pairs.push(("code", &code));
            redirect(&req.redirect_uri, &pairs)
        }
        Err(e) => {
            consent_page(&req, &params, Some(&e.message), username, e.code.status()).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        // base64url(sha256(verifier)) as Python's hashlib computes it.
        let verifier = "dBjftJeZ4CVP-mJ92K9ylHNGpRdcOkcAB1gyzUpiUHM";
        let challenge = "XwOaXe3euoTBCio4ztqCrI78jFs45hsWU7SoB1xyCHs";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mJ92K9ylHNGpRdcOkcAB1gyzUpiUHm",
            challenge
        ));
        // The plain method's "verifier equals challenge" is no match.
        assert!(!pkce_matches(challenge, challenge));
        assert!(!pkce_matches("short", challenge));
        assert!(is_valid_challenge(challenge) && !is_valid_challenge("abc"));
    }
}
