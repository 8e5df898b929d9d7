//! The cases, each an async function over any [`Store`]; `main.rs` runs each on every backend.

use hestia_store::{
    AccessRight, AccountKind, AccountSummary, Credentials, DeviceAccess, DeviceInfo, DevicePolicy,
    FederationLink, JournalOp, JournalOutcome, LastItem, NewAccount, OAuthClient, OAuthGrant,
    PendingRequest, RelationKind, RelationshipChange, RemoteSubscription, RosterItem,
    ScramCredential, SigningKey, Store, StoreError, StoredStanza, Subscription, UserInfo,
    VerificationCodeHash,
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

// ---------------------------------------------------------------------------------------------------------------
// Relationships, access rights, device policy, verification-code failures, offline stanzas.

fn item(contact: &str) -> RosterItem {
    RosterItem {
        contact: contact.to_owned(),
        ..RosterItem::default()
    }
}

fn put(owner: &str, item: RosterItem) -> RelationshipChange {
    RelationshipChange::PutItem {
        owner: owner.to_owned(),
        item,
    }
}

fn remove(owner: &str, contact: &str) -> RelationshipChange {
    RelationshipChange::RemoveItem {
        owner: owner.to_owned(),
        contact: contact.to_owned(),
    }
}

fn grant(device: &str, user: &str, right: AccessRight) -> RelationshipChange {
    RelationshipChange::SetRight {
        device: device.to_owned(),
        user: user.to_owned(),
        right,
    }
}

fn revoke(device: &str, user: &str) -> RelationshipChange {
    RelationshipChange::RemoveRight {
        device: device.to_owned(),
        user: user.to_owned(),
    }
}

fn versions(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs
        .iter()
        .map(|(owner, version)| ((*owner).to_owned(), *version))
        .collect()
}

fn grants(pairs: &[(&str, AccessRight)]) -> Vec<(String, AccessRight)> {
    pairs
        .iter()
        .map(|(name, right)| ((*name).to_owned(), *right))
        .collect()
}

async fn create_users(store: &Store, names: &[&str]) {
    for name in names {
        store
            .create_account(new_user(name))
            .await
            .expect("create user");
    }
}

async fn create_devices(store: &Store, names: &[&str]) {
    for name in names {
        store
            .create_account(new_device(name))
            .await
            .expect("create device");
    }
}

fn contacts(items: &[RosterItem]) -> Vec<&str> {
    items.iter().map(|item| item.contact.as_str()).collect()
}

pub async fn roster_item_round_trip(store: &Store) {
    create_users(store, &["alice"]).await;
    let full = RosterItem {
        contact: "bob".to_owned(),
        name: Some("Bob \"the builder\", Ünïcødé ✓".to_owned()),
        groups: vec![
            "Family, close".to_owned(),
            "quote \" and ' and \\ backslash".to_owned(),
            "日本語 グループ".to_owned(),
            String::new(),
            "[\"not\", \"json\"]".to_owned(),
            "Family".to_owned(),
        ],
        subscription: Subscription::Both,
        ask: true,
        pending_in: Some(PendingRequest {
            stanza:
                "<presence from='bob@example.com' type='subscribe'><status>hi ✓</status></presence>"
                    .to_owned(),
            requested_right: Some(AccessRight::Control),
            received_at: 1_700_000_123,
        }),
        preapproved: true,
        relation: Some(RelationKind::Friend),
    };
    let minimal = item("carol");
    let no_right = RosterItem {
        pending_in: Some(PendingRequest {
            stanza: "<presence type='subscribe'/>".to_owned(),
            requested_right: None,
            received_at: 0,
        }),
        ..item("dave")
    };
    store
        .apply_relationship_changes(&[
            put("alice", full.clone()),
            put("alice", minimal.clone()),
            put("alice", no_right.clone()),
        ])
        .await
        .expect("apply");
    for expected in [&full, &minimal, &no_right] {
        let read = store
            .roster_item("alice", &expected.contact)
            .await
            .expect("read");
        assert_eq!(read.as_ref(), Some(expected));
    }
    let (_, items) = store.roster("alice").await.expect("roster");
    assert_eq!(items, vec![full.clone(), minimal.clone(), no_right]);
    assert_eq!(store.roster_item("alice", "zed").await.expect("read"), None);
    assert_eq!(
        store.roster_item("nobody", "bob").await.expect("read"),
        None
    );

    // Every stored value of every enumeration reads back; a put replaces the whole item.
    for (n, subscription) in Subscription::ALL.iter().enumerate() {
        let relation = RelationKind::ALL.get(n % RelationKind::ALL.len()).copied();
        let right = AccessRight::ALL.get(n % AccessRight::ALL.len()).copied();
        let replaced = RosterItem {
            subscription: *subscription,
            relation,
            pending_in: Some(PendingRequest {
                stanza: format!("<presence n='{n}'/>"),
                requested_right: right,
                received_at: i64::MAX - i64::try_from(n).expect("small"),
            }),
            ..item("bob")
        };
        store
            .apply_relationship_changes(&[put("alice", replaced.clone())])
            .await
            .expect("replace");
        assert_eq!(
            store.roster_item("alice", "bob").await.expect("read"),
            Some(replaced)
        );
    }
    store
        .apply_relationship_changes(&[put("alice", full.clone())])
        .await
        .expect("restore");
    assert_eq!(
        store.roster_item("alice", "bob").await.expect("read"),
        Some(full)
    );
}

pub async fn roster_ordered_and_versioned(store: &Store) {
    assert_eq!(store.roster("nobody").await.expect("roster"), (0, vec![]));
    create_users(store, &["alice", "dave"]).await;
    assert_eq!(store.roster("alice").await.expect("roster"), (0, vec![]));
    assert_eq!(
        store
            .apply_relationship_changes(&[])
            .await
            .expect("empty batch"),
        vec![]
    );

    let touched = store
        .apply_relationship_changes(&[put("alice", item("carol")), put("alice", item("bob"))])
        .await
        .expect("first batch");
    assert_eq!(touched, versions(&[("alice", 1)]));
    let (version, items) = store.roster("alice").await.expect("roster");
    assert_eq!(version, 1);
    assert_eq!(contacts(&items), ["bob", "carol"]);

    // Once per batch per owner, in the order first touched.
    let touched = store
        .apply_relationship_changes(&[
            put("dave", item("alice")),
            put("alice", item("Zoe")),
            put("alice", item("aaron")),
            put("dave", item("bob")),
            remove("alice", "carol"),
        ])
        .await
        .expect("second batch");
    assert_eq!(touched, versions(&[("dave", 1), ("alice", 2)]));
    let (version, items) = store.roster("alice").await.expect("roster");
    assert_eq!(version, 2);
    assert_eq!(contacts(&items), ["Zoe", "aaron", "bob"], "byte-wise order");
    assert_eq!(
        contacts(&store.roster("dave").await.expect("roster").1),
        ["alice", "bob"]
    );

    // Removing nothing, or changing only rights, bumps nothing.
    let touched = store
        .apply_relationship_changes(&[
            remove("alice", "carol"),
            remove("alice", "nobody"),
            remove("nobody", "alice"),
            revoke("alice", "dave"),
        ])
        .await
        .expect("no-op batch");
    assert_eq!(touched, vec![]);
    assert_eq!(store.roster("alice").await.expect("roster").0, 2);

    // A batch mixing a no-op removal for one owner with a real one for another bumps only the latter.
    let touched = store
        .apply_relationship_changes(&[remove("alice", "carol"), remove("dave", "bob")])
        .await
        .expect("mixed batch");
    assert_eq!(touched, versions(&[("dave", 2)]));
    assert_eq!(store.roster("alice").await.expect("roster").0, 2);
    let (version, items) = store.roster("dave").await.expect("roster");
    assert_eq!((version, contacts(&items)), (2, vec!["alice"]));

    assert_eq!(
        store.rosters_containing("alice").await.expect("containing"),
        ["dave"]
    );
    store
        .apply_relationship_changes(&[put("dave", item("bob")), put("alice", item("bob"))])
        .await
        .expect("third batch");
    assert_eq!(
        store.rosters_containing("bob").await.expect("containing"),
        ["alice", "dave"]
    );
    assert_eq!(
        store.rosters_containing("carol").await.expect("containing"),
        Vec::<String>::new()
    );
}

pub async fn apply_is_atomic(store: &Store) {
    create_users(store, &["u1", "u2"]).await;
    create_devices(store, &["dev"]).await;
    store
        .apply_relationship_changes(&[grant("dev", "u1", AccessRight::Owner)])
        .await
        .expect("owner");

    let owned = RosterItem {
        relation: Some(RelationKind::Owner),
        subscription: Subscription::Both,
        ..item("dev")
    };
    let result = store
        .apply_relationship_changes(&[
            put("u2", owned.clone()),
            grant("dev", "u2", AccessRight::Owner),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    assert_eq!(store.roster("u2").await.expect("roster"), (0, vec![]));
    assert_eq!(store.roster_item("u2", "dev").await.expect("read"), None);
    let access = store
        .device_access("dev")
        .await
        .expect("access")
        .expect("device");
    assert_eq!(access.grants, grants(&[("u1", AccessRight::Owner)]));

    // A missing account half-way rolls back too, earlier rights included.
    let result = store
        .apply_relationship_changes(&[
            grant("dev", "u2", AccessRight::View),
            put("u2", owned.clone()),
            put("nobody", item("u2")),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(store.roster("u2").await.expect("roster"), (0, vec![]));
    assert_eq!(store.rights_of_user("u2").await.expect("rights"), vec![]);

    // The store is still usable and the same batch without the bad change applies.
    let touched = store
        .apply_relationship_changes(&[
            put("u2", owned.clone()),
            grant("dev", "u2", AccessRight::View),
        ])
        .await
        .expect("apply");
    assert_eq!(touched, versions(&[("u2", 1)]));
    assert_eq!(store.roster("u2").await.expect("roster"), (1, vec![owned]));
}

pub async fn second_owner_conflicts(store: &Store) {
    create_users(store, &["u1", "u2"]).await;
    create_devices(store, &["dev-a", "dev-b"]).await;
    store
        .apply_relationship_changes(&[grant("dev-a", "u1", AccessRight::Owner)])
        .await
        .expect("first owner");
    let result = store
        .apply_relationship_changes(&[grant("dev-a", "u2", AccessRight::Owner)])
        .await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    // Nor by upgrading an existing grant.
    store
        .apply_relationship_changes(&[grant("dev-a", "u2", AccessRight::View)])
        .await
        .expect("view");
    let result = store
        .apply_relationship_changes(&[grant("dev-a", "u2", AccessRight::Owner)])
        .await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    // Re-granting the same owner is a replacement, not a second owner.
    store
        .apply_relationship_changes(&[grant("dev-a", "u1", AccessRight::Owner)])
        .await
        .expect("same owner again");
    // One user may own several devices, and other rights are not limited.
    store
        .apply_relationship_changes(&[
            grant("dev-b", "u1", AccessRight::Owner),
            grant("dev-a", "u2", AccessRight::Admin),
        ])
        .await
        .expect("more grants");
    // Ownership moves within one batch once the old owner is demoted first.
    store
        .apply_relationship_changes(&[
            grant("dev-a", "u1", AccessRight::Admin),
            grant("dev-a", "u2", AccessRight::Owner),
        ])
        .await
        .expect("transfer");
    let access = store
        .device_access("dev-a")
        .await
        .expect("access")
        .expect("device");
    assert_eq!(
        access.grants,
        grants(&[("u1", AccessRight::Admin), ("u2", AccessRight::Owner)])
    );
    let result = store
        .apply_relationship_changes(&[grant("dev-a", "u1", AccessRight::Owner)])
        .await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
}

pub async fn rights_round_trip_and_replace(store: &Store) {
    create_users(store, &["carol", "alice", "bob"]).await;
    create_devices(store, &["lamp", "heater"]).await;
    for right in AccessRight::ALL {
        store
            .apply_relationship_changes(&[grant("lamp", "alice", *right)])
            .await
            .expect("grant");
        assert_eq!(
            store.rights_of_user("alice").await.expect("rights"),
            grants(&[("lamp", *right)]),
            "set replaces"
        );
    }
    store
        .apply_relationship_changes(&[
            grant("lamp", "carol", AccessRight::View),
            grant("lamp", "bob", AccessRight::Control),
            grant("heater", "alice", AccessRight::Admin),
            grant("lamp", "alice", AccessRight::Owner),
        ])
        .await
        .expect("grants");
    let access = store
        .device_access("lamp")
        .await
        .expect("access")
        .expect("device");
    assert_eq!(access.policy, DevicePolicy::Code);
    assert_eq!(
        access.grants,
        grants(&[
            ("alice", AccessRight::Owner),
            ("bob", AccessRight::Control),
            ("carol", AccessRight::View),
        ])
    );
    assert_eq!(
        store.rights_of_user("alice").await.expect("rights"),
        grants(&[("heater", AccessRight::Admin), ("lamp", AccessRight::Owner)])
    );

    store
        .apply_relationship_changes(&[
            revoke("lamp", "bob"),
            revoke("lamp", "bob"),
            revoke("heater", "carol"),
        ])
        .await
        .expect("revoke");
    assert_eq!(store.rights_of_user("bob").await.expect("rights"), vec![]);
    assert_eq!(
        store
            .device_access("lamp")
            .await
            .expect("access")
            .expect("device")
            .grants,
        grants(&[("alice", AccessRight::Owner), ("carol", AccessRight::View)])
    );
    assert_eq!(
        store
            .device_access("heater")
            .await
            .expect("access")
            .expect("device"),
        DeviceAccess {
            policy: DevicePolicy::Code,
            grants: grants(&[("alice", AccessRight::Admin)]),
        }
    );
    assert_eq!(
        store.rights_of_user("nobody").await.expect("rights"),
        vec![]
    );
}

pub async fn rights_need_existing_accounts(store: &Store) {
    create_users(store, &["alice"]).await;
    create_devices(store, &["lamp"]).await;
    let bad_batches = [
        vec![grant("no-device", "alice", AccessRight::View)],
        vec![grant("lamp", "nobody", AccessRight::View)],
        vec![grant("lamp", "nobody", AccessRight::Owner)],
        vec![put("nobody", item("alice"))],
    ];
    for batch in bad_batches {
        let result = store.apply_relationship_changes(&batch).await;
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "{batch:?}: {result:?}"
        );
    }
    assert_eq!(
        store
            .device_access("lamp")
            .await
            .expect("access")
            .expect("device")
            .grants,
        vec![]
    );
    assert_eq!(store.rights_of_user("alice").await.expect("rights"), vec![]);
    assert_eq!(
        store.rosters_containing("alice").await.expect("containing"),
        Vec::<String>::new()
    );
}

pub async fn device_access_none_for_users_and_missing(store: &Store) {
    create_users(store, &["alice"]).await;
    create_devices(store, &["lamp"]).await;
    assert_eq!(store.device_access("alice").await.expect("user"), None);
    assert_eq!(store.device_access("nobody").await.expect("missing"), None);
    assert_eq!(
        store.device_access("lamp").await.expect("device"),
        Some(DeviceAccess::default())
    );
}

pub async fn device_policy_default_code_and_set(store: &Store) {
    create_users(store, &["alice"]).await;
    create_devices(store, &["lamp", "heater"]).await;
    let policy = |access: Option<DeviceAccess>| access.expect("device").policy;
    assert_eq!(
        policy(store.device_access("lamp").await.expect("read")),
        DevicePolicy::Code
    );
    for wanted in DevicePolicy::ALL {
        store
            .set_device_policy("lamp", *wanted)
            .await
            .expect("set policy");
        assert_eq!(
            policy(store.device_access("lamp").await.expect("read")),
            *wanted
        );
    }
    assert_eq!(
        policy(store.device_access("heater").await.expect("read")),
        DevicePolicy::Code,
        "other devices untouched"
    );
    for name in ["alice", "nobody"] {
        let result = store.set_device_policy(name, DevicePolicy::Open).await;
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "{name}: {result:?}"
        );
    }
}

pub async fn vcode_failures_counted_and_reset_by_new_code(store: &Store) {
    create_users(store, &["alice"]).await;
    create_devices(store, &["lamp", "heater"]).await;
    assert_eq!(store.vcode_failures("lamp").await.expect("read"), (0, 0));
    store.set_vcode_failures("lamp", 3, 0).await.expect("count");
    assert_eq!(store.vcode_failures("lamp").await.expect("read"), (3, 0));
    store
        .set_vcode_failures("lamp", 5, 1_700_000_600)
        .await
        .expect("lock");
    assert_eq!(
        store.vcode_failures("lamp").await.expect("read"),
        (5, 1_700_000_600)
    );
    store
        .set_vcode_failures("heater", u32::MAX, i64::MAX)
        .await
        .expect("extremes");
    assert_eq!(
        store.vcode_failures("heater").await.expect("read"),
        (u32::MAX, i64::MAX)
    );

    // A new code starts a fresh count and lifts the lock, for that device only.
    store
        .set_verification_code("lamp", &code(21))
        .await
        .expect("new code");
    assert_eq!(store.vcode_failures("lamp").await.expect("read"), (0, 0));
    assert_eq!(
        store.vcode_failures("heater").await.expect("read"),
        (u32::MAX, i64::MAX)
    );

    for name in ["alice", "nobody"] {
        let read = store.vcode_failures(name).await;
        assert!(
            matches!(read, Err(StoreError::NotFound)),
            "{name}: {read:?}"
        );
        let write = store.set_vcode_failures(name, 1, 0).await;
        assert!(
            matches!(write, Err(StoreError::NotFound)),
            "{name}: {write:?}"
        );
    }
}

pub async fn delete_account_removes_from_every_roster(store: &Store) {
    create_users(store, &["alice", "bob", "carol"]).await;
    create_devices(store, &["lamp"]).await;
    store
        .apply_relationship_changes(&[
            put("alice", item("bob")),
            put("alice", item("lamp")),
            put("carol", item("bob")),
            put("bob", item("alice")),
            put("lamp", item("bob")),
            grant("lamp", "bob", AccessRight::Control),
            grant("lamp", "alice", AccessRight::Owner),
        ])
        .await
        .expect("relate");
    for stanza in ["<message>1</message>", "<message>2</message>"] {
        assert!(
            store
                .store_offline("bob", stanza, 10, 100)
                .await
                .expect("store")
        );
    }
    assert!(
        store
            .store_offline("alice", "<message/>", 10, 100)
            .await
            .expect("store")
    );
    let before: Vec<i64> = {
        let mut versions = Vec::new();
        for owner in ["alice", "carol", "lamp"] {
            versions.push(store.roster(owner).await.expect("roster").0);
        }
        versions
    };
    assert_eq!(before, [1, 1, 1]);

    assert!(store.delete_account("bob").await.expect("delete user"));
    assert_eq!(
        store.rosters_containing("bob").await.expect("containing"),
        Vec::<String>::new()
    );
    let (version, items) = store.roster("alice").await.expect("roster");
    assert_eq!((version, contacts(&items)), (2, vec!["lamp"]));
    let (version, items) = store.roster("carol").await.expect("roster");
    assert_eq!((version, items), (2, vec![]));
    assert_eq!(store.roster("lamp").await.expect("roster"), (2, vec![]));
    assert_eq!(store.roster("bob").await.expect("roster"), (0, vec![]));
    assert_eq!(
        store.rosters_containing("alice").await.expect("containing"),
        Vec::<String>::new(),
        "bob's own roster went with him"
    );
    assert_eq!(store.rights_of_user("bob").await.expect("rights"), vec![]);
    assert_eq!(
        store
            .device_access("lamp")
            .await
            .expect("access")
            .expect("device")
            .grants,
        grants(&[("alice", AccessRight::Owner)])
    );
    assert_eq!(store.count_offline("bob").await.expect("count"), 0);
    assert_eq!(store.count_offline("alice").await.expect("count"), 1);

    // The device goes with the rights on it.
    assert!(store.delete_account("lamp").await.expect("delete device"));
    assert_eq!(store.rights_of_user("alice").await.expect("rights"), vec![]);
    let (version, items) = store.roster("alice").await.expect("roster");
    assert_eq!((version, items), (3, vec![]));
    assert_eq!(
        store.roster("carol").await.expect("roster").0,
        2,
        "untouched"
    );

    // A re-registered name starts with nothing and appears in no roster.
    create_users(store, &["bob"]).await;
    assert_eq!(store.roster("bob").await.expect("roster"), (0, vec![]));
    assert_eq!(store.take_offline("bob").await.expect("take"), vec![]);
    assert_eq!(
        store.rosters_containing("bob").await.expect("containing"),
        Vec::<String>::new()
    );
}

pub async fn roster_may_name_missing_accounts(store: &Store) {
    create_users(store, &["alice"]).await;
    let ghost = RosterItem {
        subscription: Subscription::To,
        ask: true,
        ..item("ghost")
    };
    let touched = store
        .apply_relationship_changes(&[put("alice", ghost.clone())])
        .await
        .expect("put");
    assert_eq!(touched, versions(&[("alice", 1)]));
    assert_eq!(
        store.roster_item("alice", "ghost").await.expect("read"),
        Some(ghost.clone())
    );
    assert_eq!(
        store.rosters_containing("ghost").await.expect("containing"),
        ["alice"]
    );
    // Deleting a name that is no account changes nothing, rosters included.
    assert!(!store.delete_account("ghost").await.expect("delete"));
    assert_eq!(
        store.roster("alice").await.expect("roster"),
        (1, vec![ghost])
    );
}

pub async fn offline_store_take_in_order_and_quota(store: &Store) {
    create_users(store, &["alice", "bob"]).await;
    for (n, stanza) in [
        "<message>1 ✓</message>",
        "<message>2</message>",
        "<presence/>",
    ]
    .iter()
    .enumerate()
    {
        let at = 100 - i64::try_from(n).expect("small");
        assert!(
            store
                .store_offline("alice", stanza, at, 3)
                .await
                .expect("store")
        );
    }
    assert!(
        store
            .store_offline("bob", "<message>bob</message>", 7, 3)
            .await
            .expect("store")
    );
    assert!(
        !store
            .store_offline("alice", "<message>4</message>", 200, 3)
            .await
            .expect("over quota")
    );
    assert_eq!(store.count_offline("alice").await.expect("count"), 3);
    // A larger quota admits more.
    assert!(
        store
            .store_offline("alice", "<message>4</message>", 200, 4)
            .await
            .expect("store")
    );
    let taken = store.take_offline("alice").await.expect("take");
    let expected = [
        ("<message>1 ✓</message>", 100),
        ("<message>2</message>", 99),
        ("<presence/>", 98),
        ("<message>4</message>", 200),
    ]
    .map(|(stanza, stored_at)| StoredStanza {
        stanza: stanza.to_owned(),
        stored_at,
    });
    assert_eq!(taken, expected, "oldest first, by arrival not by stamp");
    assert_eq!(store.count_offline("alice").await.expect("count"), 0);
    assert_eq!(
        store.take_offline("alice").await.expect("take again"),
        vec![]
    );
    assert_eq!(
        store.count_offline("bob").await.expect("count"),
        1,
        "bob's kept"
    );

    // The quota counts what is held now.
    assert!(
        store
            .store_offline("alice", "<message>5</message>", 300, 1)
            .await
            .expect("store")
    );
    assert!(
        !store
            .store_offline("alice", "<message>6</message>", 300, 1)
            .await
            .expect("full")
    );
    assert!(
        !store
            .store_offline("bob", "<message/>", 300, 0)
            .await
            .expect("zero quota")
    );
    assert_eq!(
        store.take_offline("bob").await.expect("take"),
        vec![StoredStanza {
            stanza: "<message>bob</message>".to_owned(),
            stored_at: 7,
        }]
    );
}

pub async fn offline_needs_account(store: &Store) {
    let result = store.store_offline("nobody", "<message/>", 1, 10).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(store.count_offline("nobody").await.expect("count"), 0);
    assert_eq!(store.take_offline("nobody").await.expect("take"), vec![]);
}

pub async fn concurrent_batches_and_stores_stay_consistent(store: &Store) {
    create_users(store, &["alice", "bob"]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let store = store.clone();
        // Half touch alice then bob, half bob then alice.
        let (first, second) = if n % 2 == 0 {
            ("alice", "bob")
        } else {
            ("bob", "alice")
        };
        let batch = vec![
            put(first, item(&format!("c-{n}"))),
            put(second, item(&format!("c-{n}"))),
        ];
        tasks.spawn(async move { store.apply_relationship_changes(&batch).await });
    }
    let mut seen = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let touched = result.expect("task").expect("apply");
        assert_eq!(touched.len(), 2);
        seen.extend(touched);
    }
    for owner in ["alice", "bob"] {
        let mut mine: Vec<i64> = seen
            .iter()
            .filter(|(name, _)| name == owner)
            .map(|(_, version)| *version)
            .collect();
        mine.sort_unstable();
        assert_eq!(
            mine,
            (1..=20).collect::<Vec<i64>>(),
            "{owner}: one version each"
        );
        let (version, items) = store.roster(owner).await.expect("roster");
        assert_eq!((version, items.len()), (20, 20));
    }

    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .store_offline("alice", &format!("<message>{n}</message>"), n, 5)
                .await
        });
    }
    let mut stored = 0;
    while let Some(result) = tasks.join_next().await {
        stored += usize::from(result.expect("task").expect("store"));
    }
    assert_eq!(stored, 5, "the quota holds under concurrency");
    assert_eq!(store.count_offline("alice").await.expect("count"), 5);
}

