//! Relationships (14543-5-8 §10): versioned rosters, device access rights and policies (§9), the
//! verification-code failure counter, and stanzas stored for offline accounts.
//!
//! Listings are sorted here, byte-wise, rather than by `ORDER BY`, so both dialects order alike whatever the
//! PostgreSQL collation.

use crate::accounts::expect_one;
use crate::{
    AccessRight, DeviceAccess, DevicePolicy, PendingRequest, RelationKind, RelationshipChange,
    RosterItem, Store, StoreError, StoredStanza, Subscription, with_pool,
};

/// The roster item columns of [`ItemRow`], for a table aliased `r`.
const ITEM_COLUMNS: &str = "r.contact, r.name, r.groups, r.subscription, r.ask, \
    r.pending_stanza, r.pending_right, r.pending_at, r.preapproved, r.relation";

/// Inserts or replaces one roster item: `$1` owner, `$2`… the item columns in [`ITEM_COLUMNS`] order.
const PUT_ITEM: &str = "INSERT INTO roster_items (owner, contact, name, groups, subscription, ask, \
    pending_stanza, pending_right, pending_at, preapproved, relation) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
    ON CONFLICT (owner, contact) DO UPDATE SET name = excluded.name, groups = excluded.groups, \
    subscription = excluded.subscription, ask = excluded.ask, pending_stanza = excluded.pending_stanza, \
    pending_right = excluded.pending_right, pending_at = excluded.pending_at, \
    preapproved = excluded.preapproved, relation = excluded.relation";

const REMOVE_ITEM: &str = "DELETE FROM roster_items WHERE owner = $1 AND contact = $2";

/// Grants or replaces a right: `$1` device, `$2` user, `$3` right. A second owner violates the partial unique
/// index, which is not the conflict target, so it fails rather than updating.
const SET_RIGHT: &str = "INSERT INTO access_rights (device, grantee, access_right) VALUES ($1, $2, $3) \
    ON CONFLICT (device, grantee) DO UPDATE SET access_right = excluded.access_right";

const REMOVE_RIGHT: &str = "DELETE FROM access_rights WHERE device = $1 AND grantee = $2";

const BUMP_VERSION: &str = "UPDATE accounts SET roster_version = roster_version + 1 \
    WHERE localpart = $1 RETURNING roster_version";

/// A roster item as stored; every column is optional because [`Store::roster`] reads it through a `LEFT JOIN`
/// (an account with an empty roster yields one row of NULLs).
#[derive(sqlx::FromRow)]
struct ItemRow {
    contact: Option<String>,
    name: Option<String>,
    groups: Option<String>,
    subscription: Option<String>,
    ask: Option<bool>,
    pending_stanza: Option<String>,
    pending_right: Option<String>,
    pending_at: Option<i64>,
    preapproved: Option<bool>,
    relation: Option<String>,
}

impl ItemRow {
    /// The item, or `None` for the all-NULL row of an empty roster.
    fn into_item(self) -> Result<Option<RosterItem>, StoreError> {
        let Some(contact) = self.contact else {
            return Ok(None);
        };
        let groups = decode_groups(self.groups.as_deref().unwrap_or("[]"))?;
        let subscription = match self.subscription {
            Some(text) => Subscription::try_from(text).map_err(StoreError::decode)?,
            None => Subscription::None,
        };
        let requested_right = self
            .pending_right
            .map(AccessRight::try_from)
            .transpose()
            .map_err(StoreError::decode)?;
        let pending_in = match (self.pending_stanza, self.pending_at) {
            (Some(stanza), Some(received_at)) => Some(PendingRequest {
                stanza,
                requested_right,
                received_at,
            }),
            _ => None,
        };
        let relation = self
            .relation
            .map(RelationKind::try_from)
            .transpose()
            .map_err(StoreError::decode)?;
        Ok(Some(RosterItem {
            contact,
            name: self.name,
            groups,
            subscription,
            ask: self.ask.unwrap_or(false),
            pending_in,
            preapproved: self.preapproved.unwrap_or(false),
            relation,
        }))
    }
}

/// One row of [`Store::roster`]: the owner's version with one of its items (or NULLs).
#[derive(sqlx::FromRow)]
struct RosterRow {
    roster_version: i64,
    #[sqlx(flatten)]
    item: ItemRow,
}

