//! What devices say about themselves and publish (ISO/IEC 14543-5-8 §11.2, device events): the last description
//! each device published, the subscriptions of entities to its events, and the last item of each event. The
//! store keeps them as opaque XML text; their meaning lives in `hestia_proto::device`.

use crate::accounts::expect_one;
use crate::{Store, StoreError, with_pool};

/// The last item published to one event of one device.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LastItem {
    pub device: String,
    pub event: String,
    pub item_id: String,
    /// The item's payload (XML text).
    pub item: String,
    /// Unix seconds.
    pub published_at: i64,
}

impl Store {
    /// Replaces the device's description. [`StoreError::NotFound`] if there is no such account.
    pub async fn put_device_description(
        &self,
        device: &str,
        description: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO device_descriptions (device, description, updated_at) VALUES ($1, $2, $3) \
            ON CONFLICT (device) DO UPDATE SET description = excluded.description, updated_at = excluded.updated_at";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(device)
                .bind(description)
                .bind(now)
                .execute(pool)
                .await
                .map_err(StoreError::from_write)?;
        });
        Ok(())
    }

    /// The device's last published description, if any.
    pub async fn device_description(&self, device: &str) -> Result<Option<String>, StoreError> {
        let sql = "SELECT description FROM device_descriptions WHERE device = $1";
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(device).fetch_optional(pool).await?
        }))
    }

    /// Subscribes `subscriber` to `event` of `device`; true when the subscription is new.
    pub async fn subscribe_event(
        &self,
        device: &str,
        event: &str,
        subscriber: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO event_subscriptions (device, event, subscriber, created_at) VALUES ($1, $2, $3, $4) \
            ON CONFLICT (device, event, subscriber) DO NOTHING";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(device)
                .bind(event)
                .bind(subscriber)
                .bind(now)
                .execute(pool)
                .await
                .map_err(StoreError::from_write)?
                .rows_affected()
        });
        Ok(rows == 1)
    }

    /// Removes a subscription; [`StoreError::NotFound`] if there was none.
    pub async fn unsubscribe_event(
        &self,
        device: &str,
        event: &str,
        subscriber: &str,
    ) -> Result<(), StoreError> {
        let sql =
            "DELETE FROM event_subscriptions WHERE device = $1 AND event = $2 AND subscriber = $3";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql).bind(device).bind(event).bind(subscriber).execute(pool).await?.rows_affected()
        });
        expect_one(rows)
    }

    /// The localparts subscribed to `event` of `device`, ordered.
    pub async fn event_subscribers(
        &self,
        device: &str,
        event: &str,
    ) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT subscriber FROM event_subscriptions WHERE device = $1 AND event = $2 ORDER BY subscriber";
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(device).bind(event).fetch_all(pool).await?
        }))
    }

    /// `(device, event)` of every subscription `subscriber` holds, ordered.
    pub async fn event_subscriptions_of(
        &self,
        subscriber: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let sql = "SELECT device, event FROM event_subscriptions WHERE subscriber = $1 ORDER BY device, event";
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sql).bind(subscriber).fetch_all(pool).await?
        }))
    }

    /// Records the last item of `event` of `device`, replacing the one before.
    pub async fn put_last_item(
        &self,
        device: &str,
        event: &str,
        item_id: &str,
        item: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO event_last_items (device, event, item_id, item, published_at) \
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device, event) DO UPDATE SET item_id = excluded.item_id, \
            item = excluded.item, published_at = excluded.published_at";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(device)
                .bind(event)
                .bind(item_id)
                .bind(item)
                .bind(now)
                .execute(pool)
                .await
                .map_err(StoreError::from_write)?;
        });
        Ok(())
    }

    /// The last item of `event` of `device`, if one was ever published.
    pub async fn last_item(
        &self,
        device: &str,
        event: &str,
    ) -> Result<Option<LastItem>, StoreError> {
        let sql = "SELECT device, event, item_id, item, published_at FROM event_last_items \
            WHERE device = $1 AND event = $2";
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sql).bind(device).bind(event).fetch_optional(pool).await?
        }))
    }

    /// The last item of every event `subscriber` is subscribed to, ordered by device and event.
    pub async fn last_items_for(&self, subscriber: &str) -> Result<Vec<LastItem>, StoreError> {
        let sql = "SELECT l.device, l.event, l.item_id, l.item, l.published_at FROM event_last_items l \
            JOIN event_subscriptions s ON s.device = l.device AND s.event = l.event \
            WHERE s.subscriber = $1 ORDER BY l.device, l.event";
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sql).bind(subscriber).fetch_all(pool).await?
        }))
    }
}
