//! The OAuth client side of a link: redeeming the code (with the PKCE verifier), refreshing
//! (the peer rotates the refresh token on every use), learning whom a token acts for by
//! introspection (RFC 7662), and revoking (RFC 7009) at unlink.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::sync::Mutex;

use super::{Federation, Link, Peer, unreachable};
use crate::model::{CuiError, ErrorCode};

/// Refresh this long before the access token expires (at most a fifth of its lifetime), so a
/// call never carries one that expires on the way.
const REFRESH_AHEAD: Duration = Duration::from_secs(30);

/// The tokens a link calls its peer with. No `Debug` of their values.
pub struct RemoteTokens(Mutex<Held>);

struct Held {
    access: String,
    refresh: Option<String>,
    /// When to refresh: [`REFRESH_AHEAD`] or a fifth of the token's life before it expires.
    refresh_at: SystemTime,
}

impl std::fmt::Debug for RemoteTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteTokens(<redacted>)")
    }
}

impl RemoteTokens {
    /// The tokens of a token-endpoint answer (`access_token`, `refresh_token`, `expires_in`).
    pub fn from_answer(answer: &Value) -> Result<RemoteTokens, CuiError> {
        Ok(RemoteTokens(Mutex::new(Held::from_answer(answer)?)))
    }

    /// The current access token, for a test or a diagnosis that must show what was revoked.
    pub async fn access_token(&self) -> String {
        self.0.lock().await.access.clone()
    }

    /// The current refresh token.
    pub async fn refresh_token(&self) -> Option<String> {
        self.0.lock().await.refresh.clone()
    }

    /// Tokens as the store kept them.
    pub(super) fn restored(access: String, refresh: Option<String>, refresh_at: i64) -> Self {
        RemoteTokens(Mutex::new(Held {
            access,
            refresh,
            refresh_at: from_unix(refresh_at),
        }))
    }

    /// `(access, refresh, refresh_at)` for the store.
    pub(super) async fn to_record(&self) -> (String, Option<String>, i64) {
        let held = self.0.lock().await;
        held.to_record()
    }
}

impl Held {
    fn from_answer(answer: &Value) -> Result<Held, CuiError> {
        let access = answer["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad_answer("no access_token"))?;
        let life = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(600));
        let now = SystemTime::now();
        Ok(Held {
            access: access.to_owned(),
            refresh: answer["refresh_token"].as_str().map(str::to_owned),
            refresh_at: now + life - REFRESH_AHEAD.min(life / 5),
        })
    }

    fn is_fresh(&self) -> bool {
        SystemTime::now() < self.refresh_at
    }

    fn to_record(&self) -> (String, Option<String>, i64) {
        (
            self.access.clone(),
            self.refresh.clone(),
            unix(self.refresh_at),
        )
    }
}

