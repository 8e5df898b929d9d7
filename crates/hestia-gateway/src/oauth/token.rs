//! The token endpoint (RFC 6749 §3.2, form-encoded, client-authenticated): the
//! `authorization_code` grant (§4.1.3, PKCE-checked), `refresh_token` (§6, rotated on every use;
//! a used token presented again revokes its whole family), the device-code grant (RFC 8628
//! §3.4, in [`super::device`]) and token exchange (RFC 8693, in [`super::exchange`]). Issues JWT
//! access tokens and opaque refresh tokens stored by their hash.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use hestia_store::{OAuthClient, OAuthGrant, StoreError};
use serde_json::{Value, json};

use super::clients::Authenticated;
use super::error::{OAuthError, Params, json_answer};
use super::jwt::{self, AccessClaims};
use super::scope::Scopes;
use super::{AuthServer, digest, random_token};
use crate::HesGateway;

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// What an access token is issued for.
pub(crate) struct Issue<'a> {
    pub client_id: &'a str,
    pub user: &'a str,
    pub scope: Scopes,
    pub grant_id: &'a str,
    pub audience: &'a str,
}

/// `POST /oauth/token`.
pub async fn token(
    State(gateway): State<Arc<HesGateway>>,
    Authenticated { client, params }: Authenticated,
) -> Response {
    let server = gateway.oauth();
    let answer = async {
        server
            .rate
            .check(&client.client_id)
            .map_err(OAuthError::too_many_requests)?;
        match params.require("grant_type")? {
            "authorization_code" => server.code_grant(&client, &params).await,
            "refresh_token" => server.refresh_grant(&client, &params).await,
            DEVICE_GRANT => server.device_grant(&client, &params).await,
            EXCHANGE_GRANT => server.exchange(&client, &params).await,
            other => Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {other:?} is not supported"
            ))),
        }
    };
    json_answer(answer.await)
}

impl AuthServer {
    async fn code_grant(&self, client: &OAuthClient, params: &Params) -> Result<Value, OAuthError> {
        let redeemed = self.redeem_code(client, params).await?;
        self.new_grant(client, &redeemed.user, redeemed.scope, &redeemed.grant_id)
            .await?;
        self.token_response(
            &self.issue_for(client, &redeemed.user, redeemed.scope, &redeemed.grant_id),
            true,
        )
        .await
    }

    pub(crate) fn issue_for<'a>(
        &'a self,
        client: &'a OAuthClient,
        user: &'a str,
        scope: Scopes,
        grant_id: &'a str,
    ) -> Issue<'a> {
        Issue {
            client_id: &client.client_id,
            user,
            scope,
            grant_id,
            audience: &self.settings.audience,
        }
    }

    /// Records the family a consent starts.
    pub(crate) async fn new_grant(
        &self,
        client: &OAuthClient,
        user: &str,
        scope: Scopes,
        grant_id: &str,
    ) -> Result<(), OAuthError> {
        let grant = OAuthGrant {
            grant_id: grant_id.to_owned(),
            client_id: client.client_id.clone(),
            username: user.to_owned(),
            scope: scope.to_string(),
            created_at: self.now(),
            revoked_at: None,
        };
        match self.store.create_oauth_grant(&grant).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => {
                Err(OAuthError::invalid_grant("the user no longer exists"))
            }
            Err(e) => Err(OAuthError::internal(e)),
        }
    }

    /// A grant to a registered client that no consent screen asked for: what a federation
    /// gives the peer gateway for its callbacks, the user's consent being the link they made.
    /// The token answer (access and refresh token) and the grant's id.
    pub async fn grant_for_peer(
        &self,
        client_id: &str,
        user: &str,
        scope: Scopes,
    ) -> Result<(Value, String), OAuthError> {
        let client = self
            .store
            .oauth_client(client_id)
            .await
            .map_err(OAuthError::internal)?
            .ok_or_else(|| OAuthError::invalid_client(format!("no client {client_id}")))?;
        let grant_id = random_token();
        self.new_grant(&client, user, scope, &grant_id).await?;
        let answer = self
            .token_response(&self.issue_for(&client, user, scope, &grant_id), true)
            .await?;
        Ok((answer, grant_id))
    }

    /// A signed access token and its claims.
    pub(crate) async fn access_token(
        &self,
        i: &Issue<'_>,
    ) -> Result<(String, AccessClaims), OAuthError> {
        let now = self.now();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: i.user.to_owned(),
            aud: i.audience.to_owned(),
            client_id: i.client_id.to_owned(),
            scope: i.scope.to_string(),
            iat: now,
            exp: now + self.settings.access_ttl,
            jti: random_token(),
            gid: i.grant_id.to_owned(),
        };
        let (input, signature) = self
            .keys
            .sign(
                &self.store,
                now,
                self.settings.key_rotation,
                self.settings.access_ttl,
                |kid| jwt::signing_input(kid, &claims).map_err(|e| e.to_string()),
            )
            .await
            .map_err(OAuthError::internal)?;
        Ok((jwt::assemble(&input, &signature), claims))
    }

    /// The token response: an access token and, when asked, a new refresh token of the grant.
    pub(crate) async fn token_response(
        &self,
        i: &Issue<'_>,
        with_refresh: bool,
    ) -> Result<Value, OAuthError> {
        let (access, _) = self.access_token(i).await?;
        let mut body = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.settings.access_ttl,
            "scope": i.scope.to_string(),
        });
        if with_refresh {
            let refresh = random_token();
            self.store
                .put_refresh_token(
                    &digest(&refresh),
                    i.grant_id,
                    &i.scope.to_string(),
                    self.now() + self.settings.refresh_ttl,
                )
                .await
                .map_err(OAuthError::internal)?;
            body["refresh_token"] = Value::String(refresh);
        }
        Ok(body)
    }

    /// RFC 6749 §6 with rotation: the token is spent and a successor issued; a spent token
    /// presented again revokes the family (RFC 9700 §4.14.2).
    async fn refresh_grant(
        &self,
        client: &OAuthClient,
        params: &Params,
    ) -> Result<Value, OAuthError> {
        let presented = params.require("refresh_token")?;
        let hash = digest(presented);
        let unknown = || OAuthError::invalid_grant("unknown refresh token");
        let token = self
            .store
            .refresh_token(&hash)
            .await
            .map_err(OAuthError::internal)?
            .ok_or_else(unknown)?;
        if token.grant.client_id != client.client_id {
            return Err(unknown());
        }
        if token.grant.revoked_at.is_some() {
            return Err(OAuthError::invalid_grant("the grant was revoked"));
        }
        let now = self.now();
        if token.expires_at <= now {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        let is_fresh = token.used_at.is_none()
            && self
                .store
                .spend_refresh_token(&hash, now)
                .await
                .map_err(OAuthError::internal)?;
        if !is_fresh {
            self.revoke_grant(&token.grant.grant_id)
                .await
                .map_err(OAuthError::internal)?;
            tracing::warn!(client = %client.client_id, "refresh token replayed; its family is revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of its grant is revoked",
            ));
        }
        let held = Scopes::parse(&token.scope).map_err(OAuthError::internal)?;
        // A refresh may only narrow the scope.
        let scope = Scopes::within(params.get("scope"), held).map_err(OAuthError::invalid_scope)?;
        let user = token.grant.username.clone();
        self.token_response(
            &self.issue_for(client, &user, scope, &token.grant.grant_id),
            true,
        )
        .await
    }
}
