//! The unauthenticated probes of the HTTP port: GET /health and /ready are 200, and /metrics is
//! Prometheus text that counts routed and offline-stored stanzas after some traffic.

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;

#[tokio::test]
async fn health_ready_and_metrics() {
    let t = TestServer::start().await.expect("server");
    let probe = Admin::of(&t).with_token(None);
    assert_eq!(probe.get("/health").await.status, 200);
    assert_eq!(probe.get("/ready").await.status, 200);

    t.add_user("alice").await.expect("alice");
    let mut alice = t.login("alice").await.expect("alice");
    alice.ping().await.expect("ping");
    let to = format!("alice@{}", t.domain());
    alice.send(&chat(&to, "note to self")).await.expect("send");
    // No available connection: the note waits in offline storage for alice's next presence.
    alice.ping().await.expect("ping after the message");
    let held = t
        .server
        .irsp
        .store
        .count_offline("alice")
        .await
        .expect("store");
    assert_eq!(held, 1);

    let metrics = probe.get("/metrics").await;
    assert_eq!(metrics.status, 200, "{metrics:?}");
    let routed: Vec<&str> = metrics
        .text
        .lines()
        .filter(|l| l.starts_with("hestia_stanzas_routed_total"))
        .collect();
    assert!(
        routed.iter().any(|l| l.contains("kind=\"iq\"")),
        "{routed:?}"
    );
    assert!(
        routed.iter().any(|l| l.contains("kind=\"message\"")),
        "{routed:?}"
    );
    assert!(
        metrics
            .text
            .lines()
            .any(|l| l.starts_with("hestia_offline_stored_total")),
        "{}",
        metrics.text
    );
    t.stop().await;
}
