//! End-to-end with @xmpp/client (xmpp.js, npm): `e2e/xmpp-js/index.js` logs two clients in over
//! STARTTLS (xmpp.js offers SCRAM-SHA-1), exchanges messages and IQs, and pings the server.
//! `HESTIA_E2E_NODE_DIR` (set by `scripts/test`) is the directory whose `node_modules` holds it.

// Test helpers outside #[test] functions fail loudly too.
#![allow(clippy::expect_used)]

mod e2e;

use std::path::PathBuf;
use std::time::Duration;

use hestia_testkit::TestServer;

#[tokio::test]
async fn xmpp_js_clients_message_iq_and_ping() {
    let Some(dir) = e2e::tool("HESTIA_E2E_NODE_DIR", "e2e/xmpp-js with node_modules") else {
        return;
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("node_modules/@xmpp/client").is_dir(),
        "{} has no node_modules/@xmpp/client: run `npm ci` there (scripts/test does)",
        dir.display()
    );
    let t = TestServer::start().await.expect("server");
    let ca = t
        .server
        .ca_file
        .as_ref()
        .expect("generated CA")
        .display()
        .to_string();
    e2e::run_client(
        &t,
        "node",
        &[dir.join("index.js").display().to_string()],
        &[("NODE_EXTRA_CA_CERTS", ca)],
        Duration::from_secs(120),
    )
    .await;
    t.stop().await;
}
