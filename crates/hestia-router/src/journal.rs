//! Durable delivery (`offline.durable_delivery`): a message queued for an online connection is
//! journaled before its sender's stream counts it handled, and forgotten only when the recipient
//! acknowledges it (XEP-0198 `<a h/>`, or — without stream management — once it is written to
//! the socket). A connection that ends without acknowledging turns its journaled messages into
//! offline storage; after a crash, the next start does the same for all of them. So `kill -9`
//! loses nothing the server acknowledged, at the price of a commit per batch.
//!
//! Offline storage goes through the same queue whether or not durable delivery is on
//! ([`Journal::store`]): a message for an offline account is committed before its sender's
//! stream goes on, and batching those commits is what makes store-and-forward cheap.
//!
//! Group commit: journal operations from every connection queue up here, and whichever caller
//! gets the commit turn applies everything queued in one transaction (one fsync), then hands
//! each caller its outcome. No background task: a caller cancelled mid-commit only abandons
//! the batch it took, whose callers see [`JournalError::Abandoned`].

use std::sync::Mutex;

use hestia_proto::ns;
use hestia_store::{JournalOp, JournalOutcome, Store};
use hestia_xml::Element;
use tokio::sync::oneshot;
use tokio::sync::oneshot::error::TryRecvError;

/// A journaled stanza's row, carried with the stanza to the connection that delivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JournalId(pub i64);

/// Why a stanza could not be journaled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    #[error("the store failed: {0}")]
    Store(String),
    #[error("the account no longer exists")]
    NoAccount,
    #[error("the commit holding this operation was abandoned")]
    Abandoned,
}

/// What became of a stanza given to [`Journal::store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored,
    /// The account holds its quota of stored stanzas.
    Full,
}

type Outcomes = Result<Vec<JournalOutcome>, JournalError>;

struct Pending {
    ops: Vec<JournalOp>,
    done: oneshot::Sender<Outcomes>,
}

/// The delivery journal of one IRSP.
pub struct Journal {
    store: Store,
    queue: Mutex<Vec<Pending>>,
    /// Held by the caller whose turn it is to commit.
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").finish_non_exhaustive()
    }
}

