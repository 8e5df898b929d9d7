//! Grants held by application servers (ISO/IEC 14543-5-9 §7.3, §8.3): which accounts an application server may
//! act for. What acting means lives in `hestia_router::appserver`.

use crate::accounts::expect_one;
use crate::{Store, StoreError, with_pool};

impl Store {
    /// Grants `app` the right to act for `grantor`; true when the grant is new. [`StoreError::NotFound`] if
    /// there is no such account.
    pub async fn put_app_grant(
        &self,
        app: &str,
        grantor: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO app_grants (app, grantor, created_at) VALUES ($1, $2, $3) \
            ON CONFLICT (app, grantor) DO NOTHING";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(app)
                .bind(grantor)
                .bind(now)
                .execute(pool)
                .await
                .map_err(StoreError::from_write)?
                .rows_affected()
        });
        Ok(rows == 1)
    }

    /// Withdraws a grant; [`StoreError::NotFound`] if there was none.
    pub async fn delete_app_grant(&self, app: &str, grantor: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM app_grants WHERE app = $1 AND grantor = $2";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql).bind(app).bind(grantor).execute(pool).await?.rows_affected()
        });
        expect_one(rows)
    }

    pub async fn has_app_grant(&self, app: &str, grantor: &str) -> Result<bool, StoreError> {
        let sql = "SELECT COUNT(*) FROM app_grants WHERE app = $1 AND grantor = $2";
        let n: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(app).bind(grantor).fetch_one(pool).await?
        });
        Ok(n > 0)
    }

    /// The accounts `app` may act for, ordered.
    pub async fn app_grantors(&self, app: &str) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT grantor FROM app_grants WHERE app = $1 ORDER BY grantor";
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(app).fetch_all(pool).await?
        }))
    }
}
