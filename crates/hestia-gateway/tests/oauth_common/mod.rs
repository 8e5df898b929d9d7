//! A home gateway ("B") with its authorization server, driven in process with `oneshot`: alice
//! owns a lamp, bob owns nothing; the peer gateway "home-a" is a registered client. The clock is
//! manual, so expiry is tested by moving it, never by sleeping.

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use hestia_gateway::HesGateway;
use hestia_gateway::auth::Tokens;
use hestia_gateway::oauth::{Clock, NewClient, OAuthSettings};
use hestia_testkit::{PASSWORD, TestServer};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tower::ServiceExt;

pub const ISSUER: &str = "https://home-b.example";
pub const AUDIENCE: &str = "https://home-b.example/cui/v1";
pub const REDIRECT: &str = "https://home-a.example/oauth/callback";
pub const VERIFIER: &str = "a-verifier-of-at-least-43-characters-0123456789";

pub struct Home {
    pub t: TestServer,
    pub app: Router,
    pub gateway: Arc<HesGateway>,
    pub clock: Clock,
    pub client_id: String,
    pub secret: String,
}

/// An answer: status, headers, body text, body as JSON (Null when it is none).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Answer {
    pub fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// A query parameter of the Location header.
    pub fn redirect_param(&self, name: &str) -> Option<String> {
        let location = self.location();
        let query = location.split_once('?')?.1.to_owned();
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// How a request authenticates the client.
#[derive(Clone, Copy)]
pub enum ClientAuth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
    None,
}

pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl Home {
    pub async fn start() -> Home {
        Home::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut OAuthSettings)) -> Home {
        let t = TestServer::start().await.expect("server");
        for u in ["alice", "bob"] {
            t.add_user(u).await.expect("user");
        }
        t.add_device("lamp", "lamp").await.expect("device");
        t.own("alice", "lamp").await.expect("own");
        let clock = Clock::manual(1_900_000_000);
        let mut settings = OAuthSettings {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            clock: clock.clone(),
            ..OAuthSettings::default()
        };
        tweak(&mut settings);
        let gateway = HesGateway::with_settings(t.server.irsp.clone(), Tokens::default(), settings)
            .expect("gateway");
        let registered = gateway
            .oauth()
            .register_client(NewClient {
                client_id: "home-a".into(),
                name: "Home A".into(),
                redirect_uris: vec![REDIRECT.into()],
                scopes: vec![],
                audiences: vec!["https://home-c.example/cui/v1".into()],
            })
            .await
            .expect("client");
        let app = Router::new()
            .nest("/cui/v1", hestia_gateway::http::router(gateway.clone()))
            .merge(hestia_gateway::oauth::router(gateway.clone()));
        Home {
            t,
            app,
            gateway,
            clock,
            client_id: registered.client.client_id,
            secret: registered.secret,
        }
    }

    pub async fn stop(self) {
        self.t.stop().await;
    }

    pub fn basic(&self) -> ClientAuth<'_> {
        ClientAuth::Basic(&self.client_id, &self.secret)
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(req).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, uri: &str, bearer: Option<&str>) -> Answer {
        let mut req = Request::builder().method(Method::GET).uri(uri);
        if let Some(token) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(req.body(Body::empty()).expect("request")).await
    }

    /// A form POST with the client authenticated as `auth`.
    pub async fn post_form(
        &self,
        uri: &str,
        pairs: &[(&str, &str)],
        auth: ClientAuth<'_>,
    ) -> Answer {
        let mut pairs: Vec<(&str, &str)> = pairs.to_vec();
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        match auth {
            ClientAuth::Basic(id, secret) => {
                let raw = format!(
                    "{}:{}",
                    query(&[("x", id)])[2..].to_owned(),
                    &query(&[("x", secret)])[2..]
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                req = req.header(header::AUTHORIZATION, format!("Basic {encoded}"));
            }
            ClientAuth::Post(id, secret) => {
                pairs.push(("client_id", id));
                pairs.push(("client_secret", secret));
            }
            ClientAuth::None => {}
        }
        self.send(req.body(Body::from(query(&pairs))).expect("request"))
            .await
    }

    pub async fn token(&self, pairs: &[(&str, &str)]) -> Answer {
        self.post_form("/oauth/token", pairs, self.basic()).await
    }

    /// Redeems `code` with `verifier` and `redirect`.
    pub async fn redeem(&self, code: &str, verifier: &str, redirect: &str) -> Answer {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// One device-code poll.
    pub async fn poll_device(&self, device_code: &str) -> Answer {
        self.token(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
        ])
        .await
    }

    /// The authorization request's parameters for `scope` with PKCE S256 of [`VERIFIER`].
    pub fn authorize_params(&self, scope: &str) -> Vec<(String, String)> {
        [
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "xyz-123"),
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The consent form posted for `user` with `decision`: the answer (a redirect when allowed).
    pub async fn consent(
        &self,
        params: &[(String, String)],
        user: &str,
        password: &str,
        decision: &str,
    ) -> Answer {
        let mut pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.extend([
            ("username", user),
            ("password", password),
            ("decision", decision),
        ]);
        self.post_form("/oauth/authorize", &pairs, ClientAuth::None)
            .await
    }

    /// A code for alice with `scope`, through the consent screen.
    pub async fn code_for(&self, user: &str, scope: &str) -> String {
        let params = self.authorize_params(scope);
        let answer = self.consent(&params, user, PASSWORD, "allow").await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
        assert_eq!(answer.redirect_param("state").as_deref(), Some("xyz-123"));
        answer.redirect_param("code").expect("code")
    }

    /// Access and refresh token for `user` with `scope` (authorization code + PKCE).
    pub async fn tokens_for(&self, user: &str, scope: &str) -> (String, String) {
        let code = self.code_for(user, scope).await;
        let answer = self.redeem(&code, VERIFIER, REDIRECT).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        (
            answer.json["access_token"]
                .as_str()
                .expect("access")
                .to_owned(),
            answer.json["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        )
    }

    pub async fn put_property(&self, token: &str, value: Value) -> Answer {
        let req = Request::builder()
            .method(Method::PUT)
            .uri("/cui/v1/users/alice/devices/igrs:lamp/properties/on")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                serde_json::json!({ "value": value }).to_string(),
            ))
            .expect("request");
        self.send(req).await
    }
}

/// The OAuth error body with this status and `error`.
#[track_caller]
pub fn assert_oauth_error(a: &Answer, status: StatusCode, error: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(a.json["error"], error, "{}", a.text);
    assert_eq!(
        a.headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
}

/// The CUI error body `{code, message, messageId}` with this status and code.
#[track_caller]
pub fn assert_cui_error(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    let mut keys: Vec<&str> = a
        .json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message", "messageId"], "{}", a.text);
    assert_eq!(a.json["code"], code, "{}", a.text);
}

/// The claims of a JWT, undecoded from its signature.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64"),
    )
    .expect("json")
}

pub fn header_of(token: &str) -> Value {
    let h = token.split('.').next().expect("header");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .expect("b64"),
    )
    .expect("json")
}
