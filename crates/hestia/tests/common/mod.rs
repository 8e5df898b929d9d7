//! The real `hestia serve` binary on a temporary data directory, for tests of the process
//! itself (kill -9, the CLI's client commands).
#![allow(dead_code, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hestia_client::{Bound, ConnectOptions, Connected, Transport};

/// The password of every account these tests create.
pub const PASSWORD: &str = "durable-secret-1";

/// A running `hestia serve` and where it listens.
pub struct Server {
    child: Child,
    pub c2s: SocketAddr,
    pub http: String,
    pub ca_pem: Vec<u8>,
    pub token: String,
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Server::start_with_env(data, &[])
    }

    /// As [`Server::start`], with extra `HESTIA_*` settings.
    pub fn start_with_env(data: &Path, settings: &[(&str, &str)]) -> Server {
        Server::start_with_args(data, &[], settings)
    }

    /// As [`Server::start_with_env`], with extra arguments to `hestia serve`.
    pub fn start_with_args(data: &Path, args: &[&str], settings: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hestia"))
            .arg("serve")
            .args(args)
            .env("HESTIA_SERVER_DATA_DIR", data)
            .env("HESTIA_C2S_LISTEN", "127.0.0.1:0")
            .env("HESTIA_C2S_DIRECT_TLS_LISTEN", "")
            .env("HESTIA_HTTP_LISTEN", "127.0.0.1:0")
            .env("HESTIA_PROXY_LISTEN", "127.0.0.1:0")
            .env("HESTIA_COMPONENT_LISTEN", "127.0.0.1:0")
            .env("HESTIA_LOG_LEVEL", "warn")
            // The caller's settings win over these defaults.
            .envs(settings.iter().copied())
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

    pub fn add_user(&self, name: &str) {
        let reply = ureq::post(&format!("{}/admin/v1/users", self.http))
            .set("Authorization", &format!("Bearer {}", self.token.trim()))
            .send_json(serde_json::json!({ "username": name, "password": PASSWORD }))
            .expect("POST /users");
        assert_eq!(reply.status(), 201);
    }

    pub async fn login(&self, name: &str) -> Bound {
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

    pub fn kill(&mut self) {
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

impl Server {
    /// `POST {http}/admin/v1{path}` with a JSON body; the answer as JSON.
    pub fn admin_post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        ureq::post(&format!("{}/admin/v1{path}", self.http))
            .set("Authorization", &format!("Bearer {}", self.token.trim()))
            .send_json(body)
            .expect("admin POST")
            .into_json()
            .expect("JSON")
    }

    /// `GET {http}/admin/v1{path}` as JSON.
    pub fn admin_get(&self, path: &str) -> serde_json::Value {
        ureq::get(&format!("{}/admin/v1{path}", self.http))
            .set("Authorization", &format!("Bearer {}", self.token.trim()))
            .call()
            .expect("admin GET")
            .into_json()
            .expect("JSON")
    }
}
