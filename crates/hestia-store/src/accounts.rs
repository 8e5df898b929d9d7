//! Accounts: registration and its modification and deletion (14543-5-8 §7), the login lookup (§8), listings.

use crate::{
    Account, AccountKind, AccountSummary, Credentials, DeviceInfo, NewAccount, ScramCredential,
    Store, StoreError, UserInfo, VerificationCodeHash, unix_now, with_pool,
};

/// The columns of [`CredentialsRow`], in the order the row type expects them.
const CREDENTIAL_COLUMNS: &str = "a.kind, a.is_disabled, \
    a.sha1_salt, a.sha1_iterations, a.sha1_stored_key, a.sha1_server_key, \
    a.sha256_salt, a.sha256_iterations, a.sha256_stored_key, a.sha256_server_key";

const INSERT_ACCOUNT: &str = "INSERT INTO accounts (localpart, kind, \
    sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, \
    sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key, \
    is_disabled, user_name, user_email, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

const INSERT_DEVICE: &str = "INSERT INTO devices \
    (localpart, device_type, model, manufacturer, serial, vcode_salt, vcode_hash) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

const UPDATE_CREDENTIALS: &str = "UPDATE accounts SET \
    sha1_salt = $2, sha1_iterations = $3, sha1_stored_key = $4, sha1_server_key = $5, \
    sha256_salt = $6, sha256_iterations = $7, sha256_stored_key = $8, sha256_server_key = $9 \
    WHERE localpart = $1";

const SUMMARY_COLUMNS: &str = "localpart, kind, is_disabled, created_at";

#[derive(sqlx::FromRow)]
struct CredentialsRow {
    #[sqlx(try_from = "String")]
    kind: AccountKind,
    is_disabled: bool,
    sha1_salt: Vec<u8>,
    #[sqlx(try_from = "i64")]
    sha1_iterations: u32,
    sha1_stored_key: Vec<u8>,
    sha1_server_key: Vec<u8>,
    sha256_salt: Vec<u8>,
    #[sqlx(try_from = "i64")]
    sha256_iterations: u32,
    sha256_stored_key: Vec<u8>,
    sha256_server_key: Vec<u8>,
}

impl CredentialsRow {
    fn credentials(self) -> Credentials {
        Credentials {
            sha1: ScramCredential {
                salt: self.sha1_salt,
                iterations: self.sha1_iterations,
                stored_key: self.sha1_stored_key,
                server_key: self.sha1_server_key,
            },
            sha256: ScramCredential {
                salt: self.sha256_salt,
                iterations: self.sha256_iterations,
                stored_key: self.sha256_stored_key,
                server_key: self.sha256_server_key,
            },
        }
    }
}

