//! `hestia device simulate` against the real server process: simulated cameras register
//! themselves on first use, come online, describe themselves, and — armed, with motion certain
//! every second — publish motion events that reach a user who bound one of them by its
//! verification code and subscribed.

#![allow(clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use hestia_client::{Bound, Element};
use hestia_proto::device::event_node;
use hestia_proto::igrs::{NS_DEVICE, NS_RELATION};
use hestia_proto::ns;

struct Simulator(Child);

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn simulate(server: &Server, data: &std::path::Path) -> Simulator {
    let child = Command::new(env!("CARGO_BIN_EXE_hestia"))
        .args([
            "device",
            "simulate",
            "--kind",
            "camera-motion",
            "--count",
            "2",
        ])
        .args(["--motion-chance", "1", "--code", "424242"])
        .arg("--server")
        .arg(server.c2s.to_string())
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start hestia device simulate");
    Simulator(child)
}

fn online_devices(server: &Server) -> Vec<String> {
    let sessions = server.admin_get("/sessions");
    let mut jids: Vec<String> = sessions["sessions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|s| s["kind"] == "device" && s["available"] == true)
                .filter_map(|s| {
                    s["jid"]
                        .as_str()
                        .map(|j| j.split('/').next().unwrap_or(j).to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    jids.sort();
    jids
}

async fn iq_set(client: &mut Bound, to: &str, payload: Element) -> Element {
    let iq = Element::new("iq", ns::CLIENT)
        .with_attr("type", "set")
        .with_attr("to", to)
        .with_child(payload);
    client.iq(iq).await.expect("iq")
}

#[tokio::test]
async fn simulated_cameras_come_online_and_their_motion_reaches_a_subscriber() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    server.add_user("alice");
    let _simulator = simulate(&server, dir.path());
    let want = ["camera-motion-1@localhost", "camera-motion-2@localhost"];
    let deadline = Instant::now() + Duration::from_secs(30);
    while online_devices(&server) != want {
        assert!(
            Instant::now() < deadline,
            "simulated devices online: {:?}",
            online_devices(&server)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut alice = server.login("alice").await;
    alice.send_presence().await.expect("presence");
    let relate = Element::new("relate", NS_RELATION)
        .with_attr("device", want[0])
        .with_child(Element::new("code", NS_RELATION).with_text("424242"));
    let bound = iq_set(&mut alice, "localhost", relate).await;
    let kind = bound
        .get_child("relate", NS_RELATION)
        .and_then(|r| r.attr("kind"));
    assert_eq!(kind, Some("owner"), "{bound}");
    let subscribe = Element::new("pubsub", ns::PUBSUB).with_child(
        Element::new("subscribe", ns::PUBSUB)
            .with_attr("node", event_node("motion"))
            .with_attr("jid", "alice@localhost"),
    );
    iq_set(&mut alice, want[0], subscribe).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let motion = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = alice
            .recv_timeout(left)
            .await
            .expect("stream")
            .expect("a motion event in time");
        let zone = got
            .get_child("event", ns::PUBSUB_EVENT)
            .and_then(|e| e.get_child("items", ns::PUBSUB_EVENT))
            .and_then(|i| i.get_child("item", ns::PUBSUB_EVENT))
            .and_then(|i| i.get_child("motion", NS_DEVICE))
            .and_then(|m| m.attr("zone").map(str::to_owned));
        // The first may be the last item, stamped; wait for a live one.
        if zone.is_some() && got.get_child("delay", ns::DELAY).is_none() {
            break zone;
        }
    };
    assert!(
        ["hall", "garden", "door", "drive"].contains(&motion.as_deref().unwrap_or_default()),
        "{motion:?}"
    );
}
