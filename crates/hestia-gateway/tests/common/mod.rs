//! The home the CUI tests run against: a fresh in-process IRSP where alice owns a simulated
//! lamp, a simulated thermostat and a plug that never connects; carol may only view the lamp;
//! bob relates to nothing. The gateway's router is driven with `tower::ServiceExt::oneshot`.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

pub mod sse;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hestia_client::device::{Device, DeviceIdentity};
use hestia_client::simulator::{self, Behaviour, Kind};
use hestia_gateway::HesGateway;
use hestia_store::AccessRight;
use hestia_testkit::{PASSWORD, TestServer};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tower::ServiceExt;

pub struct Home {
    pub t: TestServer,
    pub gateway: Arc<HesGateway>,
    pub app: Router,
    pub tasks: JoinSet<()>,
}

impl Home {
    pub async fn start() -> Home {
        Home::start_with(hestia_gateway::limits::CuiConfig::default()).await
    }

    /// The home with the HTTP API's limits set by `limits`.
    pub async fn start_with(limits: hestia_gateway::limits::CuiConfig) -> Home {
        let t = TestServer::start().await.expect("server");
        for u in ["alice", "bob", "carol"] {
            t.add_user(u).await.expect("user");
        }
        for (id, kind) in [
            ("lamp", "lamp"),
            ("thermostat", "thermostat"),
            ("plug", "plug"),
        ] {
            t.add_device(id, kind).await.expect("device");
            t.own("alice", id).await.expect("own");
        }
        t.share("carol", "lamp", AccessRight::View)
            .await
            .expect("share");
        let mut tasks = JoinSet::new();
        for kind in [Kind::Lamp, Kind::Thermostat] {
            let identity = DeviceIdentity::new(kind.name(), PASSWORD);
            let device = Device::start(t.options(), identity, kind.description())
                .await
                .expect("device online");
            tasks.spawn(async move {
                let _ = simulator::run(device, kind, Behaviour::default()).await;
            });
        }
        let gateway = HesGateway::with_limits(
            t.server.irsp.clone(),
            hestia_gateway::auth::Tokens::default(),
            hestia_gateway::oauth::OAuthSettings::default(),
            hestia_gateway::limits::Limits::new(limits, true),
        )
        .expect("gateway");
        tasks.spawn(gateway.listen());
        let app = hestia_gateway::http::router(gateway.clone());
        Home {
            t,
            gateway,
            app,
            tasks,
        }
    }

    /// Connects the plug, which the home leaves offline, as a device of its kind.
    pub async fn connect_plug(&self) -> Device {
        Device::start(
            self.t.options(),
            DeviceIdentity::new("plug", PASSWORD),
            Kind::Plug.description(),
        )
        .await
        .expect("plug online")
    }

    pub async fn stop(mut self) {
        self.tasks.abort_all();
        self.t.stop().await;
    }

    /// One request; the status and the JSON body (Null when there is none).
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Body::from(body.unwrap_or_default().to_owned()))
            .expect("request");
        self.send(req).await
    }

    /// Sends a request as built; the status and the JSON body (Null when there is none).
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(req).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn sign_in(&self, user: &str) -> String {
        let body = json!({ "username": user, "password": PASSWORD }).to_string();
        let (status, json) = self.call(Method::POST, "/sign-in", None, Some(&body)).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json["token"].as_str().expect("token").to_owned()
    }

    pub async fn get(
        &self,
        token: &str,
        user: &str,
        device: &str,
        property: &str,
    ) -> (StatusCode, Value) {
        let uri = format!("/users/{user}/devices/{device}/properties/{property}");
        self.call(Method::GET, &uri, Some(token), None).await
    }

    pub async fn put(
        &self,
        token: &str,
        user: &str,
        device: &str,
        property: &str,
        value: Value,
    ) -> (StatusCode, Value) {
        let uri = format!("/users/{user}/devices/{device}/properties/{property}");
        let body = json!({ "value": value }).to_string();
        self.call(Method::PUT, &uri, Some(token), Some(&body)).await
    }
}

/// The error body is exactly `{code, message, messageId}` with this status and code.
#[track_caller]
pub fn assert_error((status, body): (StatusCode, Value), want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    let obj = body.as_object().expect("an error body is an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message", "messageId"], "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert!(!body["messageId"].as_str().unwrap_or_default().is_empty());
}
