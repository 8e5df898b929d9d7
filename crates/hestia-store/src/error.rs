//! The one error type of the storage contract.

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same key (account localpart, invitation token) already exists, or a device would get a
    /// second owner.
    #[error("already exists")]
    Conflict,
    /// The account the operation names does not exist (or has no row of the kind needed).
    #[error("not found")]
    NotFound,
    /// The invitation token is unknown, used or expired.
    #[error("invitation not valid")]
    InvitationInvalid,
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The store URL names no known backend or carries an unusable option.
    #[error("invalid store url: {0}")]
    InvalidUrl(String),
}

impl StoreError {
    /// Maps a unique-key violation (either dialect) to [`StoreError::Conflict`], anything else to `Database`.
    pub(crate) fn from_insert(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Database(error),
        }
    }

    /// As [`StoreError::from_insert`], also mapping a foreign-key violation (either dialect: the row names an
    /// account that does not exist) to [`StoreError::NotFound`].
    pub(crate) fn from_write(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
            _ => StoreError::from_insert(error),
        }
    }

    /// A stored value the contract cannot read back (text outside its enumeration, malformed groups).
    pub(crate) fn decode(message: String) -> Self {
        StoreError::Database(sqlx::Error::Decode(message.into()))
    }
}