pub async fn devices_are_found_by_type(store: &Store) {
    create_users(store, &["u1"]).await;
    create_devices(store, &["lamp-b", "lamp-a"]).await;
    let plug = NewAccount {
        device: Some(DeviceInfo {
            device_type: "urn:igrs:device:plug".to_owned(),
            ..device_info("SN-9")
        }),
        ..new_device("plug-1")
    };
    store.create_account(plug).await.expect("plug");
    let lamps = store
        .devices_of_type("urn:igrs:device:lamp")
        .await
        .expect("lamps");
    assert_eq!(lamps, ["lamp-a", "lamp-b"]);
    let plugs = store
        .devices_of_type("urn:igrs:device:plug")
        .await
        .expect("plugs");
    assert_eq!(plugs, ["plug-1"]);
    let none = store
        .devices_of_type("lamp")
        .await
        .expect("exact match only");
    assert!(none.is_empty(), "{none:?}");
}

// Device descriptions, event subscriptions and last items.

pub async fn device_description_replaced_and_deleted_with_account(store: &Store) {
    create_devices(store, &["lamp"]).await;
    assert_eq!(store.device_description("lamp").await.expect("read"), None);
    store
        .put_device_description("lamp", "<describe v='1'/>", 10)
        .await
        .expect("put");
    store
        .put_device_description("lamp", "<describe v='2'/>", 20)
        .await
        .expect("replace");
    assert_eq!(
        store
            .device_description("lamp")
            .await
            .expect("read")
            .as_deref(),
        Some("<describe v='2'/>")
    );
    assert!(
        store
            .put_device_description("ghost", "<describe/>", 10)
            .await
            .is_err(),
        "a description needs an account"
    );
    assert!(store.delete_account("lamp").await.expect("delete"));
    assert_eq!(store.device_description("lamp").await.expect("read"), None);
}

