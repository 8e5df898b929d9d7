//! Registered clients (RFC 6749 §2): peer gateways the operator registers through the admin API.
//! Each is confidential: its generated secret is shown once and stored as a SHA-256, and it
//! authenticates with `client_secret_basic` or `client_secret_post` (§2.3.1), never both.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRequest, Request};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use hestia_store::{OAuthClient, StoreError};
use subtle::ConstantTimeEq as _;

use super::error::{Form, OAuthError, Params};
use super::scope::Scopes;
use super::{AuthServer, digest, random_token};
use crate::HesGateway;

/// Longest client id.
const MAX_CLIENT_ID: usize = 64;

/// What the operator registers.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// 1–64 of `a-z 0-9 . _ -`.
    pub client_id: String,
    /// Shown on the consent screen.
    pub name: String,
    /// Absolute `https` URLs (`http` only on localhost), matched exactly; no fragment.
    pub redirect_uris: Vec<String>,
    /// Scopes the client may be granted; empty = all.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Audiences besides this gateway's CUI it may ask for in a token exchange.
    #[serde(default)]
    pub audiences: Vec<String>,
}

/// A client just registered, with its secret (shown this once). `Debug` hides the secret.
pub struct RegisteredClient {
    pub client: OAuthClient,
    pub secret: String,
}

impl fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client", &self.client.client_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why a registration or removal failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String),
    #[error("a client with this id exists")]
    Conflict,
    #[error("no such client")]
    NotFound,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ClientError {
    pub(crate) fn internal(e: impl fmt::Display) -> ClientError {
        ClientError::Internal(e.to_string())
    }
}

fn is_valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// An absolute redirect URI: `https://…`, or `http://` to a loopback host (localhost,
/// 127.0.0.0/8, [::1]; RFC 8252 §7.3); no fragment.
fn is_valid_redirect_uri(uri: &str) -> bool {
    let is_loopback_http = uri.strip_prefix("http://").is_some_and(|rest| {
        let host = match rest.strip_prefix("[::1]") {
            Some(after) => return after.is_empty() || after.starts_with([':', '/', '?']),
            None => rest.split([':', '/', '?']).next().unwrap_or_default(),
        };
        host == "localhost"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    let has_host = uri
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    (has_host || is_loopback_http)
        && !uri.contains('#')
        && uri.len() <= 2048
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl AuthServer {
    /// Registers a client; its secret is in the answer and nowhere else.
    pub async fn register_client(&self, new: NewClient) -> Result<RegisteredClient, ClientError> {
        if !is_valid_client_id(&new.client_id) {
            return Err(ClientError::Invalid(
                "client_id is 1-64 of a-z, 0-9, '.', '_' and '-'".into(),
            ));
        }
        if new.name.trim().is_empty() || new.name.len() > 100 {
            return Err(ClientError::Invalid("name is 1-100 characters".into()));
        }
        if new.redirect_uris.is_empty()
            || !new.redirect_uris.iter().all(|u| is_valid_redirect_uri(u))
        {
            return Err(ClientError::Invalid(
                "redirect_uris: one or more absolute https URLs (http only on localhost), no fragment"
                    .into(),
            ));
        }
        let scopes = if new.scopes.is_empty() {
            Scopes::all()
        } else {
            Scopes::from_list(&new.scopes).map_err(ClientError::Invalid)?
        };
        if new
            .audiences
            .iter()
            .any(|a| !a.starts_with("https://") && !a.starts_with("http://"))
        {
            return Err(ClientError::Invalid("audiences are http(s) URLs".into()));
        }
        let secret = random_token();
        let client = OAuthClient {
            client_id: new.client_id,
            name: new.name.trim().to_owned(),
            secret_hash: digest(&secret).to_vec(),
            redirect_uris: new.redirect_uris,
            scopes: scopes.to_list(),
            audiences: new.audiences,
            created_at: self.now(),
        };
        match self.store.put_oauth_client(&client).await {
            Ok(()) => Ok(RegisteredClient { client, secret }),
            Err(StoreError::Conflict) => Err(ClientError::Conflict),
            Err(e) => Err(ClientError::internal(e)),
        }
    }

    /// Every registered client.
    pub async fn clients(&self) -> Result<Vec<OAuthClient>, ClientError> {
        self.store
            .oauth_clients()
            .await
            .map_err(ClientError::internal)
    }

    /// Removes a client (unlinks every federation with it): its grants are revoked, so its
    /// tokens are refused at once.
    pub async fn delete_client(&self, client_id: &str) -> Result<(), ClientError> {
        let revoked = match self.store.delete_oauth_client(client_id, self.now()).await {
            Ok(revoked) => revoked,
            Err(StoreError::NotFound) => return Err(ClientError::NotFound),
            Err(e) => return Err(ClientError::internal(e)),
        };
        for grant in &revoked {
            self.forget_grant(grant);
        }
        Ok(())
    }

    /// The client a request authenticates as (RFC 6749 §2.3.1): HTTP Basic with the
    /// form-encoded id and secret, or `client_id` and `client_secret` in the body.
    pub(crate) async fn authenticate_client(
        &self,
        headers: &HeaderMap,
        params: &Params,
    ) -> Result<OAuthClient, OAuthError> {
        let basic = headers
            .get(header::AUTHORIZATION)
            .map(|v| parse_basic(v.to_str().unwrap_or_default()))
            .transpose()?;
        let (id, secret) = match (basic, params.get("client_secret")) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            (Some((id, secret)), None) => {
                if params.get("client_id").is_some_and(|body_id| body_id != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id differs from the credentials",
                    ));
                }
                (id, secret)
            }
            (None, Some(secret)) => (params.require("client_id")?.to_owned(), secret.to_owned()),
            (None, None) => {
                return Err(OAuthError::invalid_client("client authentication required"));
            }
        };
        let client = self
            .store
            .oauth_client(&id)
            .await
            .map_err(OAuthError::internal)?;
        // An unknown client and a wrong secret answer alike.
        let expected = client
            .as_ref()
            .map_or(&[0u8; 32][..], |c| &c.secret_hash[..]);
        let is_match = bool::from(digest(&secret).ct_eq(expected));
        match client {
            Some(c) if is_match => Ok(c),
            _ => Err(OAuthError::invalid_client("unknown client or wrong secret")),
        }
    }
}

