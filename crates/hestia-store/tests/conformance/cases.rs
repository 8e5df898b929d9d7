//! The cases, each an async function over any [`Store`]; `main.rs` runs each on every backend.

use hestia_store::{
    AccountKind, AccountSummary, Credentials, DeviceInfo, NewAccount, ScramCredential, Store,
    StoreError, UserInfo, VerificationCodeHash,
};

fn credential(seed: u8, iterations: u32) -> ScramCredential {
    ScramCredential {
        salt: vec![seed; 16],
        iterations,
        stored_key: vec![seed.wrapping_add(1); 20],
        server_key: vec![seed.wrapping_add(2); 32],
    }
}

fn credentials(seed: u8) -> Credentials {
    Credentials {
        sha1: credential(seed, 4096),
        // The largest count must survive the round trip on both dialects.
        sha256: credential(seed.wrapping_add(10), u32::MAX),
    }
}

fn device_info(serial: &str) -> DeviceInfo {
    DeviceInfo {
        device_type: "urn:igrs:device:lamp".to_owned(),
        model: "L-100".to_owned(),
        manufacturer: "Acme".to_owned(),
        serial: serial.to_owned(),
    }
}

fn code(seed: u8) -> VerificationCodeHash {
    VerificationCodeHash {
        salt: vec![seed; 8],
        hash: vec![seed.wrapping_mul(3); 32],
    }
}

fn new_user(localpart: &str) -> NewAccount {
    NewAccount {
        localpart: localpart.to_owned(),
        kind: AccountKind::User,
        credentials: credentials(1),
        user: UserInfo {
            name: Some("Alice Example".to_owned()),
            email: Some("alice@example.com".to_owned()),
        },
        device: None,
        verification_code: None,
    }
}

fn new_device(localpart: &str) -> NewAccount {
    NewAccount {
        localpart: localpart.to_owned(),
        kind: AccountKind::Device,
        credentials: credentials(2),
        user: UserInfo::default(),
        device: Some(device_info("SN-0001")),
        verification_code: Some(code(7)),
    }
}

/// Rows in `devices` for `localpart`, read behind the contract's back.
async fn device_rows(store: &Store, localpart: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM devices WHERE localpart = $1";
    match store {
        Store::Sqlite(pool) => {
            sqlx::query_scalar(sql)
                .bind(localpart)
                .fetch_one(pool)
                .await
        }
        Store::Postgres(pool) => {
            sqlx::query_scalar(sql)
                .bind(localpart)
                .fetch_one(pool)
                .await
        }
    }
    .expect("count device rows")
}

pub async fn user_round_trip(store: &Store) {
    let before = now();
    store
        .create_account(new_user("alice"))
        .await
        .expect("create");
    let account = store
        .account("alice")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(account.localpart, "alice");
    assert_eq!(account.kind, AccountKind::User);
    assert_eq!(account.credentials, credentials(1));
    assert!(!account.is_disabled);
    assert_eq!(account.user, new_user("alice").user);
    assert_eq!(account.device, None);
    assert_eq!(account.verification_code, None);
    assert!(
        (before..=now()).contains(&account.created_at),
        "created_at {}",
        account.created_at
    );
}

pub async fn device_round_trip(store: &Store) {
    store
        .create_account(new_device("lamp-1"))
        .await
        .expect("create");
    let account = store
        .account("lamp-1")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(account.kind, AccountKind::Device);
    assert_eq!(account.credentials, credentials(2));
    assert_eq!(account.user, UserInfo::default());
    assert_eq!(account.device, Some(device_info("SN-0001")));
    assert_eq!(account.verification_code, Some(code(7)));

    // A device registered without information or code still reads back as a device.
    let bare = NewAccount {
        device: None,
        verification_code: None,
        ..new_device("lamp-2")
    };
    store.create_account(bare).await.expect("create bare");
    let account = store
        .account("lamp-2")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(account.device, Some(DeviceInfo::default()));
    assert_eq!(account.verification_code, None);
}

pub async fn duplicate_localpart_conflicts(store: &Store) {
    store.create_account(new_user("bob")).await.expect("create");
    let again = store.create_account(new_device("bob")).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    // Nothing of the failed attempt remains: still a user, no device row.
    let account = store.account("bob").await.expect("read").expect("present");
    assert_eq!(account.kind, AccountKind::User);
    assert_eq!(device_rows(store, "bob").await, 0);
    // Localparts compare exactly; normalising case is the caller's job.
    store
        .create_account(new_user("Bob"))
        .await
        .expect("distinct case");
    assert_eq!(store.count_accounts().await.expect("count"), 2);
}

pub async fn missing_account_reads_none(store: &Store) {
    assert_eq!(store.account("nobody").await.expect("read"), None);
    assert_eq!(store.credentials("nobody").await.expect("read"), None);
    assert!(!store.delete_account("nobody").await.expect("delete"));
}

