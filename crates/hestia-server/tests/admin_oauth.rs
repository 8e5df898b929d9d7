//! The gateway's OAuth clients and keys through the admin API, and the authorization server's
//! routes at the HTTP port's root (ISO/IEC 10192-4-3 §8). The flows themselves are tested in
//! process in `crates/hestia-gateway/tests/oauth_*.rs`.

mod conversation;

use conversation::*;
use hestia_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn the_operator_registers_lists_and_deletes_oauth_clients() {
    let t = TestServer::start().await.expect("server");
    let admin = Admin::of(&t);
    let new = json!({
        "client_id": "home-a", "name": "Home A",
        "redirect_uris": ["https://home-a.example/oauth/callback"], "scopes": ["devices:read"],
    });
    let created = admin.post("/admin/v1/oauth/clients", new.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.json()["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_eq!(secret.len(), 43);
    assert_eq!(created.json()["scopes"], json!(["devices:read"]));
    assert_eq!(admin.post("/admin/v1/oauth/clients", new).await.status, 409);
    let bad =
        json!({ "client_id": "home-b", "name": "B", "redirect_uris": ["http://b.example/cb"] });
    let refused = admin.post("/admin/v1/oauth/clients", bad).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let list = admin.get("/admin/v1/oauth/clients").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["clients"][0]["client_id"], "home-a");
    assert!(
        !list.text.contains(&secret),
        "the secret is shown only once"
    );
    let anonymous = admin.with_token(None);
    assert_eq!(anonymous.get("/admin/v1/oauth/clients").await.status, 401);
    let rotated = admin.post("/admin/v1/oauth/keys/rotate", json!({})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let kid = rotated.json()["kid"].as_str().expect("kid").to_owned();
    let jwks = anonymous.get("/oauth/jwks.json").await;
    assert_eq!(jwks.json()["keys"][0]["kid"], kid.as_str());
    let meta = anonymous
        .get("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(meta.status, 200);
    let issuer = format!("http://{}", t.server.http_addr.expect("http"));
    assert!(
        meta.json()["issuer"]
            .as_str()
            .is_some_and(|i| i.starts_with("http://127.0.0.1:")),
        "{} (bound at {issuer})",
        meta.text
    );
    assert_eq!(
        admin.delete("/admin/v1/oauth/clients/home-a").await.status,
        200
    );
    assert_eq!(
        admin.delete("/admin/v1/oauth/clients/home-a").await.status,
        404
    );
    t.stop().await;
}

#[tokio::test]
async fn the_operator_adds_peer_gateways_while_the_server_runs() {
    let t = TestServer::start().await.expect("server");
    let admin = Admin::of(&t);
    let peer = json!({
        "name": "home-b", "issuer": "https://home-b.example", "client_id": "home-a",
        "client_secret": "s3cret-given-by-b", "peer_client_id": "home-b",
    });
    let added = admin.post("/admin/v1/federation/peers", peer.clone()).await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(
        admin.post("/admin/v1/federation/peers", peer).await.status,
        409
    );
    let bad = json!({
        "name": "Home_C", "issuer": "ftp://c", "client_id": "", "client_secret": "x",
        "peer_client_id": "c",
    });
    let refused = admin.post("/admin/v1/federation/peers", bad).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.text.contains("federation.peers.Home_C"),
        "{}",
        refused.text
    );
    let list = admin.get("/admin/v1/federation/peers").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["peers"][0]["issuer"], "https://home-b.example");
    assert!(!list.text.contains("s3cret"), "the secret is never shown");
    let anonymous = admin.with_token(None);
    assert_eq!(
        anonymous.get("/admin/v1/federation/peers").await.status,
        401
    );
    // The peer is a cluster now: users see it among the peers they may link to.
    assert!(
        t.server
            .gateway
            .federation()
            .peers()
            .iter()
            .any(|p| p.name == "home-b")
    );
    assert!(t.server.gateway.clusters().named("home-b").is_some());
    t.stop().await;
}
