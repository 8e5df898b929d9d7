//! A message for an offline recipient is committed before the server handles the sender's next
//! stanza, so `kill -9` right after loses none (14543-5-8 §11.7.3; "a server crash loses no
//! message it acknowledged"). The real `hestia serve` process is started on a temporary data
//! directory, alice sends bob (offline) 200 messages and a ping — its answer is the server's
//! acknowledgement that everything before it was handled — the process is killed with SIGKILL,
//! started again on the same directory, and bob receives all 200 in order, once.

#![allow(clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hestia_client::{Bound, ConnectOptions, Connected, Element, Transport};
use hestia_proto::ns;

const MESSAGES: usize = 200;
const PASSWORD: &str = "durable-secret-1";

/// A running `hestia serve` and where it listens.
struct Server {
    child: Child,
    c2s: SocketAddr,
    http: String,
    ca_pem: Vec<u8>,
    token: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hestia"))
            .arg("serve")
            .env("HESTIA_SERVER_DATA_DIR", data)
            .env("HESTIA_C2S_LISTEN", "127.0.0.1:0")
            .env("HESTIA_C2S_DIRECT_TLS_LISTEN", "")
            .env("HESTIA_HTTP_LISTEN", "127.0.0.1:0")
            .env("HESTIA_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hestia serve");
        let stdout = child.stdout.take().expect("stdout");
        let (mut c2s, mut http) = (None, None);
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.expect("banner");
            let field = |name: &str| {
                line.trim_start()
                    .strip_prefix(name)
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_owned)
            };
            if let Some(a) = field("XMPP c2s:") {
                c2s = Some(a.parse().expect("c2s address"));
            }
            if let Some(a) = field("HTTP:") {
                http = Some(a.trim_end_matches('/').to_owned());
            }
            if c2s.is_some() && http.is_some() {
                break;
            }
        }
        // Keep reading: the server prints more, and a closed pipe would fail its writes.
        std::thread::spawn(move || lines.for_each(drop));
        Server {
            child,
            c2s: c2s.expect("the banner names the c2s address"),
            http: http.expect("the banner names the HTTP address"),
            ca_pem: std::fs::read(data.join("ca.pem")).expect("generated CA"),
            token: std::fs::read_to_string(data.join("admin-token")).expect("admin token"),
        }
    }

    fn add_user(&self, name: &str) {
        let reply = ureq::post(&format!("{}/admin/v1/users", self.http))
            .set("Authorization", &format!("Bearer {}", self.token.trim()))
            .send_json(serde_json::json!({ "username": name, "password": PASSWORD }))
            .expect("POST /users");
        assert_eq!(reply.status(), 201);
    }

    async fn login(&self, name: &str) -> Bound {
        let options = ConnectOptions::new(self.c2s, "localhost")
            .with_ca_pem(self.ca_pem.clone())
            .with_transport(Transport::StartTls)
            .with_timeout(Duration::from_secs(10));
        Connected::connect(&options)
            .await
            .expect("connect")
            .authenticate(name, PASSWORD)
            .await
            .expect("authenticate")
            .bind(None)
            .await
            .expect("bind")
    }

    fn kill(&mut self) {
        // std's Child::kill is SIGKILL on Unix: no shutdown code runs.
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    /// A failing test must not leave its server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn presence(to: &str, kind: &str) -> Element {
    Element::new("presence", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", kind)
}

/// Receives until `want` matches, skipping everything else.
async fn until(client: &mut Bound, what: &str, want: impl Fn(&Element) -> bool) -> Element {
    loop {
        let el = client
            .recv()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        if want(&el) {
            return el;
        }
    }
}

/// Alice and bob become friends with an RFC 6121 handshake; bob then logs out.
async fn befriend(server: &Server) -> Bound {
    let mut alice = server.login("alice").await;
    alice.send_presence().await.expect("presence");
    let mut bob = server.login("bob").await;
    bob.send_presence().await.expect("presence");
    alice
        .send(&presence("bob@localhost", "subscribe"))
        .await
        .expect("subscribe");
    until(&mut bob, "request", |e| e.attr("type") == Some("subscribe")).await;
    bob.send(&presence("alice@localhost", "subscribed"))
        .await
        .expect("subscribed");
    until(&mut alice, "approval", |e| {
        e.attr("type") == Some("subscribed")
    })
    .await;
    bob.close().await.expect("bob logs out");
    // Bob's unavailable presence tells alice he is gone before she starts sending.
    until(&mut alice, "bob offline", |e| {
        e.attr("type") == Some("unavailable")
    })
    .await;
    alice
}

#[tokio::test]
async fn stored_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    server.add_user("alice");
    server.add_user("bob");
    let mut alice = befriend(&server).await;
    for i in 0..MESSAGES {
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("to", "bob@localhost")
            .with_attr("type", "chat")
            .with_child(Element::new("body", ns::CLIENT).with_text(format!("m{i}")));
        alice.send(&msg).await.expect("send");
    }
    alice
        .ping()
        .await
        .expect("the server handled every message before the ping");
    let mut server = server;
    server.kill();

    let mut server = Server::start(dir.path());
    let mut bob = server.login("bob").await;
    bob.send_presence().await.expect("presence");
    let mut bodies = Vec::new();
    while let Some(el) = bob
        .recv_timeout(Duration::from_secs(2))
        .await
        .expect("stream")
    {
        if el.name() == "message" {
            bodies.push(el.get_child("body", ns::CLIENT).map(Element::text));
        }
    }
    let expected: Vec<_> = (0..MESSAGES).map(|i| Some(format!("m{i}"))).collect();
    assert_eq!(bodies, expected);
    server.kill();
}