/// A form request from an authenticated client: what the token, device-authorization,
/// introspection and revocation endpoints take. Rejected with the endpoint's JSON error.
pub struct Authenticated {
    pub client: OAuthClient,
    pub params: Params,
}

impl FromRequest<Arc<HesGateway>> for Authenticated {
    type Rejection = OAuthError;

    async fn from_request(req: Request, gateway: &Arc<HesGateway>) -> Result<Self, OAuthError> {
        let headers = req.headers().clone();
        let Form(params) = Form::from_request(req, gateway).await?;
        let client = gateway
            .oauth()
            .authenticate_client(&headers, &params)
            .await?;
        Ok(Authenticated { client, params })
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(value: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed Basic credentials");
    let (scheme, encoded) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "client authentication must be Basic",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    Ok((form_decode(id), form_decode(secret)))
}

fn form_decode(part: &str) -> String {
    form_urlencoded::parse(format!("v={part}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_inputs_are_checked() {
        for good in ["home-b", "b.example", "a_1"] {
            assert!(is_valid_client_id(good), "{good}");
        }
        for bad in ["", "Home", "a b", "a/b", &"a".repeat(65)] {
            assert!(!is_valid_client_id(bad), "{bad}");
        }
        for good in [
            "https://b.example/cb",
            "http://localhost:8080/cb",
            "http://127.0.0.1/cb?x=1",
            "http://127.0.0.2:5280/cui/v1/federation/callback",
            "http://[::1]:80/cb",
        ] {
            assert!(is_valid_redirect_uri(good), "{good}");
        }
        for bad in [
            "http://b.example/cb",
            "https://b.example/cb#f",
            "/cb",
            "https://",
            "http://localhost.evil/cb",
            "http://127.0.0.1.evil/cb",
            "http://128.0.0.1/cb",
            "http://[::1].evil/cb",
            "https://b.example/ c",
        ] {
            assert!(!is_valid_redirect_uri(bad), "{bad}");
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("home%2Db:s%3Acret+x")
        );
        assert_eq!(
            parse_basic(&value).expect("parses"),
            ("home-b".to_owned(), "s:cret x".to_owned())
        );
        assert!(parse_basic("Bearer abc").is_err());
        assert!(parse_basic("Basic !!!").is_err());
    }
}
