//! Two gateways federating over live HTTP (ISO/IEC 10192-4-3 §8, §9): home A on 127.0.0.1 and
//! home B on 127.0.0.2 (so a browser's cookies would not mix). Alice at A links her identity
//! alicia at B by the authorization-code grant with PKCE, going through B's consent screen as a
//! browser would; from A she then lists, reads, sets and subscribes to B's lamp, B's events
//! reach her at A as webhooks, A refreshes its token as it expires, and unlinking revokes the
//! tokens of both sides and ends the subscriptions of both sides.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use hestia_client::device::{Device, DeviceIdentity};
use hestia_client::simulator::{self, Behaviour, Kind};
use hestia_gateway::HesGateway;
use hestia_gateway::federation::Peer;
use hestia_gateway::oauth::NewClient;
use hestia_testkit::{PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// An HTTP answer: status, headers and JSON body (Null when none or not JSON).
struct Answer {
    status: StatusCode,
    location: Option<String>,
    /// The `name=value` of a Set-Cookie, as a browser would send it back.
    cookie: Option<String>,
    json: Value,
    text: String,
}

struct Browser(reqwest::Client);

impl Browser {
    fn new() -> Browser {
        Browser(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        )
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.send_with_cookie(method, url, token, body, None).await
    }

    async fn send_with_cookie(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
        cookie: Option<&str>,
    ) -> Answer {
        let mut req = self.0.request(method, url);
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let answer = req.send().await.expect("answer");
        let status = answer.status();
        let location = answer
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let cookie = answer
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .map(str::to_owned);
        let text = answer.text().await.expect("body");
        Answer {
            status,
            location,
            cookie,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    async fn form(&self, url: &str, pairs: &[(String, String)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let answer = self
            .0
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("answer");
        let status = answer.status();
        let location = answer
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let text = answer.text().await.expect("body");
        Answer {
            status,
            location,
            cookie: None,
            json: Value::Null,
            text,
        }
    }

    async fn sign_in(&self, base: &str, user: &str) -> String {
        let a = self
            .send(
                Method::POST,
                &format!("{base}/cui/v1/sign-in"),
                None,
                Some(json!({ "username": user, "password": PASSWORD })),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        a.json["token"].as_str().expect("token").to_owned()
    }
}

/// Two homes, each registered at the other as an OAuth client and as a peer.
struct Homes {
    a: TestServer,
    b: TestServer,
    /// Home B as a peer of home A, for registering it again at a restarted A.
    b_at_a: Peer,
    tasks: JoinSet<()>,
}

async fn homes() -> Homes {
    let a = TestServer::start().await.expect("home A");
    let b = TestServer::start_with(|c| {
        c.http.listen = "127.0.0.2:0".into();
        // Short-lived access tokens, so A must refresh within the test.
        c.oauth.access_token_ttl = hestia_config::Duration::secs(3);
    })
    .await
    .expect("home B");
    a.add_user("alice").await.expect("alice");
    b.add_user("alicia").await.expect("alicia");
    b.add_device("lamp", "lamp").await.expect("lamp");
    b.own("alicia", "lamp").await.expect("own");
    let mut tasks = JoinSet::new();
    let kind = Kind::Lamp;
    let lamp = Device::start(
        b.options(),
        DeviceIdentity::new("lamp", PASSWORD),
        kind.description(),
    )
    .await
    .expect("lamp online");
    tasks.spawn(async move {
        let _ = simulator::run(lamp, kind, Behaviour::default()).await;
    });

    let (ga, gb) = (&a.server.gateway, &b.server.gateway);
    let a_at_b = gb
        .oauth()
        .register_client(NewClient {
            client_id: "home-a".into(),
            name: "Home A".into(),
            redirect_uris: vec![ga.federation_redirect_uri()],
            scopes: Vec::new(),
            audiences: Vec::new(),
        })
        .await
        .expect("A registered at B");
    let b_at_a = ga
        .oauth()
        .register_client(NewClient {
            client_id: "home-b".into(),
            name: "Home B".into(),
            redirect_uris: vec![gb.federation_redirect_uri()],
            scopes: Vec::new(),
            audiences: Vec::new(),
        })
        .await
        .expect("B registered at A");
    let b_at_a_peer = Peer {
        name: "home-b".into(),
        issuer: gb.oauth().settings().issuer.clone(),
        client_id: "home-a".into(),
        client_secret: a_at_b.secret.clone(),
        peer_client_id: "home-b".into(),
    };
    ga.add_peer(b_at_a_peer.clone()).await.expect("peer B at A");
    gb.add_peer(Peer {
        name: "home-a".into(),
        issuer: ga.oauth().settings().issuer.clone(),
        client_id: "home-b".into(),
        client_secret: b_at_a.secret.clone(),
        peer_client_id: "home-a".into(),
    })
    .await
    .expect("peer A at B");
    Homes {
        a,
        b,
        b_at_a: b_at_a_peer,
        tasks,
    }
}

/// Alice starts linking at A and consents at B as alicia, like a browser: where B sends the
/// browser back, and the binding cookie A set.
async fn consent(browser: &Browser, h: &Homes, token_a: &str) -> (String, String) {
    let (a, b) = (h.a.http_base(), h.b.http_base());
    let started = browser
        .send(
            Method::POST,
            &format!("{a}/cui/v1/users/alice/federations"),
            Some(token_a),
            Some(json!({ "peer": "home-b" })),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let cookie = started.cookie.clone().expect("a binding cookie");
    assert!(cookie.starts_with("hestia_link="), "{cookie}");
    assert!(
        !started.text.contains(&cookie[12..]),
        "the binding stays out of the body"
    );
    let consent_url = started.json["authorizationUrl"].as_str().expect("url");
    assert!(
        consent_url.starts_with(&format!("{b}/oauth/authorize?")),
        "{consent_url}"
    );

    let screen = browser.send(Method::GET, consent_url, None, None).await;
    assert_eq!(screen.status, StatusCode::OK, "{}", screen.text);
    assert!(
        screen.text.contains("Home A"),
        "the consent screen names the client"
    );
    let query = consent_url.split_once('?').expect("query").1;
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    pairs.extend([
        ("username".into(), "alicia".into()),
        ("password".into(), PASSWORD.into()),
        ("decision".into(), "allow".into()),
    ]);
    let decided = browser.form(&format!("{b}/oauth/authorize"), &pairs).await;
    assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.text);
    let back = decided.location.expect("redirect to A");
    assert!(
        back.starts_with(&format!("{a}/cui/v1/federation/callback?")),
        "{back}"
    );
    (back, cookie)
}

/// Alice links at A, consenting at B as alicia like a browser; the link's id.
async fn link(browser: &Browser, h: &Homes, token_a: &str) -> String {
    let a = h.a.http_base();
    let (back, cookie) = consent(browser, h, token_a).await;
    let done = browser
        .send_with_cookie(Method::GET, &back, None, None, Some(&cookie))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(done.location.as_deref(), Some("/#federations"));
    // The state is good once: the same return again is refused.
    let again = browser
        .send_with_cookie(Method::GET, &back, None, None, Some(&cookie))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.text);

    let listed = browser
        .send(
            Method::GET,
            &format!("{a}/cui/v1/users/alice/federations"),
            Some(token_a),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let links = listed.json["federations"].as_array().expect("links");
    assert_eq!(links.len(), 1, "{}", listed.text);
    assert_eq!(links[0]["peer"], "home-b");
    assert_eq!(links[0]["remoteUser"], "alicia");
    assert_eq!(links[0]["direction"], "outbound");
    links[0]["linkId"].as_str().expect("id").to_owned()
}

/// Alice subscribes at A to B's lamp's property changes.
async fn subscribe_to_the_lamp(browser: &Browser, a: &str, token_a: &str) {
    let made = browser
        .send(
            Method::POST,
            &format!("{a}/cui/v1/users/alice/subscriptions"),
            Some(token_a),
            Some(json!({ "deviceId": "home-b:igrs:lamp", "event": "property" })),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
}

/// The next notification alice hears at A about `device`, within 10 s.
async fn next_about(
    rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<hestia_gateway::events::Notification>>,
    device: &str,
    event: &str,
) -> Value {
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = rx.recv().await.expect("stream open");
            let envelope: Value = serde_json::from_str(&n.envelope).expect("json");
            if envelope["body"]["deviceId"] == device && envelope["body"]["event"] == event {
                return envelope;
            }
        }
    })
    .await;
    heard.expect("a notification within 10 s")
}

#[tokio::test]
async fn alice_links_her_identity_at_home_b_and_uses_its_devices_from_home_a() {
    let mut h = homes().await;
    let browser = Browser::new();
    let (a, b) = (h.a.http_base(), h.b.http_base());
    let token_a = browser.sign_in(&a, "alice").await;
    let token_b = browser.sign_in(&b, "alicia").await;
    let link_id = link(&browser, &h, &token_a).await;

    // B knows the link too: its half, made by the peer, for alicia.
    let at_b = browser
        .send(
            Method::GET,
            &format!("{b}/cui/v1/users/alicia/federations"),
            Some(&token_b),
            None,
        )
        .await;
    assert_eq!(
        at_b.json["federations"][0]["direction"], "inbound",
        "{}",
        at_b.text
    );
    assert_eq!(at_b.json["federations"][0]["remoteUser"], "alice");

    // List: B's lamp among alice's devices at A, under the peer's cluster name.
    let lamp = "home-b:igrs:lamp";
    let list = browser
        .send(
            Method::GET,
            &format!("{a}/cui/v1/users/alice/devices"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let device = list.json["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["id"] == lamp)
        .cloned()
        .unwrap_or_else(|| panic!("no {lamp} in {}", list.text));
    assert_eq!(device["cluster"], "home-b");
    assert_eq!(device["online"], true);
    assert_eq!(device["right"], "owner");

    // Read and set, carried to B's lamp.
    let property = format!("{a}/cui/v1/users/alice/devices/{lamp}/properties/on");
    let read = browser
        .send(Method::GET, &property, Some(&token_a), None)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.json["deviceId"], lamp);
    let was_on = read.json["value"].as_bool().expect("a boolean");
    let set = browser
        .send(
            Method::PUT,
            &property,
            Some(&token_a),
            Some(json!({ "value": !was_on })),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.json["value"], !was_on);
    let at_b_now = browser
        .send(
            Method::GET,
            &format!("{b}/cui/v1/users/alicia/devices/igrs:lamp/properties/on"),
            Some(&token_b),
            None,
        )
        .await;
    assert_eq!(at_b_now.json["value"], !was_on, "B's lamp itself changed");

    // Subscribe at A; the change alicia makes at B reaches alice at A by B's webhook.
    let mut heard = h.a.server.gateway.events().stream("alice");
    subscribe_to_the_lamp(&browser, &a, &token_a).await;
    let at_b_subs = h.b.server.gateway.events().list("alicia");
    assert_eq!(at_b_subs.len(), 1, "A subscribed at B through the link");
    let switched = browser
        .send(
            Method::PUT,
            &format!("{b}/cui/v1/users/alicia/devices/igrs:lamp/properties/on"),
            Some(&token_b),
            Some(json!({ "value": was_on })),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.text);
    let event = next_about(&mut heard, lamp, "property").await;
    assert_eq!(
        event["body"]["payload"],
        json!({ "property": "on", "value": was_on })
    );
    assert_eq!(event["userId"], "alice");

    // A's token at B lives 3 s: past it, A refreshes (rotating) and goes on.
    let link =
        h.a.server
            .gateway
            .federation()
            .links()
            .get(&link_id)
            .expect("link");
    let first_token = link.tokens.access_token().await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let after = browser
        .send(Method::GET, &property, Some(&token_a), None)
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    let refreshed = link.tokens.access_token().await;
    assert_ne!(refreshed, first_token, "the access token was refreshed");

    // Unlink: both grants revoked, both sides' subscriptions and links gone.
    let inbound = h.b.server.gateway.federation().links().all();
    assert_eq!(inbound.len(), 1);
    let callback_token = inbound[0].tokens.access_token().await;
    let unlinked = browser
        .send(
            Method::DELETE,
            &format!("{a}/cui/v1/users/alice/federations/{link_id}"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(unlinked.status, StatusCode::NO_CONTENT, "{}", unlinked.text);

    let refused = browser
        .send(
            Method::GET,
            &format!("{b}/cui/v1/users/alicia/devices"),
            Some(&refreshed),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    assert_eq!(refused.json["code"], "unauthorized");
    let refused = browser
        .send(
            Method::GET,
            &format!("{a}/cui/v1/users/alice/subscriptions"),
            Some(&callback_token),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    assert!(h.b.server.gateway.events().list("alicia").is_empty());
    assert!(h.a.server.gateway.events().list("alice").is_empty());
    assert!(h.b.server.gateway.federation().links().all().is_empty());
    assert!(h.a.server.gateway.federation().links().all().is_empty());
    let list = browser
        .send(
            Method::GET,
            &format!("{a}/cui/v1/users/alice/devices"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.text.contains("home-b:"), "{}", list.text);
    let gone = browser
        .send(Method::GET, &property, Some(&token_a), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text);

    h.tasks.abort_all();
    h.a.stop().await;
    h.b.stop().await;
}

/// One request to a gateway's router in-process, as a client of a restarted gateway.
async fn call(
    gateway: &std::sync::Arc<HesGateway>,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    use tower::ServiceExt as _;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            axum::body::Body::from(b.to_string())
        }
        None => axum::body::Body::empty(),
    };
    let answer = hestia_gateway::http::router(gateway.clone())
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("answer");
    let status = answer.status();
    let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The ids of alicia's subscriptions at B.
fn subscriptions_at_b(h: &Homes) -> Vec<String> {
    h.b.server
        .gateway
        .events()
        .list("alicia")
        .into_iter()
        .map(|s| s.subscription_id)
        .collect()
}

#[tokio::test]
async fn links_outlive_a_restart_and_keep_their_peer_subscriptions_in_step() {
    let mut h = homes().await;
    let browser = Browser::new();
    let a = h.a.http_base();
    let token_a = browser.sign_in(&a, "alice").await;
    let link_id = link(&browser, &h, &token_a).await;
    let lamp = "home-b:igrs:lamp";
    subscribe_to_the_lamp(&browser, &a, &token_a).await;
    let first = subscriptions_at_b(&h);
    assert_eq!(first.len(), 1);

    // B forgets the subscription (as a restarted B would): A's upkeep makes it again.
    h.b.server
        .gateway
        .events()
        .cancel("alicia", &first[0])
        .expect("cancel at B");
    h.a.server.gateway.maintain_federation().await;
    let again = subscriptions_at_b(&h);
    assert_eq!(again.len(), 1, "A subscribed again");
    assert_ne!(again, first);
    // Upkeep of a subscription B still has renews it in place.
    h.a.server.gateway.maintain_federation().await;
    assert_eq!(subscriptions_at_b(&h), again, "renewed, not made anew");

    // A restarts: a new gateway over the same store knows the link once B is its peer again,
    // with the tokens as last refreshed (B's live 3 s, so this also refreshes them).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let restarted = HesGateway::with_settings(
        h.a.server.irsp.clone(),
        hestia_gateway::auth::Tokens::default(),
        h.a.server.gateway.oauth().settings().clone(),
    )
    .expect("gateway");
    assert!(restarted.federation().links().all().is_empty());
    restarted
        .add_peer(h.b_at_a.clone())
        .await
        .expect("peer again");
    let restored = restarted
        .federation()
        .links()
        .get(&link_id)
        .expect("link restored");
    assert_eq!(restored.remote_user, "alicia");
    assert_eq!(restored.remote_subscriptions.lock().await.len(), 1);
    let (status, signed_in) = call(
        &restarted,
        Method::POST,
        "/sign-in",
        None,
        Some(json!({ "username": "alice", "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");
    let token = signed_in["token"].as_str().expect("token").to_owned();
    let (status, read) = call(
        &restarted,
        Method::GET,
        &format!("/users/alice/devices/{lamp}/properties/on"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["deviceId"], lamp);

    // Nobody at the restarted A subscribes to the lamp any more: upkeep releases it at B.
    restarted.maintain_federation().await;
    assert!(subscriptions_at_b(&h).is_empty(), "released at B");
    assert!(restored.remote_subscriptions.lock().await.is_empty());

    // Unlinking at the restarted A forgets the link in the store too.
    let (status, body) = call(
        &restarted,
        Method::DELETE,
        &format!("/users/alice/federations/{link_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(h.b.server.gateway.federation().links().all().is_empty());
    let third = HesGateway::new(h.a.server.irsp.clone()).expect("gateway");
    third.add_peer(h.b_at_a.clone()).await.expect("peer");
    assert!(
        third.federation().links().all().is_empty(),
        "no link comes back"
    );

    h.tasks.abort_all();
    h.a.stop().await;
    h.b.stop().await;
}

/// A peer's webhook to A for a link, as the peer would post it (or a stranger, pretending).
async fn notify(
    url: &str,
    bearer: Option<&str>,
    timestamp: u64,
    signature: &str,
    body: &str,
) -> (StatusCode, Value) {
    let mut post = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("hestia-timestamp", timestamp.to_string())
        .header("hestia-signature", signature)
        .body(body.to_owned());
    if let Some(bearer) = bearer {
        post = post.bearer_auth(bearer);
    }
    let answer = post.send().await.expect("answer");
    let status = answer.status();
    let text = answer.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn federation_refuses_what_a_stranger_sends() {
    let mut h = homes().await;
    let browser = Browser::new();
    let (a, b) = (h.a.http_base(), h.b.http_base());
    let token_a = browser.sign_in(&a, "alice").await;
    let token_b = browser.sign_in(&b, "alicia").await;
    let federations = format!("{a}/cui/v1/users/alice/federations");

    let nowhere = browser
        .send(
            Method::POST,
            &federations,
            Some(&token_a),
            Some(json!({ "peer": "nowhere" })),
        )
        .await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND, "{}", nowhere.text);
    assert_eq!(nowhere.json["code"], "not_found");

    // A consent URL sent to someone else: their browser has no binding cookie, and the state
    // is spent, so nobody's account gets linked.
    let (back, cookie) = consent(&browser, &h, &token_a).await;
    let elsewhere = browser
        .send_with_cookie(Method::GET, &back, None, None, Some("hestia_link=forged"))
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::FORBIDDEN,
        "{}",
        elsewhere.text
    );
    assert!(
        elsewhere.text.contains("another browser"),
        "{}",
        elsewhere.text
    );
    let spent = browser
        .send_with_cookie(Method::GET, &back, None, None, Some(&cookie))
        .await;
    assert_eq!(spent.status, StatusCode::BAD_REQUEST, "{}", spent.text);
    assert!(h.a.server.gateway.federation().links().all().is_empty());
    assert!(h.b.server.gateway.federation().links().all().is_empty());

    let link_id = link(&browser, &h, &token_a).await;
    let twice = browser
        .send(
            Method::POST,
            &federations,
            Some(&token_a),
            Some(json!({ "peer": "home-b" })),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.text);
    assert_eq!(twice.json["code"], "conflict");

    // B's callback token at A is an OAuth token for events only: it links nothing further for
    // alice and reads none of her devices.
    let callback_token = h.b.server.gateway.federation().links().all()[0]
        .tokens
        .access_token()
        .await;
    let by_token = browser
        .send(
            Method::POST,
            &federations,
            Some(&callback_token),
            Some(json!({ "peer": "home-b" })),
        )
        .await;
    assert_eq!(by_token.status, StatusCode::FORBIDDEN, "{}", by_token.text);
    assert_eq!(by_token.json["code"], "forbidden");
    let devices = browser
        .send(
            Method::GET,
            &format!("{a}/cui/v1/users/alice/devices"),
            Some(&callback_token),
            None,
        )
        .await;
    assert_eq!(devices.status, StatusCode::FORBIDDEN, "{}", devices.text);
    assert!(devices.text.contains("devices:read"), "{}", devices.text);

    // A person's sign-in is no peer gateway: it cannot hand B a link's half.
    let half = browser
        .send(
            Method::POST,
            &format!("{b}/cui/v1/federation/links"),
            Some(&token_b),
            Some(json!({
                "linkId": "forged",
                "user": "mallory",
                "accessToken": "x",
                "callbackSecret": "s".repeat(32),
            })),
        )
        .await;
    assert_eq!(half.status, StatusCode::FORBIDDEN, "{}", half.text);
    // Nor can the peer itself pile up halves: its grant has one already.
    let a_token_at_b =
        h.a.server
            .gateway
            .federation()
            .links()
            .get(&link_id)
            .expect("link")
            .tokens
            .access_token()
            .await;
    let again = browser
        .send(
            Method::POST,
            &format!("{b}/cui/v1/federation/links"),
            Some(&a_token_at_b),
            Some(json!({
                "linkId": "second",
                "user": "alice",
                "accessToken": "x",
                "callbackSecret": "s".repeat(32),
            })),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(h.b.server.gateway.federation().links().all().len(), 1);

    // Webhooks for the link: only the link's callback grant, signed with its secret, now.
    subscribe_to_the_lamp(&browser, &a, &token_a).await;
    let mut heard = h.a.server.gateway.events().stream("alice");
    let url = format!("{a}/cui/v1/federation/links/{link_id}/notifications");
    let secret =
        h.a.server
            .gateway
            .federation()
            .links()
            .get(&link_id)
            .expect("link")
            .callback_secret
            .clone();
    let change = |value: &str| {
        json!({ "body": {
            "deviceId": "igrs:lamp",
            "event": "property",
            "eventId": format!("e-{value}"),
            "payload": { "property": "name", "value": value },
        }})
        .to_string()
    };
    let (forged, genuine) = (change("forged"), change("genuine"));
    let now = hestia_gateway::webhook::unix_now();
    let sign = |at: u64| hestia_gateway::webhook::sign(&secret, at, &forged);
    let elsewhere = format!("{a}/cui/v1/federation/links/nope/notifications");
    let cases = [
        (
            elsewhere.as_str(),
            Some(callback_token.as_str()),
            now,
            sign(now),
            StatusCode::NOT_FOUND,
        ),
        (&url, None, now, sign(now), StatusCode::UNAUTHORIZED),
        (
            &url,
            Some(token_a.as_str()),
            now,
            sign(now),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &url,
            Some(&callback_token),
            now,
            "v1=00".to_owned(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &url,
            Some(&callback_token),
            now - 600,
            sign(now - 600),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (to, bearer, at, signature, expected) in cases {
        let (status, answer) = notify(to, bearer, at, &signature, &forged).await;
        assert_eq!(status, expected, "{to} {bearer:?} {at}: {answer}");
        assert!(answer["code"].is_string(), "{answer}");
    }
    let signature = hestia_gateway::webhook::sign(&secret, now, &genuine);
    let (status, answer) = notify(&url, Some(&callback_token), now, &signature, &genuine).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let first = next_about(&mut heard, "home-b:igrs:lamp", "property").await;
    assert_eq!(
        first["body"]["payload"]["value"], "genuine",
        "nothing forged was heard before the genuine notification"
    );

    h.tasks.abort_all();
    h.a.stop().await;
    h.b.stop().await;
}

/// The user's device links at `base`, as the console reads them.
async fn device_links(browser: &Browser, base: &str, user: &str, token: &str) -> Vec<Value> {
    let listed = browser
        .send(
            Method::GET,
            &format!("{base}/cui/v1/users/{user}/federations"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    listed.json["deviceLinks"]
        .as_array()
        .expect("deviceLinks")
        .clone()
}

/// Waits until the user's device link at A to home B is no longer waiting; its view.
async fn device_link_outcome(browser: &Browser, a: &str, user: &str, token: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let links = device_links(browser, a, user, token).await;
            if let Some(link) = links.iter().find(|l| l["status"] != "waiting") {
                return link.clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the device link finished within 30 s")
}

/// Starts a device link at A for `user`; the code and where to enter it.
async fn start_device_link(browser: &Browser, a: &str, user: &str, token: &str) -> Answer {
    browser
        .send(
            Method::POST,
            &format!("{a}/cui/v1/users/{user}/federations"),
            Some(token),
            Some(json!({ "peer": "home-b", "flow": "device" })),
        )
        .await
}

/// The person enters the code at B's device page, signs in as alicia and decides.
async fn decide_at_b(browser: &Browser, b: &str, user_code: &str, decision: &str) {
    let pairs: Vec<(String, String)> = [
        ("user_code", user_code),
        ("username", "alicia"),
        ("password", PASSWORD),
        ("decision", decision),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    let decided = browser.form(&format!("{b}/oauth/device"), &pairs).await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.text);
}

#[tokio::test]
async fn a_side_without_a_browser_links_with_a_user_code_entered_at_the_peer() {
    let mut h = homes().await;
    h.a.add_user("bob").await.expect("bob");
    let browser = Browser::new();
    let (a, b) = (h.a.http_base(), h.b.http_base());
    let token_a = browser.sign_in(&a, "alice").await;

    let started = start_device_link(&browser, &a, "alice", &token_a).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    assert_eq!(
        started.cookie, None,
        "no browser returns, so nothing binds one"
    );
    assert_eq!(started.json["status"], "waiting");
    let user_code = started.json["userCode"].as_str().expect("code").to_owned();
    assert_eq!(
        started.json["verificationUri"],
        format!("{b}/oauth/device").as_str()
    );
    assert!(
        started.json["verificationUriComplete"]
            .as_str()
            .is_some_and(|u| u.contains("user_code=")),
        "{}",
        started.text
    );
    let again = start_device_link(&browser, &a, "alice", &token_a).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.json["code"], "conflict");

    decide_at_b(&browser, &b, &user_code, "allow").await;
    let outcome = device_link_outcome(&browser, &a, "alice", &token_a).await;
    assert_eq!(outcome["status"], "linked", "{outcome}");
    let listed = browser
        .send(
            Method::GET,
            &format!("{a}/cui/v1/users/alice/federations"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(listed.json["federations"][0]["peer"], "home-b");
    assert_eq!(listed.json["federations"][0]["remoteUser"], "alicia");
    let read = browser
        .send(
            Method::GET,
            &format!("{a}/cui/v1/users/alice/devices/home-b:igrs:lamp/properties/on"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let linked_again = start_device_link(&browser, &a, "alice", &token_a).await;
    assert_eq!(linked_again.status, StatusCode::CONFLICT, "already linked");

    // Denied at the peer: no link, and the person sees why.
    let token_bob = browser.sign_in(&a, "bob").await;
    let started = start_device_link(&browser, &a, "bob", &token_bob).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let code = started.json["userCode"].as_str().expect("code").to_owned();
    decide_at_b(&browser, &b, &code, "deny").await;
    let outcome = device_link_outcome(&browser, &a, "bob", &token_bob).await;
    assert_eq!(outcome["status"], "denied", "{outcome}");
    let bobs = browser
        .send(
            Method::GET,
            &format!("{a}/cui/v1/users/bob/federations"),
            Some(&token_bob),
            None,
        )
        .await;
    assert_eq!(bobs.json["federations"], json!([]));
    let someone_elses = browser
        .send(
            Method::GET,
            &format!("{a}/cui/v1/users/alice/federations"),
            Some(&token_bob),
            None,
        )
        .await;
    assert_eq!(
        someone_elses.status,
        StatusCode::FORBIDDEN,
        "a user sees only their own links"
    );
    h.tasks.abort_all();
    h.a.stop().await;
    h.b.stop().await;
}
