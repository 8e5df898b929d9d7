//! Sharing and verification codes through the CUI router in process (`docs/cui.md` §Sharing):
//! alice owns a lamp and a camera (offline: sharing never asks the device), carol may view the
//! lamp, dave may control it, and bob has asked for the lamp at `control`. Each check names
//! the exact status and stable `code`, and each change is also read back from the IRSP's own
//! relationship data.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hestia_client::Element;
use hestia_gateway::HesGateway;
use hestia_proto::igrs::NS_RELATION;
use hestia_proto::ns;
use hestia_store::AccessRight;
use hestia_testkit::{PASSWORD, TestServer};
use serde_json::{Value, json};
use tower::ServiceExt;

mod common;
use common::assert_error;

struct Home {
    t: TestServer,
    app: Router,
}

impl Home {
    async fn start() -> Home {
        let t = TestServer::start().await.expect("server");
        for u in ["alice", "bob", "carol", "dave", "erin"] {
            t.add_user(u).await.expect("user");
        }
        for (id, kind) in [("lamp", "lamp"), ("camera", "camera-motion")] {
            t.add_device(id, kind).await.expect("device");
            t.own("alice", id).await.expect("own");
        }
        t.share("carol", "lamp", AccessRight::View)
            .await
            .expect("carol");
        t.share("dave", "lamp", AccessRight::Control)
            .await
            .expect("dave");
        // Bob asks for the lamp as his app would: a subscription request naming a right.
        let mut bob = t.login("bob").await.expect("bob");
        let ask = Element::new("presence", ns::CLIENT)
            .with_attr("to", "lamp@localhost")
            .with_attr("type", "subscribe")
            .with_child(Element::new("relation", NS_RELATION).with_attr("right", "control"));
        bob.send(&ask).await.expect("ask");
        bob.ping().await.expect("handled");
        let gateway = HesGateway::new(t.server.irsp.clone()).expect("gateway");
        let app = hestia_gateway::http::router(gateway);
        Home { t, app }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let response = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body)).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn sign_in(&self, user: &str) -> String {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/sign-in")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({ "username": user, "password": PASSWORD }).to_string(),
            ))
            .expect("request");
        let response = self.app.clone().oneshot(req).await.expect("infallible");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let json: Value = serde_json::from_slice(&bytes).expect("json");
        json["token"].as_str().expect("token").to_owned()
    }

    async fn shares(&self, token: &str, user: &str, device: &str) -> (StatusCode, Value) {
        let uri = format!("/users/{user}/devices/igrs:{device}/shares");
        self.call(Method::GET, &uri, token, None).await
    }

    async fn share(
        &self,
        token: &str,
        user: &str,
        device: &str,
        with: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let uri = format!("/users/{user}/devices/igrs:{device}/shares/{with}");
        self.call(Method::PUT, &uri, token, Some(body)).await
    }

    async fn unshare(
        &self,
        token: &str,
        user: &str,
        device: &str,
        with: &str,
    ) -> (StatusCode, Value) {
        let uri = format!("/users/{user}/devices/igrs:{device}/shares/{with}");
        self.call(Method::DELETE, &uri, token, None).await
    }

    async fn reset(&self, token: &str, user: &str, device: &str) -> (StatusCode, Value) {
        let uri = format!("/users/{user}/devices/igrs:{device}/verification-code");
        self.call(Method::POST, &uri, token, None).await
    }

    /// The right the IRSP records for `user` on `device`.
    async fn right(&self, user: &str, device: &str) -> Option<AccessRight> {
        let irsp = &self.t.server.irsp;
        irsp.relations
            .snapshot(&irsp.store, device)
            .await
            .expect("snapshot")
            .right(user)
    }
}

#[tokio::test]
async fn the_owner_lists_grants_and_requests() {
    let h = Home::start().await;
    let alice = h.sign_in("alice").await;
    let (status, body) = h.shares(&alice, "alice", "lamp").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "deviceId": "igrs:lamp",
            "shares": [
                {"userId": "alice", "right": "owner"},
                {"userId": "carol", "right": "view"},
                {"userId": "dave", "right": "control"},
            ],
            "requests": [{"userId": "bob", "right": "control"}],
        })
    );
    h.t.stop().await;
}