pub async fn event_subscriptions_and_last_items(store: &Store) {
    create_users(store, &["alice", "bob"]).await;
    create_devices(store, &["cam", "lamp"]).await;
    assert!(
        store
            .subscribe_event("cam", "motion", "bob", 1)
            .await
            .expect("sub")
    );
    assert!(
        store
            .subscribe_event("cam", "motion", "alice", 1)
            .await
            .expect("sub")
    );
    assert!(
        !store
            .subscribe_event("cam", "motion", "alice", 2)
            .await
            .expect("again")
    );
    assert!(
        store
            .subscribe_event("lamp", "fault", "alice", 3)
            .await
            .expect("sub")
    );
    assert_eq!(
        store
            .event_subscribers("cam", "motion")
            .await
            .expect("list"),
        ["alice", "bob"]
    );
    assert_eq!(
        store.event_subscriptions_of("alice").await.expect("list"),
        [
            ("cam".to_owned(), "motion".to_owned()),
            ("lamp".to_owned(), "fault".to_owned())
        ]
    );
    store
        .put_last_item("cam", "motion", "i1", "<m n='1'/>", 5)
        .await
        .expect("put");
    store
        .put_last_item("cam", "motion", "i2", "<m n='2'/>", 6)
        .await
        .expect("replace");
    store
        .put_last_item("lamp", "on", "i3", "<on/>", 7)
        .await
        .expect("put");
    let want = LastItem {
        device: "cam".into(),
        event: "motion".into(),
        item_id: "i2".into(),
        item: "<m n='2'/>".into(),
        published_at: 6,
    };
    assert_eq!(
        store.last_item("cam", "motion").await.expect("read"),
        Some(want.clone())
    );
    // Only subscribed events that have an item: lamp/fault has none, lamp/on is not subscribed.
    assert_eq!(
        store.last_items_for("alice").await.expect("read"),
        vec![want]
    );
    store
        .unsubscribe_event("cam", "motion", "alice")
        .await
        .expect("unsub");
    assert!(matches!(
        store.unsubscribe_event("cam", "motion", "alice").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.last_items_for("alice").await.expect("read"), vec![]);
    // Deleting the subscriber or the device removes its subscriptions and items.
    assert!(store.delete_account("bob").await.expect("delete"));
    assert!(
        store
            .event_subscribers("cam", "motion")
            .await
            .expect("list")
            .is_empty()
    );
    assert!(store.delete_account("lamp").await.expect("delete"));
    assert!(
        store
            .event_subscriptions_of("alice")
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(store.last_item("lamp", "on").await.expect("read"), None);
}

// Application-server grants.

pub async fn app_grants_put_check_withdraw(store: &Store) {
    create_users(store, &["alice", "bob"]).await;
    assert!(!store.has_app_grant("gateway", "alice").await.expect("read"));
    assert!(
        store
            .put_app_grant("gateway", "alice", 1)
            .await
            .expect("grant")
    );
    assert!(
        !store
            .put_app_grant("gateway", "alice", 2)
            .await
            .expect("again")
    );
    assert!(
        store
            .put_app_grant("gateway", "bob", 3)
            .await
            .expect("grant")
    );
    assert!(store.put_app_grant("other", "bob", 3).await.expect("grant"));
    assert!(
        store.put_app_grant("gateway", "ghost", 3).await.is_err(),
        "a grant needs an account"
    );
    assert!(store.has_app_grant("gateway", "alice").await.expect("read"));
    assert!(!store.has_app_grant("other", "alice").await.expect("read"));
    assert_eq!(
        store.app_grantors("gateway").await.expect("list"),
        ["alice", "bob"]
    );
    store
        .delete_app_grant("gateway", "alice")
        .await
        .expect("withdraw");
    assert!(matches!(
        store.delete_app_grant("gateway", "alice").await,
        Err(StoreError::NotFound)
    ));
    assert!(store.delete_account("bob").await.expect("delete"));
    assert!(
        store
            .app_grantors("gateway")
            .await
            .expect("list")
            .is_empty()
    );
    assert!(store.app_grantors("other").await.expect("list").is_empty());
}

// The delivery journal.

fn append(owner: &str, stanza: &str) -> JournalOp {
    JournalOp::Append {
        owner: owner.into(),
        stanza: stanza.into(),
        now: 7,
    }
}

fn appended(outcome: &JournalOutcome) -> i64 {
    match outcome {
        JournalOutcome::Appended(id) => *id,
        other => panic!("not appended: {other:?}"),
    }
}

pub async fn journal_in_flight_is_not_offline_until_kept(store: &Store) {
    create_users(store, &["bob"]).await;
    let outcomes = store
        .apply_journal(&[
            append("bob", "<message>1</message>"),
            append("nobody", "<message>x</message>"),
            append("bob", "<message>2</message>"),
        ])
        .await
        .expect("journal");
    assert_eq!(outcomes[1], JournalOutcome::NoAccount, "the batch goes on");
    let (first, second) = (appended(&outcomes[0]), appended(&outcomes[2]));
    assert!(first < second, "ids grow in batch order");
    assert_eq!(store.count_in_flight().await.expect("count"), 2);
    // In flight: not offline storage, not counted against the quota.
    assert_eq!(store.count_offline("bob").await.expect("count"), 0);
    assert_eq!(store.take_offline("bob").await.expect("take"), vec![]);
    assert!(
        store
            .store_offline("bob", "<message>q</message>", 8, 1)
            .await
            .expect("store")
    );

    let outcomes = store
        .apply_journal(&[
            JournalOp::Release(first),
            JournalOp::Keep(second),
            JournalOp::Release(first),
        ])
        .await
        .expect("release and keep");
    assert_eq!(outcomes, vec![JournalOutcome::Done; 3], "idempotent");
    assert_eq!(store.count_in_flight().await.expect("count"), 0);
    let taken: Vec<String> = store
        .take_offline("bob")
        .await
        .expect("take")
        .into_iter()
        .map(|s| s.stanza)
        .collect();
    assert_eq!(
        taken,
        ["<message>2</message>", "<message>q</message>"],
        "kept in id order"
    );
}

pub async fn journal_recovery_and_claimed_offline(store: &Store) {
    create_users(store, &["bob"]).await;
    for stanza in ["<message>1</message>", "<message>2</message>"] {
        assert!(
            store
                .store_offline("bob", stanza, 5, 10)
                .await
                .expect("store")
        );
    }
    let claimed = store.claim_offline("bob").await.expect("claim");
    let texts: Vec<&str> = claimed.iter().map(|(_, s)| s.stanza.as_str()).collect();
    assert_eq!(texts, ["<message>1</message>", "<message>2</message>"]);
    assert_eq!(claimed[0].1.stored_at, 5);
    assert_eq!(
        store.claim_offline("bob").await.expect("claim").len(),
        0,
        "claimed once"
    );
    assert_eq!(store.count_offline("bob").await.expect("count"), 0);
    store
        .apply_journal(&[JournalOp::Release(claimed[0].0)])
        .await
        .expect("release");

    // A crash leaves the rest in flight; the next start makes it offline storage again.
    assert_eq!(store.recover_journal().await.expect("recover"), 1);
    assert_eq!(store.count_in_flight().await.expect("count"), 0);
    let taken = store.take_offline("bob").await.expect("take");
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].stanza, "<message>2</message>");
    assert_eq!(store.recover_journal().await.expect("recover"), 0);
}