pub async fn updates_on_missing_account_are_not_found(store: &Store) {
    let results = [
        (
            "set_credentials",
            store.set_credentials("nobody", &credentials(3)).await,
        ),
        ("set_disabled", store.set_disabled("nobody", true).await),
        (
            "update_user_info",
            store.update_user_info("nobody", &UserInfo::default()).await,
        ),
        (
            "update_device_info",
            store.update_device_info("nobody", &device_info("x")).await,
        ),
        (
            "set_verification_code",
            store.set_verification_code("nobody", &code(1)).await,
        ),
    ];
    for (operation, result) in results {
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "{operation}: {result:?}"
        );
    }
}

pub async fn set_credentials_replaces_both(store: &Store) {
    store
        .create_account(new_user("carol"))
        .await
        .expect("create");
    store
        .set_credentials("carol", &credentials(42))
        .await
        .expect("set");
    let (creds, is_disabled, kind) = store
        .credentials("carol")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(creds, credentials(42));
    assert!(!is_disabled);
    assert_eq!(kind, AccountKind::User);
}

pub async fn set_disabled_shows_in_login_lookup(store: &Store) {
    store
        .create_account(new_device("lamp-3"))
        .await
        .expect("create");
    store.set_disabled("lamp-3", true).await.expect("disable");
    let (_, is_disabled, kind) = store
        .credentials("lamp-3")
        .await
        .expect("read")
        .expect("present");
    assert!(is_disabled);
    assert_eq!(kind, AccountKind::Device);
    assert!(
        store
            .account("lamp-3")
            .await
            .expect("read")
            .expect("present")
            .is_disabled
    );
    store.set_disabled("lamp-3", false).await.expect("enable");
    let (_, is_disabled, _) = store
        .credentials("lamp-3")
        .await
        .expect("read")
        .expect("present");
    assert!(!is_disabled);
}

pub async fn user_and_device_info_updates(store: &Store) {
    store
        .create_account(new_user("dave"))
        .await
        .expect("create user");
    let info = UserInfo {
        name: Some("Dave".to_owned()),
        email: None,
    };
    store
        .update_user_info("dave", &info)
        .await
        .expect("update user");
    assert_eq!(
        store
            .account("dave")
            .await
            .expect("read")
            .expect("present")
            .user,
        info
    );

    store
        .create_account(new_device("lamp-4"))
        .await
        .expect("create device");
    let info = DeviceInfo {
        device_type: "urn:igrs:device:heater".to_owned(),
        model: "H-2".to_owned(),
        manufacturer: "Other".to_owned(),
        serial: "SN-9".to_owned(),
    };
    store
        .update_device_info("lamp-4", &info)
        .await
        .expect("update device");
    let account = store
        .account("lamp-4")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(account.device, Some(info));
    assert_eq!(
        account.verification_code,
        Some(code(7)),
        "the code is untouched"
    );
}

pub async fn verification_code_set_and_reset(store: &Store) {
    let device = NewAccount {
        verification_code: None,
        ..new_device("lamp-5")
    };
    store.create_account(device).await.expect("create");
    store
        .set_verification_code("lamp-5", &code(11))
        .await
        .expect("set");
    let account = store
        .account("lamp-5")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(account.verification_code, Some(code(11)));
    store
        .set_verification_code("lamp-5", &code(12))
        .await
        .expect("reset");
    let account = store
        .account("lamp-5")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(account.verification_code, Some(code(12)));
    assert_eq!(
        account.device,
        Some(device_info("SN-0001")),
        "the information is untouched"
    );
}

pub async fn device_info_ops_refuse_user_accounts(store: &Store) {
    store
        .create_account(new_user("erin"))
        .await
        .expect("create");
    let result = store.update_device_info("erin", &device_info("x")).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    let result = store.set_verification_code("erin", &code(1)).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    // Device fields given for a user account are not stored.
    let user = NewAccount {
        device: Some(device_info("x")),
        verification_code: Some(code(1)),
        ..new_user("frank")
    };
    store.create_account(user).await.expect("create");
    let account = store
        .account("frank")
        .await
        .expect("read")
        .expect("present");
    assert_eq!((account.device, account.verification_code), (None, None));
}

pub async fn delete_cascades_device_row(store: &Store) {
    store
        .create_account(new_device("lamp-6"))
        .await
        .expect("create");
    assert_eq!(device_rows(store, "lamp-6").await, 1);
    assert!(store.delete_account("lamp-6").await.expect("delete"));
    assert_eq!(device_rows(store, "lamp-6").await, 0);
    assert_eq!(store.account("lamp-6").await.expect("read"), None);
    assert!(!store.delete_account("lamp-6").await.expect("delete again"));
    // The name is free again.
    store
        .create_account(new_device("lamp-6"))
        .await
        .expect("re-create");
}

