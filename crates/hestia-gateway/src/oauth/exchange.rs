//! Token exchange (RFC 8693): adding a user identity to an existing federation without a second
//! full redirect. A client holding a valid access token of a user (`subject_token`, type
//! `access_token`) exchanges it for one with a narrower scope or for another audience it is
//! registered for. The new token belongs to the same grant, so revoking the grant revokes it
//! too. Scope escalation is `invalid_scope`; an audience not allowed is `invalid_target`.

use hestia_store::OAuthClient;
use serde_json::{Value, json};

use super::AuthServer;
use super::error::{OAuthError, Params};
use super::scope::Scopes;
use super::token::{ACCESS_TOKEN_TYPE, Issue};

impl AuthServer {
    pub(crate) async fn exchange(
        &self,
        client: &OAuthClient,
        params: &Params,
    ) -> Result<Value, OAuthError> {
        let subject = params.require("subject_token")?;
        if params.require("subject_token_type")? != ACCESS_TOKEN_TYPE {
            return Err(OAuthError::invalid_request(
                "subject_token_type must be urn:ietf:params:oauth:token-type:access_token",
            ));
        }
        if params
            .get("requested_token_type")
            .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
        {
            return Err(OAuthError::invalid_request(
                "only access tokens are issued by exchange",
            ));
        }
        if params.get("actor_token").is_some() {
            return Err(OAuthError::invalid_request(
                "delegation (actor_token) is not supported",
            ));
        }
        let claims = self
            .verify_access_token(subject)
            .await
            .map_err(OAuthError::invalid_grant)?;
        if claims.client_id != client.client_id {
            return Err(OAuthError::unauthorized_client(
                "a client may only exchange tokens issued to itself",
            ));
        }
        let held = Scopes::parse(&claims.scope).map_err(OAuthError::internal)?;
        // Only narrower than the subject token's.
        let scope = Scopes::within(params.get("scope"), held).map_err(OAuthError::invalid_scope)?;
        // `resource` and `audience` both name the target (RFC 8693 §2.1); at most one.
        let target = match (params.get("audience"), params.get("resource")) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "give audience or resource, not both",
                ));
            }
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => claims.aud.as_str(),
        };
        let is_allowed =
            target == self.settings.audience || client.audiences.iter().any(|a| a == target);
        if !is_allowed {
            return Err(OAuthError::invalid_target(
                "the audience is not one this client may ask for",
            ));
        }
        let issue = Issue {
            client_id: &client.client_id,
            user: &claims.sub,
            scope,
            grant_id: &claims.gid,
            audience: target,
        };
        let (access, _) = self.access_token(&issue).await?;
        Ok(json!({
            "access_token": access,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": self.settings.access_ttl,
            "scope": scope.to_string(),
        }))
    }
}