pub async fn journal_stores_in_one_batch_within_the_quota(store: &Store) {
    create_users(store, &["bob"]).await;
    let offline = |owner: &str, n: u32| JournalOp::Store {
        owner: owner.into(),
        stanza: format!("<message>{n}</message>"),
        now: i64::from(n),
        max: 2,
    };
    let outcomes = store
        .apply_journal(&[
            offline("bob", 1),
            offline("nobody", 2),
            offline("bob", 3),
            offline("bob", 4),
        ])
        .await
        .expect("batch");
    assert!(
        matches!(outcomes[0], JournalOutcome::Stored(_)),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], JournalOutcome::NoAccount, "the batch goes on");
    assert!(
        matches!(outcomes[2], JournalOutcome::Stored(_)),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes[3],
        JournalOutcome::Full,
        "the quota counts this batch's own stores"
    );
    let taken = store.take_offline("bob").await.expect("take");
    let bodies: Vec<_> = taken.iter().map(|s| s.stanza.as_str()).collect();
    assert_eq!(bodies, ["<message>1</message>", "<message>3</message>"]);
}

fn oauth_client(id: &str) -> OAuthClient {
    OAuthClient {
        client_id: id.to_owned(),
        name: "Home B".to_owned(),
        secret_hash: vec![9; 32],
        redirect_uris: vec![
            "https://b.example/cb".to_owned(),
            "https://b.example/cb2?x=1".to_owned(),
        ],
        scopes: vec!["devices:read".to_owned(), "devices:write".to_owned()],
        audiences: vec!["https://c.example/cui/v1".to_owned()],
        created_at: 100,
    }
}

