//! `hestia serve --demo` as a person starts it: the real binary with demo users and simulated
//! devices in process. Alice signs in to the CUI and sees every device online and owned by
//! her; bob sees none yet; a restart on the kept data dir changes nothing; a demo refuses to
//! listen off loopback.

#![allow(clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::Value;

const DEVICES: [&str; 4] = [
    "igrs:camera-motion-1",
    "igrs:lamp-1",
    "igrs:plug-1",
    "igrs:thermostat-1",
];

fn start(data: &std::path::Path) -> Server {
    let dir = data.to_str().expect("utf-8 path");
    Server::start_with_args(data, &["--demo", "--data-dir", dir], &[])
}

fn sign_in(server: &Server, user: &str, password: &str) -> String {
    let answer: Value = ureq::post(&format!("{}/cui/v1/sign-in", server.http))
        .send_json(serde_json::json!({ "username": user, "password": password }))
        .expect("sign-in")
        .into_json()
        .expect("JSON");
    answer["token"].as_str().expect("a token").to_owned()
}

fn devices(server: &Server, user: &str, token: &str) -> Vec<Value> {
    let answer: Value = ureq::get(&format!("{}/cui/v1/users/{user}/devices", server.http))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("GET devices")
        .into_json()
        .expect("JSON");
    answer["devices"].as_array().cloned().unwrap_or_default()
}

/// Alice's devices once all four are online (the devices connect after the banner).
fn alice_sees_all_online(server: &Server) -> Vec<Value> {
    let token = sign_in(server, "alice", "wonderland-1");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = devices(server, "alice", &token);
        let online: Vec<&str> = list
            .iter()
            .filter(|d| d["online"] == true)
            .filter_map(|d| d["id"].as_str())
            .collect();
        if online == DEVICES {
            return list;
        }
        assert!(Instant::now() < deadline, "alice's devices: {list:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn demo_alice_owns_every_simulated_device_online_and_a_restart_keeps_it_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start(dir.path());
    let list = alice_sees_all_online(&server);
    for d in &list {
        assert_eq!(d["right"], "owner", "{d}");
        assert!(
            !d["properties"].as_array().expect("properties").is_empty(),
            "described: {d}"
        );
    }
    let lamp = &list[1];
    assert_eq!(lamp["type"], "lamp");
    let bob = sign_in(&server, "bob", "builder-123");
    assert_eq!(devices(&server, "bob", &bob), Vec::<Value>::new());
    let lamp_roster = server.admin_get("/accounts/lamp-1/relationships");
    let asked = lamp_roster["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|i| i["jid"] == "bob@localhost" && i["pending_request"] == true);
    assert!(asked, "bob has asked for the lamp: {lamp_roster}");
    server.kill();

    let server = start(dir.path());
    let again = alice_sees_all_online(&server);
    assert_eq!(again.len(), DEVICES.len());
    assert!(again.iter().all(|d| d["right"] == "owner"), "{again:?}");
    assert_eq!(
        server.admin_get("/accounts/lamp-1/relationships"),
        lamp_roster,
        "a restart on kept data relates nothing anew"
    );
}

#[test]
fn demo_refuses_to_listen_off_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_hestia"))
        .args(["serve", "--demo", "--data-dir"])
        .arg(dir.path())
        .env("HESTIA_HTTP_LISTEN", "0.0.0.0:0")
        .env("HESTIA_C2S_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .output()
        .expect("run hestia serve --demo");
    assert!(!out.status.success(), "it must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("loopback") && stderr.contains("http.listen"),
        "{stderr}"
    );
}
