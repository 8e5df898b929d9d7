//! `hestia shell` against the real server process and a simulated lamp: a person binds the lamp
//! with its verification code, sees it online, switches it, reads it back, and is told in plain
//! words when a value is out of range.

#![allow(clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{PASSWORD, Server};
use hestia_client::ConnectOptions;
use hestia_client::simulator::{self, Behaviour, Kind};

#[tokio::test]
async fn a_person_binds_switches_and_reads_a_lamp_from_the_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    server.add_user("alice");
    let opts = ConnectOptions::new(server.c2s, "localhost").with_ca_pem(server.ca_pem.clone());
    let lamp = simulator::start(opts, Kind::Lamp, "lamp-1", "lamp-secret-1", 1, "424242")
        .await
        .expect("simulated lamp");
    let mut lamp_task = tokio::task::JoinSet::new();
    lamp_task.spawn(simulator::run(lamp, Kind::Lamp, Behaviour::default()));

    let mut shell = Command::new(env!("CARGO_BIN_EXE_hestia"))
        .args([
            "shell",
            "--user",
            "alice",
            "--password",
            PASSWORD,
            "--server",
        ])
        .arg(server.c2s.to_string())
        .arg("--data-dir")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start hestia shell");
    let mut stdin = shell.stdin.take().expect("stdin");
    for line in [
        "bind lamp-1 424242",
        "devices",
        "set lamp-1 on=true",
        "get lamp-1 on",
        "set lamp-1 brightness=200",
        "frobnicate",
        "quit",
    ] {
        writeln!(stdin, "{line}").expect("command");
        // Let presence and answers arrive before the next command, as at a keyboard.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    drop(stdin);
    let mut out = String::new();
    shell
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("output");
    let status = shell.wait().expect("exit");
    assert!(status.success(), "{out}");
    for want in [
        "logged in as alice@localhost/",
        "bound lamp-1@localhost as owner (right owner)",
        "lamp-1@localhost  owner  right=owner  online",
        "ok",
        "on=true",
        "error: bad-request (code 203) value out of range",
        "error: unknown or incomplete command \"frobnicate\"",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    lamp_task.abort_all();
}