fn oauth_grant(id: &str, client: &str, user: &str) -> OAuthGrant {
    OAuthGrant {
        grant_id: id.to_owned(),
        client_id: client.to_owned(),
        username: user.to_owned(),
        scope: "devices:read devices:write".to_owned(),
        created_at: 200,
        revoked_at: None,
    }
}

pub async fn oauth_clients_round_trip_and_delete_revokes_grants(store: &Store) {
    store
        .create_account(new_user("alice"))
        .await
        .expect("alice");
    let b = oauth_client("home-b");
    store.put_oauth_client(&b).await.expect("put");
    assert!(matches!(
        store.put_oauth_client(&b).await,
        Err(StoreError::Conflict)
    ));
    store
        .put_oauth_client(&oauth_client("home-a"))
        .await
        .expect("put a");
    assert_eq!(
        store.oauth_client("home-b").await.expect("read"),
        Some(b.clone())
    );
    assert_eq!(store.oauth_client("nobody").await.expect("read"), None);
    let ids: Vec<String> = store
        .oauth_clients()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["home-a", "home-b"]);
    store
        .create_oauth_grant(&oauth_grant("g1", "home-b", "alice"))
        .await
        .expect("g1");
    store
        .create_oauth_grant(&oauth_grant("g2", "home-b", "alice"))
        .await
        .expect("g2");
    store
        .create_oauth_grant(&oauth_grant("g3", "home-a", "alice"))
        .await
        .expect("g3");
    assert!(
        store
            .revoke_oauth_grant("g2", 300)
            .await
            .expect("revoke g2")
    );
    let mut revoked = store
        .delete_oauth_client("home-b", 400)
        .await
        .expect("delete");
    revoked.sort();
    assert_eq!(revoked, ["g1"], "g2 was already revoked");
    assert_eq!(store.oauth_client("home-b").await.expect("read"), None);
    assert!(matches!(
        store.delete_oauth_client("home-b", 401).await,
        Err(StoreError::NotFound)
    ));
    let g1 = store.oauth_grant("g1").await.expect("read").expect("kept");
    assert_eq!(g1.revoked_at, Some(400));
    assert_eq!(
        store
            .oauth_grant("g3")
            .await
            .expect("read")
            .expect("g3")
            .revoked_at,
        None
    );
    assert_eq!(
        store.revoked_oauth_grants(0).await.expect("since 0"),
        ["g1", "g2"]
    );
    assert_eq!(
        store.revoked_oauth_grants(350).await.expect("since 350"),
        ["g1"]
    );
}

