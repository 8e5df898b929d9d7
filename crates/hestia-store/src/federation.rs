//! The gateway's identity federation links (ISO/IEC 10192-4-3 §8, §9) and the subscriptions made at peers
//! through them. What a link means lives in `hestia_gateway::federation`; the store only keeps it.

use std::fmt;

use crate::accounts::expect_one;
use crate::{Store, StoreError, with_pool};

/// One user's link with one peer gateway. `Debug` never shows the tokens or the callback secret.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FederationLink {
    pub link_id: String,
    pub username: String,
    pub peer: String,
    pub remote_user: String,
    pub remote_id: Option<String>,
    /// `outbound` or `inbound`.
    pub direction: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Unix seconds after which the access token is refreshed before use.
    pub refresh_at: i64,
    pub local_grant: Option<String>,
    pub callback_secret: String,
    pub linked_at: i64,
}

impl fmt::Debug for FederationLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederationLink")
            .field("link_id", &self.link_id)
            .field("username", &self.username)
            .field("peer", &self.peer)
            .field("remote_user", &self.remote_user)
            .field("direction", &self.direction)
            .finish_non_exhaustive()
    }
}

/// A subscription made at a peer through a link.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RemoteSubscription {
    pub link_id: String,
    /// The device's id at the peer.
    pub device: String,
    pub event: String,
    pub subscription_id: String,
    pub expires_at: i64,
}

const LINK_COLUMNS: &str = "link_id, username, peer, remote_user, remote_id, direction, access_token, \
    refresh_token, refresh_at, local_grant, callback_secret, linked_at";

impl Store {
    /// Records a new link. [`StoreError::Conflict`] if its id is taken, [`StoreError::NotFound`] if its
    /// user does not exist.
    pub async fn put_federation_link(&self, link: &FederationLink) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO federation_links ({LINK_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        with_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(&link.link_id)
                .bind(&link.username)
                .bind(&link.peer)
                .bind(&link.remote_user)
                .bind(&link.remote_id)
                .bind(&link.direction)
                .bind(&link.access_token)
                .bind(&link.refresh_token)
                .bind(link.refresh_at)
                .bind(&link.local_grant)
                .bind(&link.callback_secret)
                .bind(link.linked_at)
                .execute(pool)
                .await
                .map_err(StoreError::from_write)?;
        });
        Ok(())
    }

    /// Every link, oldest first: what a starting gateway restores.
    pub async fn federation_links(&self) -> Result<Vec<FederationLink>, StoreError> {
        let sql =
            format!("SELECT {LINK_COLUMNS} FROM federation_links ORDER BY linked_at, link_id");
        Ok(with_pool!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        }))
    }

    /// Replaces a link's tokens after a refresh. [`StoreError::NotFound`] if there is no such link.
    pub async fn set_federation_tokens(
        &self,
        link_id: &str,
        access_token: &str,
        refresh_token: Option<&str>,
        refresh_at: i64,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE federation_links SET access_token = $2, refresh_token = $3, refresh_at = $4 \
            WHERE link_id = $1";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(link_id)
                .bind(access_token)
                .bind(refresh_token)
                .bind(refresh_at)
                .execute(pool)
                .await?
                .rows_affected()
        });
        expect_one(rows)
    }

    /// Forgets a link and the subscriptions made through it; true when it existed.
    pub async fn delete_federation_link(&self, link_id: &str) -> Result<bool, StoreError> {
        let subscriptions = "DELETE FROM federation_remote_subscriptions WHERE link_id = $1";
        let link = "DELETE FROM federation_links WHERE link_id = $1";
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(subscriptions).bind(link_id).execute(&mut *tx).await?;
            let rows = sqlx::query(link).bind(link_id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok(rows == 1)
        })
    }

    /// Records (or replaces, on renewal) a subscription made at a peer. [`StoreError::NotFound`] if the
    /// link does not exist.
    pub async fn put_remote_subscription(
        &self,
        subscription: &RemoteSubscription,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO federation_remote_subscriptions \
            (link_id, device, event, subscription_id, expires_at) VALUES ($1, $2, $3, $4, $5) \
            ON CONFLICT (link_id, device, event) \
            DO UPDATE SET subscription_id = excluded.subscription_id, expires_at = excluded.expires_at";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(&subscription.link_id)
                .bind(&subscription.device)
                .bind(&subscription.event)
                .bind(&subscription.subscription_id)
                .bind(subscription.expires_at)
                .execute(pool)
                .await
                .map_err(StoreError::from_write)?;
        });
        Ok(())
    }

    /// Forgets one subscription made at a peer; true when it was recorded.
    pub async fn delete_remote_subscription(
        &self,
        link_id: &str,
        device: &str,
        event: &str,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM federation_remote_subscriptions \
            WHERE link_id = $1 AND device = $2 AND event = $3";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql).bind(link_id).bind(device).bind(event).execute(pool).await?.rows_affected()
        });
        Ok(rows == 1)
    }

    /// The subscriptions made at peers through a link, by device and event.
    pub async fn remote_subscriptions(
        &self,
        link_id: &str,
    ) -> Result<Vec<RemoteSubscription>, StoreError> {
        let sql = "SELECT link_id, device, event, subscription_id, expires_at \
            FROM federation_remote_subscriptions WHERE link_id = $1 ORDER BY device, event";
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sql).bind(link_id).fetch_all(pool).await?
        }))
    }
}