pub(super) fn unix(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(super) fn from_unix(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

fn bad_answer(what: &str) -> CuiError {
    CuiError::new(
        ErrorCode::ClusterUnreachable,
        format!("the peer's token endpoint answered {what}"),
    )
}

/// base64url(SHA-256(verifier)), the S256 code challenge (RFC 7636 §4.2).
pub fn challenge(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

impl Federation {
    /// A form POST to one of the peer's client-authenticated OAuth endpoints.
    pub(super) async fn post_form(
        &self,
        peer: &Peer,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<(reqwest::StatusCode, Value), CuiError> {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let answer = self
            .http
            .post(peer.url(path))
            .basic_auth(&peer.client_id, Some(&peer.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = answer.status();
        let text = answer.text().await.map_err(unreachable)?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((status, json))
    }

    /// Redeems an authorization code at the peer's token endpoint.
    pub(super) async fn redeem(
        &self,
        peer: &Peer,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Value, CuiError> {
        let (status, answer) = self
            .post_form(
                peer,
                "/oauth/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("code_verifier", verifier),
                    ("redirect_uri", redirect_uri),
                ],
            )
            .await?;
        if !status.is_success() {
            return Err(oauth_refusal("the peer refused the code", &answer));
        }
        Ok(answer)
    }

    /// Whom a peer's access token acts for, by the peer's introspection endpoint.
    pub(super) async fn subject_of(&self, peer: &Peer, access: &str) -> Result<String, CuiError> {
        let (status, answer) = self
            .post_form(peer, "/oauth/introspect", &[("token", access)])
            .await?;
        match answer["sub"].as_str() {
            Some(sub) if status.is_success() && answer["active"] == true => Ok(sub.to_owned()),
            _ => Err(oauth_refusal(
                "the peer does not vouch for its token",
                &answer,
            )),
        }
    }

    /// The link's access token, refreshed first when it is about to expire.
    pub(super) async fn fresh_token(&self, link: &Link) -> Result<String, CuiError> {
        let held = link.tokens.0.lock().await;
        if held.is_fresh() {
            return Ok(held.access.clone());
        }
        drop(held);
        self.refresh(link, None).await
    }

    /// Refreshes the link's tokens at the peer (a new refresh token each time). Callers that
    /// race wait on the lock, and the later one finds a fresh token rather than presenting a
    /// spent refresh token, which would revoke the whole grant.
    pub(super) async fn refresh(
        &self,
        link: &Link,
        stale: Option<&str>,
    ) -> Result<String, CuiError> {
        let mut held = link.tokens.0.lock().await;
        // Another caller refreshed while this one waited for the lock.
        if held.is_fresh() && stale.is_none_or(|s| s != held.access) {
            return Ok(held.access.clone());
        }
        let Some(refresh) = held.refresh.clone() else {
            return Err(CuiError::unauthorized(
                "the link's token expired and cannot be refreshed; link again",
            ));
        };
        let (status, answer) = self
            .post_form(
                &link.peer,
                "/oauth/token",
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await?;
        if !status.is_success() {
            return Err(CuiError::unauthorized(format!(
                "the peer refused to refresh the link: {}",
                answer["error_description"]
                    .as_str()
                    .unwrap_or("invalid_grant")
            )));
        }
        let mut renewed = Held::from_answer(&answer)?;
        if renewed.refresh.is_none() {
            renewed.refresh = Some(refresh);
        }
        *held = renewed;
        // The spent refresh token is a replay from now on, so the new one is kept before use.
        let (access, refresh, refresh_at) = held.to_record();
        let kept = self
            .store
            .set_federation_tokens(&link.id, &access, refresh.as_deref(), refresh_at)
            .await;
        // NotFound: a link being made, stored with its current tokens once it is complete.
        if let Err(e) = kept.or_else(|e| match e {
            hestia_store::StoreError::NotFound => Ok(()),
            e => Err(e),
        }) {
            tracing::warn!(peer = %link.peer.name, error = %e, "the link's new tokens were not stored");
        }
        metrics::counter!("hestia_gateway_federation_refreshes_total").increment(1);
        Ok(held.access.clone())
    }

    /// Revokes the link's grant at the peer (its refresh token revokes the whole family);
    /// best effort, as the peer may be gone.
    pub(super) async fn revoke_at_peer(&self, link: &Link) {
        let held = link.tokens.0.lock().await;
        let token = held.refresh.clone().unwrap_or_else(|| held.access.clone());
        drop(held);
        match self
            .post_form(&link.peer, "/oauth/revoke", &[("token", &token)])
            .await
        {
            Ok((status, _)) if status.is_success() => {}
            Ok((status, _)) => {
                tracing::warn!(peer = %link.peer.name, %status, "revocation refused")
            }
            Err(e) => tracing::warn!(peer = %link.peer.name, error = %e, "revocation failed"),
        }
    }
}

/// An OAuth error answer as the CUI's `unauthorized`.
pub(super) fn oauth_refusal(what: &str, answer: &Value) -> CuiError {
    let why = answer["error_description"]
        .as_str()
        .or_else(|| answer["error"].as_str())
        .unwrap_or("no reason given");
    CuiError::unauthorized(format!("{what}: {why}"))
}