pub async fn oauth_grants_need_an_account_and_revoke_once(store: &Store) {
    assert!(matches!(
        store
            .create_oauth_grant(&oauth_grant("g1", "home-b", "ghost"))
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .create_account(new_user("alice"))
        .await
        .expect("alice");
    let g = oauth_grant("g1", "home-b", "alice");
    store.create_oauth_grant(&g).await.expect("grant");
    assert_eq!(store.oauth_grant("g1").await.expect("read"), Some(g));
    assert!(store.revoke_oauth_grant("g1", 10).await.expect("first"));
    assert!(!store.revoke_oauth_grant("g1", 11).await.expect("second"));
    assert!(!store.revoke_oauth_grant("nope", 11).await.expect("unknown"));
    assert_eq!(
        store
            .oauth_grant("g1")
            .await
            .expect("read")
            .expect("g1")
            .revoked_at,
        Some(10)
    );
    // Deleting the user deletes their grants.
    store.delete_account("alice").await.expect("delete alice");
    assert_eq!(store.oauth_grant("g1").await.expect("read"), None);
}

pub async fn refresh_tokens_are_spent_once(store: &Store) {
    store
        .create_account(new_user("alice"))
        .await
        .expect("alice");
    let g = oauth_grant("g1", "home-b", "alice");
    store.create_oauth_grant(&g).await.expect("grant");
    assert!(matches!(
        store
            .put_refresh_token(&[1; 32], "no-grant", "devices:read", 500)
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .put_refresh_token(&[1; 32], "g1", "devices:read", 500)
        .await
        .expect("put");
    assert!(matches!(
        store
            .put_refresh_token(&[1; 32], "g1", "devices:read", 500)
            .await,
        Err(StoreError::Conflict)
    ));
    let t = store
        .refresh_token(&[1; 32])
        .await
        .expect("read")
        .expect("present");
    assert_eq!(t.grant, g);
    assert_eq!(
        (t.scope.as_str(), t.expires_at, t.used_at),
        ("devices:read", 500, None)
    );
    assert_eq!(store.refresh_token(&[2; 32]).await.expect("read"), None);
    // Concurrent spenders: exactly one wins.
    let spends = futures_all(store, &[1; 32]).await;
    assert_eq!(spends.iter().filter(|won| **won).count(), 1, "{spends:?}");
    let used = store
        .refresh_token(&[1; 32])
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(used.used_at, Some(42));
    assert!(
        !store
            .spend_refresh_token(&[2; 32], 43)
            .await
            .expect("unknown")
    );
    // A revoked grant shows through the token.
    store.revoke_oauth_grant("g1", 50).await.expect("revoke");
    let t = store
        .refresh_token(&[1; 32])
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(t.grant.revoked_at, Some(50));
}

async fn futures_all(store: &Store, hash: &[u8]) -> Vec<bool> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (store, hash) = (store.clone(), hash.to_vec());
        set.spawn(async move { store.spend_refresh_token(&hash, 42).await.expect("spend") });
    }
    set.join_all().await
}

pub async fn revoked_access_tokens_kept_until_expiry(store: &Store) {
    store.revoke_access_token("jti-b", 200).await.expect("b");
    store.revoke_access_token("jti-a", 100).await.expect("a");
    store
        .revoke_access_token("jti-a", 100)
        .await
        .expect("twice is fine");
    assert_eq!(
        store.revoked_access_tokens(50).await.expect("at 50"),
        ["jti-a", "jti-b"]
    );
    assert_eq!(
        store.revoked_access_tokens(100).await.expect("at 100"),
        ["jti-b"]
    );
    assert_eq!(store.prune_oauth(150).await.expect("prune"), 1);
    assert_eq!(
        store.revoked_access_tokens(0).await.expect("at 0"),
        ["jti-b"]
    );
}

fn signing_key(kid: &str, created_at: i64) -> SigningKey {
    SigningKey {
        kid: kid.to_owned(),
        private_key: vec![created_at as u8; 83],
        created_at,
        retires_at: None,
    }
}

pub async fn signing_keys_rotate_and_retire(store: &Store) {
    assert!(store.signing_keys(0).await.expect("none").is_empty());
    store
        .rotate_signing_key(&signing_key("k1", 10), 0)
        .await
        .expect("k1");
    store
        .rotate_signing_key(&signing_key("k2", 20), 80)
        .await
        .expect("k2");
    assert!(matches!(
        store.rotate_signing_key(&signing_key("k2", 21), 90).await,
        Err(StoreError::Conflict)
    ));
    // The failed rotation retired nothing: k2 is still current.
    let keys = store.signing_keys(30).await.expect("at 30");
    let summary: Vec<(&str, Option<i64>)> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.retires_at))
        .collect();
    assert_eq!(summary, [("k2", None), ("k1", Some(80))]);
    assert_eq!(keys[0], signing_key("k2", 20));
    assert!(
        !format!("{:?}", keys[0]).contains("20, 20"),
        "private key redacted"
    );
    let later: Vec<String> = store
        .signing_keys(80)
        .await
        .expect("at 80")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(later, ["k2"]);
    assert_eq!(store.prune_oauth(80).await.expect("prune"), 1);
    assert_eq!(store.signing_keys(0).await.expect("after prune").len(), 1);
}

