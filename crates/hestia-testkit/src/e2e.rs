//! For the end-to-end drivers (real clients and the headless browser): find an external tool
//! from the environment `scripts/test` sets. Outside CI a missing tool skips the test with a
//! printed reason; with `CI=true` it fails, so CI can never go green without having run it.

#[expect(
    clippy::disallowed_methods,
    reason = "test-harness input set by scripts/test, not server configuration"
)]
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The value of `var`, or None after printing why the test is skipped; panics under CI.
pub fn tool(var: &str, what: &str) -> Option<String> {
    if let Some(v) = env(var) {
        return Some(v);
    }
    let reason = format!("{var} is not set ({what}); run scripts/test, which installs it");
    assert!(env("CI").as_deref() != Some("true"), "CI=true: {reason}");
    eprintln!("SKIPPED: {reason}");
    None
}
