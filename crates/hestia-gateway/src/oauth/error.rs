//! Token-endpoint errors exactly as RFC 6749 §5.2 names them (and the few RFC 8628 / 8693 add), and
//! the parsing of form-encoded requests (RFC 6749 §3.1: a parameter sent without a value is
//! omitted, none may appear twice).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer of the token, device-authorization, introspection or revocation endpoint.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    /// The RFC's `error` code.
    pub error: &'static str,
    pub description: String,
    cause: Option<String>,
    /// Seconds for `Retry-After` on a 429.
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
            cause: None,
            retry_after: None,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }

    /// 401 with `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    pub fn invalid_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }

    pub fn unauthorized_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "unauthorized_client", d)
    }

    pub fn unsupported_grant_type(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }

    /// RFC 8693 §2.2.2: an audience the client may not ask for.
    pub fn invalid_target(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_target", d)
    }

    /// RFC 8628 §3.5 polling answers (`authorization_pending`, `slow_down`, `access_denied`,
    /// `expired_token`).
    pub fn device(error: &'static str, d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, error, d)
    }

    /// 429 with `Retry-After: retry_after` (at least 1 s).
    pub fn too_many_requests(retry_after: u64) -> OAuthError {
        let mut e = OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_request",
            "too many requests; retry after the Retry-After seconds",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// 503 `temporarily_unavailable` (RFC 6749 §4.1.2.1): the request took too long.
    pub fn temporarily_unavailable(d: impl Into<String>) -> OAuthError {
        OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            d,
        )
    }

    /// A failure of ours: 500 `server_error`; the cause is logged once, when answered.
    pub fn internal(cause: impl std::fmt::Display) -> OAuthError {
        let mut e = OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        );
        e.cause = Some(cause.to_string());
        e
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` on every token-bearing answer (RFC 6749 §5.1).
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(cause, "OAuth request failed");
        }
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"hestia\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A JSON answer (or the error) with `no-store`: what every back-channel endpoint returns.
pub fn json_answer(result: Result<serde_json::Value, OAuthError>) -> Response {
    match result {
        Ok(body) => {
            let mut response = Json(body).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => e.into_response(),
    }
}

/// The parameters of a request, from a form body or a query string.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text; a repeated name is an error.
    pub fn parse(text: &[u8]) -> Result<Params, String> {
        let mut map = HashMap::new();
        for (name, value) in form_urlencoded::parse(text) {
            if value.is_empty() {
                continue;
            }
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(format!("parameter {name:?} appears more than once"));
            }
        }
        Ok(Params(map))
    }

    /// The parameter's value; a value-less parameter reads as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

/// A form-encoded POST body, parsed; every rejection is `invalid_request` (413 when too large).
pub struct Form(pub Params);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            let mut e = OAuthError::invalid_request(r.body_text());
            e.status = match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            e
        })?;
        Params::parse(&bytes)
            .map(Form)
            .map_err(OAuthError::invalid_request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_skip_empty_values_and_refuse_repeats() {
        let p = Params::parse(b"a=1&b=&c=x+y%21").expect("parses");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y!"));
        assert_eq!(p.require("b").expect_err("absent").error, "invalid_request");
        assert!(Params::parse(b"a=1&a=2").is_err());
        assert!(
            Params::parse(b"a=1&a=").is_ok(),
            "an empty repeat is an omission"
        );
    }
}