pub async fn prune_drops_expired_refresh_tokens(store: &Store) {
    store
        .create_account(new_user("alice"))
        .await
        .expect("alice");
    store
        .create_oauth_grant(&oauth_grant("g1", "home-b", "alice"))
        .await
        .expect("grant");
    store
        .put_refresh_token(&[1; 32], "g1", "devices:read", 100)
        .await
        .expect("1");
    store
        .put_refresh_token(&[2; 32], "g1", "devices:read", 200)
        .await
        .expect("2");
    assert_eq!(store.prune_oauth(100).await.expect("prune"), 1);
    assert_eq!(store.refresh_token(&[1; 32]).await.expect("read"), None);
    assert!(store.refresh_token(&[2; 32]).await.expect("read").is_some());
}

fn federation_link(id: &str, user: &str, linked_at: i64) -> FederationLink {
    FederationLink {
        link_id: id.to_owned(),
        username: user.to_owned(),
        peer: "home-b".to_owned(),
        remote_user: "alicia".to_owned(),
        remote_id: Some(format!("{id}-there")),
        direction: "outbound".to_owned(),
        access_token: format!("access-{id}"),
        refresh_token: Some(format!("refresh-{id}")),
        refresh_at: 1_000,
        local_grant: Some(format!("grant-{id}")),
        callback_secret: "s".repeat(32),
        linked_at,
    }
}