#[tokio::test]
async fn sharing_answers_a_request_and_changes_a_right() {
    let h = Home::start().await;
    let alice = h.sign_in("alice").await;
    // Bob asked for control; alice shares at view: the request is answered with her right.
    let (status, body) = h
        .share(&alice, "alice", "lamp", "bob", json!({"right": "view"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"deviceId": "igrs:lamp", "userId": "bob", "right": "view"})
    );
    assert_eq!(h.right("bob", "lamp").await, Some(AccessRight::View));
    let bob = h.sign_in("bob").await;
    let (_, devices) = h.call(Method::GET, "/users/bob/devices", &bob, None).await;
    assert_eq!(devices["devices"][0]["id"], "igrs:lamp", "{devices}");
    assert_eq!(devices["devices"][0]["right"], "view", "{devices}");
    // A user who holds a right gets a new one.
    let (status, _) = h
        .share(
            &alice,
            "alice",
            "lamp",
            "carol",
            json!({"right": "control"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.right("carol", "lamp").await, Some(AccessRight::Control));
    let (_, listed) = h.shares(&alice, "alice", "lamp").await;
    assert_eq!(listed["requests"], json!([]), "{listed}");
    h.t.stop().await;
}

#[tokio::test]
async fn unsharing_releases_a_user_and_declines_a_request() {
    let h = Home::start().await;
    let alice = h.sign_in("alice").await;
    let (status, body) = h.unshare(&alice, "alice", "lamp", "carol").await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(h.right("carol", "lamp").await, None);
    let (status, _) = h.unshare(&alice, "alice", "lamp", "bob").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = h.shares(&alice, "alice", "lamp").await;
    assert_eq!(listed["requests"], json!([]), "declined: {listed}");
    assert_error(
        h.unshare(&alice, "alice", "lamp", "carol").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    h.t.stop().await;
}

#[tokio::test]
async fn the_owner_resets_a_code_that_then_binds() {
    let h = Home::start().await;
    let alice = h.sign_in("alice").await;
    let (status, body) = h.reset(&alice, "alice", "camera").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deviceId"], "igrs:camera");
    let code = body["code"].as_str().expect("code").to_owned();
    assert!(
        code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    // The new code binds erin (the code holder's right); the old one no longer does.
    let mut erin = h.t.login("erin").await.expect("erin");
    let relate = |code: &str| {
        Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("to", "localhost")
            .with_child(
                Element::new("relate", NS_RELATION)
                    .with_attr("device", "camera@localhost")
                    .with_child(Element::new("code", NS_RELATION).with_text(code)),
            )
    };
    let old = erin.iq(relate("123456")).await.expect_err("the old code");
    assert!(format!("{old:?}").contains("101"), "{old:?}");
    let new = erin.iq(relate(&code)).await.expect("answer");
    assert_eq!(new.attr("type"), Some("result"), "{new}");
    h.t.stop().await;
}

#[tokio::test]
async fn every_refusal_has_its_code() {
    let h = Home::start().await;
    let (alice, carol, dave, bob) = (
        h.sign_in("alice").await,
        h.sign_in("carol").await,
        h.sign_in("dave").await,
        h.sign_in("bob").await,
    );
    let view = json!({"right": "view"});
    // An unrelated device is not found, whatever the operation.
    assert_error(
        h.shares(&bob, "bob", "lamp").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        h.share(&bob, "bob", "camera", "erin", view.clone()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        h.reset(&bob, "bob", "lamp").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        h.shares(&alice, "alice", "nothing").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let uri = "/users/alice/devices/mqtt:lamp/shares";
    assert_error(
        h.call(Method::GET, uri, &alice, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // A related user who is not the owner (or an admin) may not manage sharing.
    assert_error(
        h.shares(&carol, "carol", "lamp").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        h.share(&dave, "dave", "lamp", "erin", view.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        h.unshare(&dave, "dave", "lamp", "carol").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        h.reset(&dave, "dave", "lamp").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(
        h.right("carol", "lamp").await,
        Some(AccessRight::View),
        "nothing changed"
    );
    // Another user's path.
    assert_error(
        h.shares(&carol, "alice", "lamp").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // The owner's own right changes only by transfer (IGRS 105).
    assert_error(
        h.share(&alice, "alice", "lamp", "alice", view.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        h.unshare(&alice, "alice", "lamp", "alice").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // A user who neither holds a right nor asked (IGRS 103), or does not exist.
    assert_error(
        h.share(&alice, "alice", "camera", "erin", view.clone())
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_error(
        h.share(&alice, "alice", "camera", "nobody", view.clone())
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_eq!(h.right("erin", "camera").await, None);
    // Bad rights and bodies.
    for body in [
        json!({"right": "owner"}),
        json!({"right": "admin"}),
        json!({"right": "View"}),
        json!({"right": 1}),
        json!({}),
        json!({"right": "view", "x": 1}),
    ] {
        assert_error(
            h.share(&alice, "alice", "lamp", "carol", body.clone())
                .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
    }
    assert_error(
        h.share(&alice, "alice", "lamp", "no%20one", view.clone())
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let uri = "/users/alice/devices/igrs:lamp/verification-code";
    assert_error(
        h.call(Method::GET, uri, &alice, None).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        h.call(Method::POST, uri, "bogus", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_eq!(
        h.right("carol", "lamp").await,
        Some(AccessRight::View),
        "nothing changed"
    );
    h.t.stop().await;
}

#[tokio::test]
async fn a_user_asks_and_the_owner_sees_the_request() {
    let h = Home::start().await;
    let (alice, erin) = (h.sign_in("alice").await, h.sign_in("erin").await);
    let ask = |device: &str, right: &str| json!({"deviceId": device, "right": right});
    let uri = "/users/erin/device-requests";
    let (status, body) = h
        .call(Method::POST, uri, &erin, Some(ask("igrs:camera", "view")))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"deviceId": "igrs:camera", "right": "view"}));
    let (_, listed) = h.shares(&alice, "alice", "camera").await;
    assert_eq!(
        listed["requests"],
        json!([{"userId": "erin", "right": "view"}]),
        "{listed}"
    );
    let (status, _) = h
        .share(&alice, "alice", "camera", "erin", json!({"right": "view"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.right("erin", "camera").await, Some(AccessRight::View));
    // Asking again with access is a conflict; a bad right, id or body is a bad request.
    let refusals = [
        (
            uri,
            ask("igrs:camera", "view"),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            uri,
            ask("igrs:lamp", "owner"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            uri,
            ask("lamp", "view"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            uri,
            json!({"deviceId": "igrs:lamp"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            uri,
            ask("mqtt:lamp", "view"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/users/alice/device-requests",
            ask("igrs:lamp", "view"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ];
    for (path, body, status, code) in refusals {
        assert_error(
            h.call(Method::POST, path, &erin, Some(body)).await,
            status,
            code,
        );
    }
    // A device nobody has is answered as any unanswered request: accepted, and nothing more.
    let (status, _) = h
        .call(Method::POST, uri, &erin, Some(ask("igrs:nothing", "view")))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    h.t.stop().await;
}
