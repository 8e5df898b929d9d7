//! Links outlive a restart: each is stored when it is made and forgotten when it ends, its
//! tokens rewritten on every refresh (a refresh token is good once), and the subscriptions it
//! holds at the peer recorded so they can be renewed, released and torn down after a restart.
//! A peer's links come back when the peer is registered again.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hestia_store::{FederationLink, RemoteSubscription};

use super::tokens::{from_unix, unix};
use super::{Direction, Federation, Link, Peer, RemoteTokens, RemoteWatch};
use crate::model::CuiError;

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }

    fn parse(text: &str) -> Option<Direction> {
        match text {
            "outbound" => Some(Direction::Outbound),
            "inbound" => Some(Direction::Inbound),
            _ => None,
        }
    }
}

fn stored(e: hestia_store::StoreError) -> CuiError {
    CuiError::internal(format!("the federation store: {e}"))
}

impl Federation {
    /// Keeps a complete link; it is known here from then on.
    pub(super) async fn save_link(&self, link: Arc<Link>) -> Result<(), CuiError> {
        let (access_token, refresh_token, refresh_at) = link.tokens.to_record().await;
        let record = FederationLink {
            link_id: link.id.clone(),
            username: link.user.clone(),
            peer: link.peer.name.clone(),
            remote_user: link.remote_user.clone(),
            remote_id: super::read(&link.remote_id).clone(),
            direction: link.direction.as_str().to_owned(),
            access_token,
            refresh_token,
            refresh_at,
            local_grant: super::read(&link.local_grant).clone(),
            callback_secret: link.callback_secret.clone(),
            linked_at: unix(link.linked_at),
        };
        self.store
            .put_federation_link(&record)
            .await
            .map_err(stored)?;
        self.links.insert(link);
        Ok(())
    }

    /// Forgets a link here and in the store; the link, if it was known.
    pub(super) async fn forget_link(&self, id: &str) -> Option<Arc<Link>> {
        let link = self.links.remove(id)?;
        if let Err(e) = self.store.delete_federation_link(id).await {
            tracing::warn!(peer = %link.peer.name, error = %e, "an ended link stays in the store");
        }
        Some(link)
    }

    pub(super) async fn save_watch(
        &self,
        link: &Link,
        key: &(String, String),
        watch: &RemoteWatch,
    ) {
        let record = RemoteSubscription {
            link_id: link.id.clone(),
            device: key.0.clone(),
            event: key.1.clone(),
            subscription_id: watch.id.clone(),
            expires_at: unix(watch.expires_at),
        };
        if let Err(e) = self.store.put_remote_subscription(&record).await {
            tracing::warn!(peer = %link.peer.name, error = %e, "a subscription at the peer was not stored");
        }
    }

    pub(super) async fn forget_watch(&self, link: &Link, key: &(String, String)) {
        if let Err(e) = self
            .store
            .delete_remote_subscription(&link.id, &key.0, &key.1)
            .await
        {
            tracing::warn!(peer = %link.peer.name, error = %e, "a released subscription stays in the store");
        }
    }

    /// The stored links with `peer`, known here again. A stored link that cannot be read is
    /// left in the store and reported.
    pub(super) async fn restore_links(&self, peer: &Arc<Peer>) -> Result<usize, CuiError> {
        let records = self.store.federation_links().await.map_err(stored)?;
        let mut restored = 0;
        for record in records.into_iter().filter(|r| r.peer == peer.name) {
            let Some(direction) = Direction::parse(&record.direction) else {
                tracing::warn!(link = %record.link_id, direction = %record.direction, "a stored link has no direction");
                continue;
            };
            let watches = self
                .store
                .remote_subscriptions(&record.link_id)
                .await
                .map_err(stored)?
                .into_iter()
                .map(|s| {
                    let watch = RemoteWatch {
                        id: s.subscription_id,
                        expires_at: from_unix(s.expires_at),
                    };
                    ((s.device, s.event), watch)
                })
                .collect::<HashMap<_, _>>();
            self.links.insert(Arc::new(Link {
                id: record.link_id,
                user: record.username,
                peer: peer.clone(),
                remote_user: record.remote_user,
                remote_id: RwLock::new(record.remote_id),
                direction,
                tokens: RemoteTokens::restored(
                    record.access_token,
                    record.refresh_token,
                    record.refresh_at,
                ),
                local_grant: RwLock::new(record.local_grant),
                callback_secret: record.callback_secret,
                remote_subscriptions: tokio::sync::Mutex::new(watches),
                linked_at: from_unix(record.linked_at),
            }));
            restored += 1;
        }
        Ok(restored)
    }
}
