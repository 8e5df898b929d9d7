//! Token introspection (RFC 7662), client-authenticated: whether a token is active, with its
//! claims. A client learns only about tokens issued to itself; any other token, and every token
//! that is unknown, expired or revoked, is `{"active": false}`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use hestia_store::OAuthClient;
use serde_json::{Value, json};

use super::clients::Authenticated;
use super::error::{OAuthError, json_answer};
use super::{AuthServer, digest, jwt};
use crate::HesGateway;

impl AuthServer {
    async fn describe(&self, client: &OAuthClient, token: &str) -> Result<Value, OAuthError> {
        let inactive = json!({ "active": false });
        if jwt::is_jwt(token) {
            return Ok(match self.verify_access_token(token).await {
                Ok(c) if c.client_id == client.client_id => json!({
                    "active": true, "token_type": "Bearer", "scope": c.scope, "client_id": c.client_id,
                    "username": c.sub, "sub": c.sub, "aud": c.aud, "iss": c.iss, "exp": c.exp,
                    "iat": c.iat, "jti": c.jti,
                }),
                _ => inactive,
            });
        }
        let stored = self
            .store
            .refresh_token(&digest(token))
            .await
            .map_err(OAuthError::internal)?;
        Ok(match stored {
            Some(t)
                if t.grant.client_id == client.client_id
                    && t.used_at.is_none()
                    && t.grant.revoked_at.is_none()
                    && t.expires_at > self.now() =>
            {
                json!({
                    "active": true, "token_type": "refresh_token", "scope": t.scope,
                    "client_id": t.grant.client_id, "username": t.grant.username,
                    "sub": t.grant.username, "iss": self.settings.issuer, "exp": t.expires_at,
                })
            }
            _ => inactive,
        })
    }
}

/// `POST /oauth/introspect`.
pub async fn introspect(
    State(gateway): State<Arc<HesGateway>>,
    Authenticated { client, params }: Authenticated,
) -> Response {
    let server = gateway.oauth();
    let answer = async { server.describe(&client, params.require("token")?).await };
    json_answer(answer.await)
}
