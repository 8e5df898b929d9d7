//! The web console in headless Chromium: `e2e/console/console.js` (playwright-core driving
//! Debian's `chromium`) against the real `hestia serve --demo`. Alice signs in at phone width,
//! sees the lamp online, switches it (checked through the API as well), is shown the CUI's
//! message for a refused setpoint and a refused share, confirms before switching the plug,
//! shares the lamp with bob at `view` and resets its code; live updates show a switch made
//! elsewhere and the camera's motion without a reload, and the thermostat's chart; bob then
//! sees the lamp, view only, and asks for the thermostat.
//!
//! `HESTIA_E2E_CONSOLE_DIR` (set by `scripts/test`) is the directory whose `node_modules` holds
//! playwright-core; `HESTIA_E2E_CHROMIUM` the browser. Outside CI a missing one skips the test
//! with a printed reason; with `CI=true` it fails.

#![allow(clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::Server;
use hestia_testkit::e2e::tool;

#[test]
fn console_in_headless_chromium_signs_in_controls_shares_and_shows_refusals() {
    let Some(dir) = tool("HESTIA_E2E_CONSOLE_DIR", "e2e/console with node_modules") else {
        return;
    };
    let Some(chromium) = tool("HESTIA_E2E_CHROMIUM", "Debian's chromium") else {
        return;
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "{} has no node_modules/playwright-core: run `npm ci` there (scripts/test does)",
        dir.display()
    );
    let data = tempfile::tempdir().expect("tempdir");
    let path = data.path().to_str().expect("utf-8 path");
    let server = Server::start_with_args(
        data.path(),
        &["--demo", "--data-dir", path, "--motion-chance", "1"],
        &[],
    );
    let screenshots = dir.join("screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot dir");
    let output = Command::new("node")
        .arg(dir.join("console.js"))
        .env("HTTP_BASE", &server.http)
        .env("CHROMIUM", chromium)
        .env("SCREENSHOTS", &screenshots)
        .stdin(Stdio::null())
        .output()
        .expect("run node e2e/console/console.js");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- console.js stdout ---\n{stdout}--- stderr ---\n{stderr}");
    assert!(
        output.status.success(),
        "console.js failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("PASS bob sees the shared lamp, with view"),
        "the scenario ran to its end:\n{stdout}"
    );
}