/// An account joined with its (optional) device row.
#[derive(sqlx::FromRow)]
struct AccountRow {
    localpart: String,
    #[sqlx(flatten)]
    credentials: CredentialsRow,
    user_name: Option<String>,
    user_email: Option<String>,
    created_at: i64,
    device_type: Option<String>,
    model: Option<String>,
    manufacturer: Option<String>,
    serial: Option<String>,
    vcode_salt: Option<Vec<u8>>,
    vcode_hash: Option<Vec<u8>>,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        // device_type is NOT NULL in `devices`, so it is present exactly when the device row is.
        let device = row.device_type.map(|device_type| DeviceInfo {
            device_type,
            model: row.model.unwrap_or_default(),
            manufacturer: row.manufacturer.unwrap_or_default(),
            serial: row.serial.unwrap_or_default(),
        });
        let verification_code = match (row.vcode_salt, row.vcode_hash) {
            (Some(salt), Some(hash)) => Some(VerificationCodeHash { salt, hash }),
            _ => None,
        };
        let kind = row.credentials.kind;
        let is_disabled = row.credentials.is_disabled;
        Account {
            localpart: row.localpart,
            kind,
            credentials: row.credentials.credentials(),
            is_disabled,
            user: UserInfo {
                name: row.user_name,
                email: row.user_email,
            },
            device,
            verification_code,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    localpart: String,
    #[sqlx(try_from = "String")]
    kind: AccountKind,
    is_disabled: bool,
    created_at: i64,
}

impl From<SummaryRow> for AccountSummary {
    fn from(row: SummaryRow) -> Self {
        AccountSummary {
            localpart: row.localpart,
            kind: row.kind,
            is_disabled: row.is_disabled,
            created_at: row.created_at,
        }
    }
}

/// `NotFound` unless the statement touched a row.
pub(crate) fn expect_one(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

impl Store {
    /// Registers an account; a device account's device row is written in the same transaction.
    ///
    /// [`StoreError::Conflict`] if the localpart (compared exactly as given; the caller normalises) is taken.
    pub async fn create_account(&self, new: NewAccount) -> Result<(), StoreError> {
        self.create_account_with_invitation(new, None).await
    }

    /// As [`Store::create_account`], also spending an invitation token `(token, now)` in the same
    /// transaction: a registration that fails (a taken name) leaves the invitation unused.
    /// [`StoreError::InvitationInvalid`] if the token is unknown, used or expired.
    pub async fn create_account_with_invitation(
        &self,
        new: NewAccount,
        invitation: Option<(&str, i64)>,
    ) -> Result<(), StoreError> {
        let creds = &new.credentials;
        let device = match new.kind {
            AccountKind::Device => Some(new.device.clone().unwrap_or_default()),
            AccountKind::User => None,
        };
        let code = device.as_ref().and(new.verification_code.as_ref());
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some((token, now)) = invitation {
                let spent = sqlx::query(crate::invitations::CONSUME)
                    .bind(token)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if spent != 1 {
                    return Err(StoreError::InvitationInvalid);
                }
            }
            sqlx::query(INSERT_ACCOUNT)
                .bind(&new.localpart)
                .bind(new.kind.as_str())
                .bind(&creds.sha1.salt)
                .bind(i64::from(creds.sha1.iterations))
                .bind(&creds.sha1.stored_key)
                .bind(&creds.sha1.server_key)
                .bind(&creds.sha256.salt)
                .bind(i64::from(creds.sha256.iterations))
                .bind(&creds.sha256.stored_key)
                .bind(&creds.sha256.server_key)
                .bind(false)
                .bind(&new.user.name)
                .bind(&new.user.email)
                .bind(unix_now())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_insert)?;
            if let Some(info) = &device {
                sqlx::query(INSERT_DEVICE)
                    .bind(&new.localpart)
                    .bind(&info.device_type)
                    .bind(&info.model)
                    .bind(&info.manufacturer)
                    .bind(&info.serial)
                    .bind(code.map(|code| &code.salt))
                    .bind(code.map(|code| &code.hash))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_insert)?;
            }
            tx.commit().await?;
        });
        tracing::debug!(localpart = %new.localpart, kind = new.kind.as_str(), "account created");
        Ok(())
    }

    /// The whole account with its device information, or `None`.
    pub async fn account(&self, localpart: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!(
            "SELECT a.localpart, {CREDENTIAL_COLUMNS}, a.user_name, a.user_email, a.created_at, \
             d.device_type, d.model, d.manufacturer, d.serial, d.vcode_salt, d.vcode_hash \
             FROM accounts a LEFT JOIN devices d ON d.localpart = a.localpart \
             WHERE a.localpart = $1"
        );
        let row: Option<AccountRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(localpart).fetch_optional(pool).await?
        });
        Ok(row.map(Account::from))
    }

    /// The login lookup, one query: the credentials, whether the account is disabled, and its kind.
    pub async fn credentials(
        &self,
        localpart: &str,
    ) -> Result<Option<(Credentials, bool, AccountKind)>, StoreError> {
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM accounts a WHERE a.localpart = $1");
        let row: Option<CredentialsRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(localpart).fetch_optional(pool).await?
        });
        Ok(row.map(|row| {
            let (is_disabled, kind) = (row.is_disabled, row.kind);
            (row.credentials(), is_disabled, kind)
        }))
    }

    /// Replaces both SCRAM credentials (a password change). [`StoreError::NotFound`] if there is no such account.
    pub async fn set_credentials(
        &self,
        localpart: &str,
        creds: &Credentials,
    ) -> Result<(), StoreError> {
        let rows = with_pool!(self, pool => {
            sqlx::query(UPDATE_CREDENTIALS)
                .bind(localpart)
                .bind(&creds.sha1.salt)
                .bind(i64::from(creds.sha1.iterations))
                .bind(&creds.sha1.stored_key)
                .bind(&creds.sha1.server_key)
                .bind(&creds.sha256.salt)
                .bind(i64::from(creds.sha256.iterations))
                .bind(&creds.sha256.stored_key)
                .bind(&creds.sha256.server_key)
                .execute(pool)
                .await?
                .rows_affected()
        });
        expect_one(rows)
    }

    /// Replaces the user information. [`StoreError::NotFound`] if there is no such account.
    pub async fn update_user_info(
        &self,
        localpart: &str,
        info: &UserInfo,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE accounts SET user_name = $2, user_email = $3 WHERE localpart = $1";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(localpart)
                .bind(&info.name)
                .bind(&info.email)
                .execute(pool)
                .await?
                .rows_affected()
        });
        expect_one(rows)
    }

    /// Replaces the device information. [`StoreError::NotFound`] unless this is a device account.
    pub async fn update_device_info(
        &self,
        localpart: &str,
        info: &DeviceInfo,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE devices SET device_type = $2, model = $3, manufacturer = $4, serial = $5 \
                   WHERE localpart = $1";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(localpart)
                .bind(&info.device_type)
                .bind(&info.model)
                .bind(&info.manufacturer)
                .bind(&info.serial)
                .execute(pool)
                .await?
                .rows_affected()
        });
        expect_one(rows)
    }

    /// Sets or resets the device's verification code, clearing its failure counter and lock (a new code gets a
    /// fresh count). [`StoreError::NotFound`] unless this is a device account.
    pub async fn set_verification_code(
        &self,
        localpart: &str,
        code: &VerificationCodeHash,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE devices SET vcode_salt = $2, vcode_hash = $3, \
                   vcode_failures = 0, vcode_locked_until = 0 WHERE localpart = $1";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(localpart)
                .bind(&code.salt)
                .bind(&code.hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        expect_one(rows)
    }

    /// Disables or re-enables login. [`StoreError::NotFound`] if there is no such account.
    pub async fn set_disabled(&self, localpart: &str, is_disabled: bool) -> Result<(), StoreError> {
        let sql = "UPDATE accounts SET is_disabled = $2 WHERE localpart = $1";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(localpart)
                .bind(is_disabled)
                .execute(pool)
                .await?
                .rows_affected()
        });
        expect_one(rows)
    }

    /// Removes the account and everything it owned (its device row, roster, rights on and of it, stored stanzas:
    /// every table that references `accounts.localpart` with `ON DELETE CASCADE`), and, in the same transaction,
    /// every other roster's item for it, bumping those rosters' versions. Returns false if it did not exist (and
    /// then changes nothing).
    pub async fn delete_account(&self, localpart: &str) -> Result<bool, StoreError> {
        let delete = "DELETE FROM accounts WHERE localpart = $1";
        let bump = "UPDATE accounts SET roster_version = roster_version + 1 \
                    WHERE localpart IN (SELECT owner FROM roster_items WHERE contact = $1)";
        let unlist = "DELETE FROM roster_items WHERE contact = $1";
        let existed = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // The write first: it takes SQLite's write lock at once, and an unknown name rolls back untouched.
            let rows = sqlx::query(delete).bind(localpart).execute(&mut *tx).await?.rows_affected();
            if rows > 0 {
                sqlx::query(bump).bind(localpart).execute(&mut *tx).await?;
                sqlx::query(unlist).bind(localpart).execute(&mut *tx).await?;
                tx.commit().await?;
            }
            rows > 0
        });
        if existed {
            tracing::debug!(localpart, "account deleted");
        }
        Ok(existed)
    }

    /// One page of accounts ordered by localpart, optionally of one kind.
    pub async fn list_accounts(
        &self,
        kind: Option<AccountKind>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        let (limit, offset) = (i64::from(limit), i64::from(offset));
        let rows: Vec<SummaryRow> = match kind {
            Some(kind) => {
                let sql = format!(
                    "SELECT {SUMMARY_COLUMNS} FROM accounts WHERE kind = $1 \
                     ORDER BY localpart LIMIT $2 OFFSET $3"
                );
                with_pool!(self, pool => {
                    sqlx::query_as(&sql)
                        .bind(kind.as_str())
                        .bind(limit)
                        .bind(offset)
                        .fetch_all(pool)
                        .await?
                })
            }
            None => {
                let sql = format!(
                    "SELECT {SUMMARY_COLUMNS} FROM accounts ORDER BY localpart LIMIT $1 OFFSET $2"
                );
                with_pool!(self, pool => {
                    sqlx::query_as(&sql).bind(limit).bind(offset).fetch_all(pool).await?
                })
            }
        };
        Ok(rows.into_iter().map(AccountSummary::from).collect())
    }

    /// The devices of one IGRS type, by localpart (server push to every device of a type).
    pub async fn devices_of_type(&self, device_type: &str) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT localpart FROM devices WHERE device_type = $1 ORDER BY localpart";
        let ids: Vec<String> = with_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(device_type).fetch_all(pool).await?
        });
        Ok(ids)
    }

    /// The number of accounts of both kinds.
    pub async fn count_accounts(&self) -> Result<u64, StoreError> {
        let sql = "SELECT COUNT(*) FROM accounts";
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(sql).fetch_one(pool).await?
        });
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
