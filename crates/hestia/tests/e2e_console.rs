//! The web console in headless Chromium: `e2e/console/console.js` (playwright-core driving
//! Debian's `chromium`) against the real `hestia serve --demo`. Alice signs in at phone width,
//! sees the lamp online, switches it (checked through the API as well), is shown the CUI's
//! message for a refused setpoint and a refused share, confirms before switching the plug,
//! shares the lamp with bob at `view` and resets its code; live updates show a switch made
//! elsewhere and the camera's motion without a reload, and the thermostat's chart; bob then
//! sees the lamp, view only, and asks for the thermostat. A second test runs two demos as each
//! other's peer gateways (`e2e/console/linked-homes.js`): alice links home B from home A's
//! console, switches B's lamp from A, and unlinks.
//!
//! `HESTIA_E2E_CONSOLE_DIR` (set by `scripts/test`) is the directory whose `node_modules` holds
//! playwright-core; `HESTIA_E2E_CHROMIUM` the browser. Outside CI a missing one skips the test
//! with a printed reason; with `CI=true` it fails.

#![allow(clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Server;
use hestia_testkit::e2e::tool;
use serde_json::json;

/// playwright-core's directory and the browser, or None when this run skips browser tests.
fn browser_tools() -> Option<(PathBuf, String)> {
    let dir = tool("HESTIA_E2E_CONSOLE_DIR", "e2e/console with node_modules")?;
    let chromium = tool("HESTIA_E2E_CHROMIUM", "Debian's chromium")?;
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "{} has no node_modules/playwright-core: run `npm ci` there (scripts/test does)",
        dir.display()
    );
    Some((dir, chromium))
}

/// Runs one browser scenario of e2e/console; its stdout, after asserting it passed.
fn run_scenario(dir: &Path, chromium: &str, script: &str, env: &[(&str, &str)]) -> String {
    let screenshots = dir.join("screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot dir");
    let output = Command::new("node")
        .arg(dir.join(script))
        .envs(env.iter().copied())
        .env("CHROMIUM", chromium)
        .env("SCREENSHOTS", &screenshots)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run node e2e/console/{script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {script} stdout ---\n{stdout}--- stderr ---\n{stderr}");
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

#[test]
fn console_in_headless_chromium_signs_in_controls_shares_and_shows_refusals() {
    let Some((dir, chromium)) = browser_tools() else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let path = data.path().to_str().expect("utf-8 path");
    let server = Server::start_with_args(
        data.path(),
        &["--demo", "--data-dir", path, "--motion-chance", "1"],
        &[],
    );
    let stdout = run_scenario(
        &dir,
        &chromium,
        "console.js",
        &[("HTTP_BASE", &server.http)],
    );
    assert!(
        stdout.contains("PASS bob sees the shared lamp, with view"),
        "the scenario ran to its end:\n{stdout}"
    );
}

/// Registers `client` (named `name`) at `at` as an OAuth client that returns to `to`'s
/// federation callback; the client secret.
fn register_client(at: &Server, client: &str, name: &str, to: &Server) -> String {
    let made = at.admin_post(
        "/oauth/clients",
        json!({
            "client_id": client,
            "name": name,
            "redirect_uris": [format!("{}/cui/v1/federation/callback", to.http)],
        }),
    );
    made["client_secret"].as_str().expect("secret").to_owned()
}

#[test]
fn console_links_a_second_home_and_controls_its_lamp() {
    let Some((dir, chromium)) = browser_tools() else {
        return;
    };
    let (data_a, data_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let start = |data: &tempfile::TempDir, http: &str| {
        let path = data.path().to_str().expect("utf-8 path");
        Server::start_with_args(
            data.path(),
            &["--demo", "--data-dir", path],
            &[("HESTIA_HTTP_LISTEN", http)],
        )
    };
    let a = start(&data_a, "127.0.0.1:0");
    let b = start(&data_b, "127.0.0.2:0");
    let a_at_b = register_client(&b, "home-a", "Home A", &a);
    let b_at_a = register_client(&a, "home-b", "Home B", &b);
    for (at, name, other, client, secret, peer_client) in [
        (&a, "home-b", &b, "home-a", &a_at_b, "home-b"),
        (&b, "home-a", &a, "home-b", &b_at_a, "home-a"),
    ] {
        at.admin_post(
            "/federation/peers",
            json!({
                "name": name, "issuer": other.http, "client_id": client,
                "client_secret": secret, "peer_client_id": peer_client,
            }),
        );
    }
    let stdout = run_scenario(
        &dir,
        &chromium,
        "linked-homes.js",
        &[("HTTP_BASE", &a.http), ("PEER_BASE", &b.http)],
    );
    assert!(
        stdout.contains("PASS home B forgot its half too"),
        "the scenario ran to its end:\n{stdout}"
    );
}