impl Journal {
    pub fn new(store: Store) -> Journal {
        Journal {
            store,
            queue: Mutex::new(Vec::new()),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Journals `stanza` for `owner`; returns once it is committed.
    pub async fn append(&self, owner: &str, stanza: &Element) -> Result<JournalId, JournalError> {
        let op = JournalOp::Append {
            owner: owner.to_owned(),
            stanza: stanza.to_xml(ns::CLIENT),
            now: crate::push::unix_now(),
        };
        match self.apply(vec![op]).await?.first() {
            Some(JournalOutcome::Appended(id)) => Ok(JournalId(*id)),
            _ => Err(JournalError::NoAccount),
        }
    }

    /// Stores `stanza` for `owner`, who is offline, within the quota `max`; returns once it is
    /// committed (in a batch with whatever else was queued meanwhile).
    pub async fn store(
        &self,
        owner: &str,
        stanza: String,
        max: u32,
    ) -> Result<StoreOutcome, JournalError> {
        let op = JournalOp::Store {
            owner: owner.to_owned(),
            stanza,
            now: crate::push::unix_now(),
            max,
        };
        match self.apply(vec![op]).await?.first() {
            Some(JournalOutcome::Stored(_)) => Ok(StoreOutcome::Stored),
            Some(JournalOutcome::Full) => Ok(StoreOutcome::Full),
            _ => Err(JournalError::NoAccount),
        }
    }

    /// The recipient has them: forget them.
    pub async fn release(&self, ids: Vec<JournalId>) {
        self.settle(ids, JournalOp::Release, "release").await;
    }

    /// The recipient's connection ended without acknowledging them: they become offline
    /// storage for its next login (not counted against the quota: they were accepted already).
    pub async fn keep(&self, ids: Vec<JournalId>) {
        self.settle(ids, JournalOp::Keep, "keep").await;
    }

    async fn settle(&self, ids: Vec<JournalId>, op: fn(i64) -> JournalOp, what: &'static str) {
        if ids.is_empty() {
            return;
        }
        let count = ids.len();
        let ops = ids.into_iter().map(|JournalId(id)| op(id)).collect();
        if let Err(e) = self.apply(ops).await {
            // Left in flight: the next start turns them into offline storage, so a failure here
            // can deliver a message twice but never lose it.
            tracing::warn!(error = %e, count, what, "journal update failed");
        }
    }

    /// Queues `ops` and waits for the commit that holds them, committing it if it is our turn.
    async fn apply(&self, ops: Vec<JournalOp>) -> Outcomes {
        let (done, mut outcome) = oneshot::channel();
        self.lock_queue().push(Pending { ops, done });
        let _turn = self.turn.lock().await;
        match outcome.try_recv() {
            Ok(outcome) => return outcome,
            Err(TryRecvError::Closed) => return Err(JournalError::Abandoned),
            // Still queued: whoever had the turn before us did not take it. Commit it ourselves.
            Err(TryRecvError::Empty) => {}
        }
        let batch = std::mem::take(&mut *self.lock_queue());
        self.commit(batch).await;
        outcome.try_recv().unwrap_or(Err(JournalError::Abandoned))
    }

    async fn commit(&self, batch: Vec<Pending>) {
        let mut ops = Vec::new();
        let mut waiters = Vec::with_capacity(batch.len());
        for pending in batch {
            waiters.push((pending.ops.len(), pending.done));
            ops.extend(pending.ops);
        }
        metrics::histogram!("hestia_journal_batch_ops").record(ops.len() as f64);
        let started = std::time::Instant::now();
        let result = self.store.apply_journal(&ops).await;
        metrics::histogram!("hestia_journal_commit_seconds")
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for (len, done) in waiters {
                    let _ = done.send(Ok(outcomes.by_ref().take(len).collect()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, ops = ops.len(), "journal commit failed");
                let error = JournalError::Store(e.to_string());
                for (_, done) in waiters {
                    let _ = done.send(Err(error.clone()));
                }
            }
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        // A panic while holding the lock leaves a valid Vec behind.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hestia_store::{AccountKind, Credentials, NewAccount, ScramCredential, UserInfo};
    use std::sync::Arc;

    fn new_user(localpart: &str) -> NewAccount {
        let credential = ScramCredential {
            salt: vec![1; 16],
            iterations: 4096,
            stored_key: vec![2; 32],
            server_key: vec![3; 32],
        };
        NewAccount {
            localpart: localpart.to_owned(),
            kind: AccountKind::User,
            credentials: Credentials {
                sha1: credential.clone(),
                sha256: credential,
            },
            user: UserInfo::default(),
            device: None,
            verification_code: None,
        }
    }

    async fn store_with(users: &[&str]) -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite_file(&dir.path().join("j.db"))
            .await
            .expect("store");
        for user in users {
            store.create_account(new_user(user)).await.expect("account");
        }
        (store, dir)
    }

    fn message(i: usize) -> Element {
        Element::new("message", ns::CLIENT).with_attr("id", i.to_string())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_commits_and_each_gets_its_own_id() {
        let (store, _dir) = store_with(&["bob"]).await;
        let journal = Arc::new(Journal::new(store.clone()));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let journal = journal.clone();
            tasks.spawn(async move { journal.append("bob", &message(i)).await });
        }
        let mut ids = Vec::new();
        while let Some(id) = tasks.join_next().await {
            ids.push(id.expect("task").expect("journaled"));
        }
        ids.sort_by_key(|id| id.0);
        ids.dedup();
        assert_eq!(ids.len(), 200, "one row each");
        assert_eq!(store.count_in_flight().await.expect("count"), 200);
        journal.release(ids[..150].to_vec()).await;
        journal.keep(ids[150..].to_vec()).await;
        assert_eq!(store.count_in_flight().await.expect("count"), 0);
        assert_eq!(store.count_offline("bob").await.expect("count"), 50);
    }

    #[tokio::test]
    async fn a_deleted_account_is_refused_without_failing_the_others() {
        let (store, _dir) = store_with(&["bob"]).await;
        let journal = Journal::new(store);
        let (first, second) = (message(1), message(2));
        let (gone, bob) = tokio::join!(
            journal.append("nobody", &first),
            journal.append("bob", &second)
        );
        assert!(matches!(gone, Err(JournalError::NoAccount)), "{gone:?}");
        assert!(bob.is_ok(), "{bob:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_offline_stores_share_commits_and_hold_the_quota() {
        let (store, _dir) = store_with(&["bob"]).await;
        let journal = Arc::new(Journal::new(store.clone()));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..120 {
            let journal = journal.clone();
            let xml = message(i).to_xml(ns::CLIENT);
            tasks.spawn(async move { journal.store("bob", xml, 100).await });
        }
        let mut outcomes = Vec::new();
        while let Some(outcome) = tasks.join_next().await {
            outcomes.push(outcome.expect("task").expect("committed"));
        }
        let stored = outcomes
            .iter()
            .filter(|o| **o == StoreOutcome::Stored)
            .count();
        assert_eq!(stored, 100, "exactly the quota, however the batches fell");
        assert_eq!(outcomes.len() - stored, 20, "the rest refused as full");
        assert_eq!(store.count_offline("bob").await.expect("count"), 100);
        let gone = journal
            .store("nobody", message(0).to_xml(ns::CLIENT), 100)
            .await;
        assert!(matches!(gone, Err(JournalError::NoAccount)), "{gone:?}");
    }
}
