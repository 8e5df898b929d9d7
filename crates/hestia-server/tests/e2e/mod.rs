//! Shared by the end-to-end drivers (`e2e_*.rs`): find an external client's tool from the
//! environment `scripts/test` sets, run a script against an in-process server, and report.
//!
//! Outside CI a missing tool skips the test with a printed reason; with `CI=true` it fails,
//! so CI can never go green without having run the real clients.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use hestia_testkit::{PASSWORD, TestServer};

/// The repository root (scripts live under `e2e/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub use hestia_testkit::e2e::tool;

/// The environment a client script reads to find `t`.
pub fn server_env(t: &TestServer) -> Vec<(&'static str, String)> {
    let ca = t
        .server
        .ca_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    vec![
        ("HOST", t.c2s_addr().ip().to_string()),
        ("PORT", t.c2s_addr().port().to_string()),
        ("TLS_PORT", t.direct_tls_addr().port().to_string()),
        ("DOMAIN", t.domain()),
        ("CA_FILE", ca),
        ("HTTP_BASE", t.http_base()),
        ("ADMIN_TOKEN", t.server.admin_token.clone()),
        ("PASSWORD", PASSWORD.to_owned()),
    ]
}

/// Runs `program args` with the server's environment (plus `extra`), waits at most
/// `limit`, prints its output, and panics unless it exited with status 0.
pub async fn run_client(
    t: &TestServer,
    program: &str,
    args: &[String],
    extra: &[(&str, String)],
    limit: Duration,
) {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(repo_root())
        .envs(server_env(t))
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(limit, cmd.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => panic!("cannot run {program}: {e}"),
        Err(_) => panic!("{program} {args:?} did not finish within {limit:?}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {args:?} stdout ---\n{stdout}--- stderr ---\n{stderr}");
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
