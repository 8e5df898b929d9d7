//! Token revocation (RFC 7009), client-authenticated: unlinking a federation. A refresh token
//! revokes its whole grant (every refresh and access token issued from it, §2.1); an access
//! token is revoked by its `jti`, kept in the revocation list until it would have expired. The
//! answer is 200 whether or not the token was known (§2.2), and a client revokes only its own.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hestia_store::OAuthClient;

use super::clients::Authenticated;
use super::error::{OAuthError, no_store};
use super::{AuthServer, digest, jwt};
use crate::HesGateway;

impl AuthServer {
    /// Revokes the token; the grant revoked with it, when it was a refresh token.
    async fn revoke_any(
        &self,
        client: &OAuthClient,
        token: &str,
    ) -> Result<Option<String>, OAuthError> {
        if jwt::is_jwt(token) {
            if let Ok(c) = self.verify_access_token(token).await
                && c.client_id == client.client_id
            {
                self.revoke_token_id(&c.jti, c.exp)
                    .await
                    .map_err(OAuthError::internal)?;
            }
            return Ok(None);
        }
        let stored = self
            .store
            .refresh_token(&digest(token))
            .await
            .map_err(OAuthError::internal)?;
        let Some(t) = stored.filter(|t| t.grant.client_id == client.client_id) else {
            return Ok(None);
        };
        self.revoke_grant(&t.grant.grant_id)
            .await
            .map_err(OAuthError::internal)?;
        Ok(Some(t.grant.grant_id))
    }
}

/// `POST /oauth/revoke`.
pub async fn revoke(
    State(gateway): State<Arc<HesGateway>>,
    Authenticated { client, params }: Authenticated,
) -> Response {
    let server = gateway.oauth();
    let answer = async { server.revoke_any(&client, params.require("token")?).await };
    match answer.await {
        Ok(revoked) => {
            // Whatever rested on the grant (a federation, its subscriptions) ends with it.
            if let Some(grant) = revoked {
                gateway.grant_revoked(&grant).await;
            }
            let mut response = StatusCode::OK.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => e.into_response(),
    }
}