/// One row of [`Store::device_access`]: the policy with one grant (or NULLs).
#[derive(sqlx::FromRow)]
struct AccessRow {
    #[sqlx(try_from = "String")]
    policy: DevicePolicy,
    grantee: Option<String>,
    access_right: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RightRow {
    device: String,
    #[sqlx(try_from = "String")]
    access_right: AccessRight,
}

#[derive(sqlx::FromRow)]
struct FailuresRow {
    #[sqlx(try_from = "i64")]
    vcode_failures: u32,
    vcode_locked_until: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct StanzaRow {
    pub(crate) id: i64,
    pub(crate) stanza: String,
    pub(crate) stored_at: i64,
}

/// Groups are stored as a JSON array of strings, so any group name (commas, quotes, any Unicode) round-trips.
fn encode_groups(groups: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(groups).map_err(|error| StoreError::decode(format!("groups: {error}")))
}

fn decode_groups(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::decode(format!("groups: {error}")))
}

/// Sorts `(key, value)` pairs by key, byte-wise.
fn sorted_by_key<T>(mut pairs: Vec<(String, T)>) -> Vec<(String, T)> {
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

impl Store {
    /// The roster of `owner` ordered by contact, and its version (0 until the first change; an unknown account
    /// reads `(0, [])`). Version and items are read in one statement, so they always match.
    pub async fn roster(&self, owner: &str) -> Result<(i64, Vec<RosterItem>), StoreError> {
        let sql = format!(
            "SELECT a.roster_version, {ITEM_COLUMNS} FROM accounts a \
             LEFT JOIN roster_items r ON r.owner = a.localpart WHERE a.localpart = $1"
        );
        let rows: Vec<RosterRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(owner).fetch_all(pool).await?
        });
        let version = rows.first().map_or(0, |row| row.roster_version);
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(item) = row.item.into_item()? {
                items.push(item);
            }
        }
        items.sort_by(|a, b| a.contact.cmp(&b.contact));
        Ok((version, items))
    }

    /// The owner's item for `contact`, if any.
    pub async fn roster_item(
        &self,
        owner: &str,
        contact: &str,
    ) -> Result<Option<RosterItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM roster_items r WHERE r.owner = $1 AND r.contact = $2"
        );
        let row: Option<ItemRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(owner).bind(contact).fetch_optional(pool).await?
        });
        match row {
            Some(row) => row.into_item(),
            None => Ok(None),
        }
    }

    /// Owners of the rosters that hold an item for `contact`, ordered.
    pub async fn rosters_containing(&self, contact: &str) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT owner FROM roster_items WHERE contact = $1";
        let mut owners: Vec<String> = with_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(contact).fetch_all(pool).await?
        });
        owners.sort();
        Ok(owners)
    }

    /// The device's policy and grants (grants ordered by user); `None` unless `device` is a device account.
    pub async fn device_access(&self, device: &str) -> Result<Option<DeviceAccess>, StoreError> {
        // One statement, so the policy and the grants are one snapshot.
        let sql = "SELECT d.policy, r.grantee, r.access_right FROM devices d \
                   LEFT JOIN access_rights r ON r.device = d.localpart WHERE d.localpart = $1";
        let rows: Vec<AccessRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(device).fetch_all(pool).await?
        });
        let Some(policy) = rows.first().map(|row| row.policy) else {
            return Ok(None);
        };
        let mut grants = Vec::with_capacity(rows.len());
        for row in rows {
            if let (Some(grantee), Some(right)) = (row.grantee, row.access_right) {
                grants.push((
                    grantee,
                    AccessRight::try_from(right).map_err(StoreError::decode)?,
                ));
            }
        }
        Ok(Some(DeviceAccess {
            policy,
            grants: sorted_by_key(grants),
        }))
    }

    /// The rights `user` holds, as `(device, right)` ordered by device.
    pub async fn rights_of_user(
        &self,
        user: &str,
    ) -> Result<Vec<(String, AccessRight)>, StoreError> {
        let sql = "SELECT device, access_right FROM access_rights WHERE grantee = $1";
        let rows: Vec<RightRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(user).fetch_all(pool).await?
        });
        Ok(sorted_by_key(
            rows.into_iter()
                .map(|row| (row.device, row.access_right))
                .collect(),
        ))
    }

    /// Sets the device's policy for newcomers. [`StoreError::NotFound`] unless `device` is a device account.
    pub async fn set_device_policy(
        &self,
        device: &str,
        policy: DevicePolicy,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE devices SET policy = $2 WHERE localpart = $1";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(device)
                .bind(policy.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        expect_one(rows)
    }

    /// Applies every change in one transaction, in order.
    ///
    /// Bumps `accounts.roster_version` once per batch for each owner whose items were put or removed, and returns
    /// `(owner, new version)` for each such owner in the order first touched. A `RemoveItem` or `RemoveRight`
    /// that matches nothing is not an error (and a `RemoveItem` matching nothing does not bump). Any error rolls
    /// back the whole batch: a second owner for a device is [`StoreError::Conflict`]; a `PutItem` owner or a
    /// `SetRight` device or user that is not an account is [`StoreError::NotFound`].
    pub async fn apply_relationship_changes(
        &self,
        changes: &[RelationshipChange],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        // Encode before the transaction starts, so no error can interrupt it half-way for this reason.
        let mut groups = Vec::with_capacity(changes.len());
        for change in changes {
            groups.push(match change {
                RelationshipChange::PutItem { item, .. } => encode_groups(&item.groups)?,
                _ => String::new(),
            });
        }
        let mut touched: Vec<&str> = Vec::new();
        let versions = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (change, groups) in changes.iter().zip(&groups) {
                let touched_owner = match change {
                    RelationshipChange::PutItem { owner, item } => {
                        let pending = item.pending_in.as_ref();
                        sqlx::query(PUT_ITEM)
                            .bind(owner)
                            .bind(&item.contact)
                            .bind(&item.name)
                            .bind(groups)
                            .bind(item.subscription.as_str())
                            .bind(item.ask)
                            .bind(pending.map(|p| &p.stanza))
                            .bind(pending.and_then(|p| p.requested_right).map(AccessRight::as_str))
                            .bind(pending.map(|p| p.received_at))
                            .bind(item.preapproved)
                            .bind(item.relation.map(RelationKind::as_str))
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::from_write)?;
                        Some(owner)
                    }
                    RelationshipChange::RemoveItem { owner, contact } => {
                        let rows = sqlx::query(REMOVE_ITEM)
                            .bind(owner)
                            .bind(contact)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        (rows > 0).then_some(owner)
                    }
                    RelationshipChange::SetRight { device, user, right } => {
                        sqlx::query(SET_RIGHT)
                            .bind(device)
                            .bind(user)
                            .bind(right.as_str())
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::from_write)?;
                        None
                    }
                    RelationshipChange::RemoveRight { device, user } => {
                        sqlx::query(REMOVE_RIGHT)
                            .bind(device)
                            .bind(user)
                            .execute(&mut *tx)
                            .await?;
                        None
                    }
                };
                if let Some(owner) = touched_owner
                    && !touched.contains(&owner.as_str())
                {
                    touched.push(owner);
                }
            }
            // Bumped in name order, so concurrent batches lock the account rows in one order and cannot deadlock.
            let mut by_name = touched.clone();
            by_name.sort_unstable();
            let mut bumped = Vec::with_capacity(by_name.len());
            for owner in by_name {
                let version: i64 = sqlx::query_scalar(BUMP_VERSION)
                    .bind(owner)
                    .fetch_one(&mut *tx)
                    .await?;
                bumped.push((owner, version));
            }
            tx.commit().await?;
            bumped
        });
        Ok(touched
            .iter()
            .filter_map(|owner| {
                versions
                    .iter()
                    .find(|(bumped, _)| bumped == owner)
                    .map(|(_, version)| ((*owner).to_owned(), *version))
            })
            .collect())
    }

    /// The verification-code failure counter of a device: `(failures, locked_until)`, the latter in unix seconds
    /// (0 = never locked). [`StoreError::NotFound`] unless `device` is a device account.
    pub async fn vcode_failures(&self, device: &str) -> Result<(u32, i64), StoreError> {
        let sql = "SELECT vcode_failures, vcode_locked_until FROM devices WHERE localpart = $1";
        let row: Option<FailuresRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(device).fetch_optional(pool).await?
        });
        row.map(|row| (row.vcode_failures, row.vcode_locked_until))
            .ok_or(StoreError::NotFound)
    }

    /// Replaces the verification-code failure counter of a device. [`StoreError::NotFound`] unless `device` is a
    /// device account.
    pub async fn set_vcode_failures(
        &self,
        device: &str,
        failures: u32,
        locked_until: i64,
    ) -> Result<(), StoreError> {
        let sql =
            "UPDATE devices SET vcode_failures = $2, vcode_locked_until = $3 WHERE localpart = $1";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(device)
                .bind(i64::from(failures))
                .bind(locked_until)
                .execute(pool)
                .await?
                .rows_affected()
        });
        expect_one(rows)
    }

    /// Stores a stanza for an account that is offline, stamped `now` (unix seconds). Returns false and stores
    /// nothing when the account already holds `max` stanzas. [`StoreError::NotFound`] if there is no such account.
    /// One store in its own transaction; the router batches them with [`crate::JournalOp::Store`].
    pub async fn store_offline(
        &self,
        owner: &str,
        stanza: &str,
        now: i64,
        max: u32,
    ) -> Result<bool, StoreError> {
        let op = crate::JournalOp::Store {
            owner: owner.to_owned(),
            stanza: stanza.to_owned(),
            now,
            max,
        };
        match self.apply_journal(&[op]).await?.first() {
            Some(crate::JournalOutcome::Stored(_)) => Ok(true),
            Some(crate::JournalOutcome::Full) => Ok(false),
            _ => Err(StoreError::NotFound),
        }
    }

    /// Removes and returns the account's stored stanzas, oldest first (one statement, so atomic: a stanza is
    /// taken by one caller only).
    pub async fn take_offline(&self, owner: &str) -> Result<Vec<StoredStanza>, StoreError> {
        let sql = "DELETE FROM offline_stanzas WHERE owner = $1 AND in_flight = 0 RETURNING id, stanza, stored_at";
        let mut rows: Vec<StanzaRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(owner).fetch_all(pool).await?
        });
        // RETURNING promises no order; ids grow with insertion.
        rows.sort_by_key(|row| row.id);
        Ok(rows
            .into_iter()
            .map(|row| StoredStanza {
                stanza: row.stanza,
                stored_at: row.stored_at,
            })
            .collect())
    }

    /// The number of stanzas stored for the account, not counting journaled ones in flight (0 for an unknown
    /// account).
    pub async fn count_offline(&self, owner: &str) -> Result<u64, StoreError> {
        let sql = "SELECT COUNT(*) FROM offline_stanzas WHERE owner = $1 AND in_flight = 0";
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(owner).fetch_one(pool).await?
        });
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
