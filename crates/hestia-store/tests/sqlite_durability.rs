//! SQLite crash safety: an acknowledged write survives the process dying without closing the store (kill -9 is
//! simulated by `abort()` in a child process), and the connection settings that promise it are in force.

#![allow(
    clippy::expect_used,
    reason = "setup failures in test helpers fail the test"
)]

use hestia_store::{AccountKind, Credentials, NewAccount, ScramCredential, Store, UserInfo};

/// The child's database path; set only when the parent test re-runs this binary.
const CHILD_DB_ENV: &str = "HESTIA_STORE_CRASH_CHILD_DB";

fn new_user(localpart: &str) -> NewAccount {
    let credential = ScramCredential {
        salt: vec![1; 16],
        iterations: 4096,
        stored_key: vec![2; 20],
        server_key: vec![3; 20],
    };
    NewAccount {
        localpart: localpart.to_owned(),
        kind: AccountKind::User,
        credentials: Credentials {
            sha1: credential.clone(),
            sha256: credential,
        },
        user: UserInfo::default(),
        device: None,
        verification_code: None,
    }
}

/// The child half of [`acknowledged_write_survives_abort`]: write, then die at once.
#[tokio::test]
#[ignore = "run by acknowledged_write_survives_abort in a child process"]
#[allow(
    clippy::disallowed_methods,
    reason = "a test reads its own switches, not server configuration"
)]
async fn crash_child_writes_then_aborts() {
    let Ok(path) = std::env::var(CHILD_DB_ENV) else {
        return;
    };
    let store = Store::open_sqlite_file(path.as_ref()).await.expect("open");
    store
        .create_account(new_user("survivor"))
        .await
        .expect("create");
    std::process::abort();
}

#[tokio::test]
async fn acknowledged_write_survives_abort() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash.db");
    let child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "crash_child_writes_then_aborts",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_DB_ENV, &path)
        .output()
        .expect("run child");
    assert!(
        !child.status.success(),
        "the child must die by abort, got {}: {}",
        child.status,
        String::from_utf8_lossy(&child.stdout)
    );

    let store = Store::open_sqlite_file(&path).await.expect("reopen");
    let account = store.account("survivor").await.expect("read");
    assert!(account.is_some(), "the acknowledged account was lost");
    store.close().await;
}

#[tokio::test]
async fn write_survives_dropping_the_store_unclosed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("drop.db");
    let store = Store::open_sqlite_file(&path).await.expect("open");
    store
        .create_account(new_user("kept"))
        .await
        .expect("create");
    store.create_invitation("tok", 10).await.expect("invite");
    drop(store);

    let store = Store::open_sqlite_file(&path).await.expect("reopen");
    assert!(store.account("kept").await.expect("read").is_some());
    assert!(store.consume_invitation("tok", 1).await.expect("consume"));
    store.close().await;
}

#[tokio::test]
async fn crash_safe_settings_are_in_force() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("nested-name.db").display());
    let store = Store::open(&url).await.expect("open by url");
    let Store::Sqlite(pool) = &store else {
        panic!("a sqlite url opened {}", store.backend_name());
    };
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .expect("journal");
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await
        .expect("sync");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .expect("fk");
    let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(pool)
        .await
        .expect("busy");
    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 2, "synchronous=FULL");
    assert_eq!(foreign_keys, 1);
    assert!(busy_timeout > 0);
    store.close().await;

    // Reopening runs no migration twice.
    let store = Store::open(&url).await.expect("reopen");
    assert_eq!(store.count_accounts().await.expect("count"), 0);
    store.close().await;
}
