//! A Server-Sent Events stream of `/users/{u}/events`, read as a client reads it.

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::http::{Request, StatusCode};
use futures_util::StreamExt;
use serde_json::Value;
use tower::ServiceExt;

use super::Home;

/// A Server-Sent Events stream as the client reads it.
pub struct EventStream {
    body: BodyDataStream,
    buffered: String,
}

impl EventStream {
    pub async fn open(home: &Home, token: &str, user: &str) -> EventStream {
        let req = Request::builder()
            .uri(format!("/users/{user}/events"))
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let response = home.app.clone().oneshot(req).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "an SSE stream"
        );
        EventStream {
            body: response.into_body().into_data_stream(),
            buffered: String::new(),
        }
    }

    /// The next SSE message of type `event` or `result`: its id and its envelope.
    pub async fn next(&mut self) -> (String, Value) {
        tokio::time::timeout(Duration::from_secs(10), self.next_message())
            .await
            .expect("a notification within 10 s")
    }

    async fn next_message(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffered.find("\n\n") {
                let message: String = self.buffered.drain(..end + 2).collect();
                let field = |name: &str| {
                    message
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim_start().to_owned())
                };
                if matches!(field("event:").as_deref(), Some("event" | "result")) {
                    let data = field("data:").expect("data");
                    let id = field("id:").expect("id");
                    return (id, serde_json::from_str(&data).expect("envelope json"));
                }
                continue;
            }
            let chunk = self.body.next().await.expect("stream open").expect("chunk");
            self.buffered
                .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }

    /// Nothing more arrives within `wait`.
    pub async fn assert_quiet(&mut self, wait: Duration) {
        if let Ok((_, envelope)) = tokio::time::timeout(wait, self.next_message()).await {
            panic!("expected no notification, got {envelope}");
        }
    }
}