fn remote_subscription(link: &str, device: &str, id: &str, expires_at: i64) -> RemoteSubscription {
    RemoteSubscription {
        link_id: link.to_owned(),
        device: device.to_owned(),
        event: "property".to_owned(),
        subscription_id: id.to_owned(),
        expires_at,
    }
}

pub async fn federation_links_round_trip_with_their_remote_subscriptions(store: &Store) {
    assert!(matches!(
        store
            .put_federation_link(&federation_link("l1", "ghost", 5))
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .create_account(new_user("alice"))
        .await
        .expect("alice");
    let (l1, l2) = (
        federation_link("l1", "alice", 7),
        federation_link("l2", "alice", 5),
    );
    store.put_federation_link(&l1).await.expect("l1");
    store.put_federation_link(&l2).await.expect("l2");
    assert!(matches!(
        store.put_federation_link(&l1).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.federation_links().await.expect("all"),
        vec![l2.clone(), l1.clone()]
    );

    // A refresh replaces both tokens; a link without a refresh token keeps none.
    store
        .set_federation_tokens("l1", "access-2", None, 2_000)
        .await
        .expect("tokens");
    let read = store.federation_links().await.expect("all");
    assert_eq!(
        (
            read[1].access_token.as_str(),
            read[1].refresh_token.as_deref(),
            read[1].refresh_at
        ),
        ("access-2", None, 2_000)
    );
    assert!(matches!(
        store.set_federation_tokens("nope", "a", None, 0).await,
        Err(StoreError::NotFound)
    ));

    // Subscriptions at the peer: a renewal replaces the row of its device and event.
    assert!(matches!(
        store
            .put_remote_subscription(&remote_subscription("nope", "lamp", "s0", 1))
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .put_remote_subscription(&remote_subscription("l1", "lamp", "s1", 10))
        .await
        .expect("s1");
    store
        .put_remote_subscription(&remote_subscription("l1", "fan", "s2", 10))
        .await
        .expect("s2");
    store
        .put_remote_subscription(&remote_subscription("l1", "lamp", "s3", 20))
        .await
        .expect("renew");
    assert_eq!(
        store.remote_subscriptions("l1").await.expect("subs"),
        vec![
            remote_subscription("l1", "fan", "s2", 10),
            remote_subscription("l1", "lamp", "s3", 20)
        ]
    );
    assert!(
        store
            .delete_remote_subscription("l1", "fan", "property")
            .await
            .expect("del")
    );
    assert!(
        !store
            .delete_remote_subscription("l1", "fan", "property")
            .await
            .expect("again")
    );

    // Unlinking forgets the link and what was made through it; the other link stays.
    assert!(store.delete_federation_link("l1").await.expect("unlink"));
    assert!(!store.delete_federation_link("l1").await.expect("again"));
    assert_eq!(
        store.remote_subscriptions("l1").await.expect("subs"),
        vec![]
    );
    assert_eq!(store.federation_links().await.expect("all"), vec![l2]);
    // Deleting the user deletes their links.
    store.delete_account("alice").await.expect("delete alice");
    assert_eq!(store.federation_links().await.expect("all"), vec![]);
}
