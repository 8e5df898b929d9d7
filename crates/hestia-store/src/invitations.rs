//! Invitation tokens for invitation-gated registration (14543-5-8 §7: registration "not allowed" unless invited).

use crate::{Store, StoreError, with_pool};

impl Store {
    /// Stores an unused invitation valid until `expires_at` (unix seconds, exclusive).
    /// [`StoreError::Conflict`] if the token exists.
    pub async fn create_invitation(&self, token: &str, expires_at: i64) -> Result<(), StoreError> {
        let sql = "INSERT INTO invitations (token, expires_at) VALUES ($1, $2)";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(token)
                .bind(expires_at)
                .execute(pool)
                .await
                .map_err(StoreError::from_insert)?;
        });
        Ok(())
    }

    /// Marks the invitation used, atomically: true if it existed, was unused and had not expired at `now`; of
    /// concurrent consumers of one token at most one gets true.
    pub async fn consume_invitation(&self, token: &str, now: i64) -> Result<bool, StoreError> {
        // One conditional UPDATE: the row lock (PostgreSQL) or the write lock (SQLite) makes check-and-set atomic.
        let sql = CONSUME;
        let rows = with_pool!(self, pool => {
            sqlx::query(sql).bind(token).bind(now).execute(pool).await?.rows_affected()
        });
        Ok(rows == 1)
    }
}

/// Spends an unused, unexpired invitation: `$1` token, `$2` now.
pub(crate) const CONSUME: &str =
    "UPDATE invitations SET used_at = $2 WHERE token = $1 AND used_at IS NULL AND expires_at > $2";