pub async fn list_and_count_with_kind_filter_and_paging(store: &Store) {
    assert_eq!(store.count_accounts().await.expect("count"), 0);
    assert_eq!(
        store.list_accounts(None, 10, 0).await.expect("list"),
        vec![]
    );
    for name in ["u3", "u1", "u2"] {
        store
            .create_account(new_user(name))
            .await
            .expect("create user");
    }
    for name in ["d2", "d1"] {
        store
            .create_account(new_device(name))
            .await
            .expect("create device");
    }
    store.set_disabled("u2", true).await.expect("disable");
    assert_eq!(store.count_accounts().await.expect("count"), 5);

    let names =
        |page: Vec<AccountSummary>| page.into_iter().map(|a| a.localpart).collect::<Vec<_>>();
    let all = store.list_accounts(None, 100, 0).await.expect("list");
    assert_eq!(names(all.clone()), ["d1", "d2", "u1", "u2", "u3"]);
    let u2 = all.iter().find(|a| a.localpart == "u2").expect("u2 listed");
    assert!(u2.is_disabled);
    assert_eq!(u2.kind, AccountKind::User);
    assert!(u2.created_at > 0);

    assert_eq!(
        names(store.list_accounts(None, 2, 0).await.expect("page 1")),
        ["d1", "d2"]
    );
    assert_eq!(
        names(store.list_accounts(None, 2, 2).await.expect("page 2")),
        ["u1", "u2"]
    );
    assert_eq!(
        names(store.list_accounts(None, 2, 4).await.expect("page 3")),
        ["u3"]
    );
    assert_eq!(
        names(store.list_accounts(None, 2, 6).await.expect("past end")),
        Vec::<String>::new()
    );

    let users = store
        .list_accounts(Some(AccountKind::User), 2, 1)
        .await
        .expect("users");
    assert_eq!(names(users), ["u2", "u3"]);
    let devices = store
        .list_accounts(Some(AccountKind::Device), 10, 0)
        .await
        .expect("devices");
    assert!(devices.iter().all(|a| a.kind == AccountKind::Device));
    assert_eq!(names(devices), ["d1", "d2"]);
}

pub async fn invitation_consumed_once(store: &Store) {
    store
        .create_invitation("tok-1", 2_000)
        .await
        .expect("create");
    assert!(
        store
            .consume_invitation("tok-1", 1_000)
            .await
            .expect("first")
    );
    assert!(
        !store
            .consume_invitation("tok-1", 1_001)
            .await
            .expect("second")
    );
    assert!(
        !store
            .consume_invitation("no-such-token", 1_000)
            .await
            .expect("unknown")
    );
}

pub async fn invitation_expiry(store: &Store) {
    store
        .create_invitation("tok-2", 2_000)
        .await
        .expect("create");
    assert!(
        !store
            .consume_invitation("tok-2", 2_000)
            .await
            .expect("at expiry")
    );
    assert!(
        !store
            .consume_invitation("tok-2", 3_000)
            .await
            .expect("after expiry")
    );
    store
        .create_invitation("tok-3", 2_000)
        .await
        .expect("create");
    assert!(
        store
            .consume_invitation("tok-3", 1_999)
            .await
            .expect("just before expiry")
    );
}

pub async fn duplicate_invitation_conflicts(store: &Store) {
    store
        .create_invitation("tok-4", 2_000)
        .await
        .expect("create");
    let again = store.create_invitation("tok-4", 9_000).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
}

pub async fn concurrent_creates_all_succeed(store: &Store) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..50 {
        let store = store.clone();
        let account = if n % 2 == 0 {
            new_user(&format!("user-{n}"))
        } else {
            new_device(&format!("dev-{n}"))
        };
        tasks.spawn(async move { store.create_account(account).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("create");
    }
    assert_eq!(store.count_accounts().await.expect("count"), 50);
    let devices = store
        .list_accounts(Some(AccountKind::Device), 100, 0)
        .await
        .expect("list");
    assert_eq!(devices.len(), 25);
}

pub async fn concurrent_consumers_of_one_invitation(store: &Store) {
    store
        .create_invitation("tok-race", i64::MAX)
        .await
        .expect("create");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move { store.consume_invitation("tok-race", 1).await });
    }
    let mut winners = 0;
    while let Some(result) = tasks.join_next().await {
        winners += usize::from(result.expect("task").expect("consume"));
    }
    assert_eq!(winners, 1);
}

fn now() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    i64::try_from(elapsed.as_secs()).expect("seconds fit")
}

pub async fn invitation_spent_only_with_a_created_account(store: &Store) {
    store
        .create_invitation("tok-4", 2_000)
        .await
        .expect("create");
    store
        .create_account(new_user("taken"))
        .await
        .expect("first");
    let dup = store
        .create_account_with_invitation(new_user("taken"), Some(("tok-4", 1_000)))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict)), "{dup:?}");
    store
        .create_account_with_invitation(new_user("fresh"), Some(("tok-4", 1_000)))
        .await
        .expect("the token survived the conflict");
    let again = store
        .create_account_with_invitation(new_user("second"), Some(("tok-4", 1_000)))
        .await;
    assert!(
        matches!(again, Err(StoreError::InvitationInvalid)),
        "{again:?}"
    );
    assert!(store.account("second").await.expect("read").is_none());
}
