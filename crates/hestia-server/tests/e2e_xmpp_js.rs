//! End-to-end with @xmpp/client (xmpp.js, npm): `e2e/xmpp-js/index.js` logs two clients in over
//! STARTTLS (xmpp.js offers SCRAM-SHA-1), exchanges messages and IQs, and pings the server;
//! `e2e/xmpp-js/websocket.js` does the same over XMPP over WebSocket (RFC 7395).
//! `HESTIA_E2E_NODE_DIR` (set by `scripts/test`) is the directory whose `node_modules` holds it.

// Test helpers outside #[test] functions fail loudly too.
#![allow(clippy::expect_used)]

mod e2e;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hestia_testkit::TestServer;

#[tokio::test]
async fn xmpp_js_clients_message_iq_and_ping() {
    let Some((t, dir)) = server().await else {
        return;
    };
    run_script(t, &dir, &[], "index.js").await;
}

#[tokio::test]
async fn xmpp_js_over_websocket_messages_a_tcp_client() {
    let Some((t, dir)) = server().await else {
        return;
    };
    t.add_user("ws_alice").await.expect("ws_alice");
    t.add_user("ws_bob").await.expect("ws_bob");
    t.befriend("ws_alice", "ws_bob").await.expect("friends");
    // Node 20's global WebSocket, which xmpp.js uses, is behind this flag.
    run_script(t, &dir, &["--experimental-websocket"], "websocket.js").await;
}

/// A server and the xmpp.js directory, or `None` (the test skips, saying why) when xmpp.js
/// is not installed.
async fn server() -> Option<(TestServer, PathBuf)> {
    let dir = e2e::tool("HESTIA_E2E_NODE_DIR", "e2e/xmpp-js with node_modules")?;
    Some((
        TestServer::start().await.expect("server"),
        PathBuf::from(dir),
    ))
}

/// Runs `<dir>/<script>` under node against `t`, trusting its CA, then stops `t`.
async fn run_script(t: TestServer, dir: &Path, node_flags: &[&str], script: &str) {
    assert!(
        dir.join("node_modules/@xmpp/client").is_dir(),
        "{} has no node_modules/@xmpp/client: run `npm ci` there (scripts/test does)",
        dir.display()
    );
    let ca = t
        .server
        .ca_file
        .as_ref()
        .expect("generated CA")
        .display()
        .to_string();
    let mut args: Vec<String> = node_flags.iter().map(|f| (*f).to_owned()).collect();
    args.push(dir.join(script).display().to_string());
    e2e::run_client(
        &t,
        "node",
        &args,
        &[("NODE_EXTRA_CA_CERTS", ca)],
        Duration::from_secs(120),
    )
    .await;
    t.stop().await;
}
