//! Authorization server metadata (RFC 8414) and the JWK Set of the signing keys (RFC 7517).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::OAuthError;
use super::scope::Scope;
use super::token::{DEVICE_GRANT, EXCHANGE_GRANT};
use crate::HesGateway;

/// `GET /.well-known/oauth-authorization-server`.
pub async fn metadata(State(gateway): State<Arc<HesGateway>>) -> Response {
    let issuer = &gateway.oauth().settings.issuer;
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "device_authorization_endpoint": format!("{issuer}/oauth/device_authorization"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "jwks_uri": format!("{issuer}/oauth/jwks.json"),
        "scopes_supported": Scope::ALL.map(Scope::as_str),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_GRANT, EXCHANGE_GRANT],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

/// `GET /oauth/jwks.json`: every published key; cacheable briefly, so a rotation shows soon.
pub async fn jwks(State(gateway): State<Arc<HesGateway>>) -> Response {
    let server = gateway.oauth();
    match server.keys.jwks(&server.store, server.now()).await {
        Ok(set) => {
            let mut response = Json(set).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            );
            response
        }
        Err(e) => OAuthError::internal(e).into_response(),
    }
}
