//! The delivery journal (`offline.durable_delivery`): messages queued for an online connection, kept in the offline
//! stanza table marked *in flight* until the connection acknowledges them. Keeping them in the same table as
//! offline storage makes "the connection ended without acknowledging" a one-column update rather than a copy, so a
//! message is never in two places and is delivered once.

use crate::relationships::StanzaRow;
use crate::{Store, StoreError, StoredStanza, with_pool};

/// One change to the journal; a batch of them commits in one transaction (group commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalOp {
    /// Journal a stanza queued for `owner`'s connection, stamped `now` (unix seconds).
    Append {
        owner: String,
        stanza: String,
        now: i64,
    },
    /// The connection acknowledged it (or wrote it to a client without stream management): forget it.
    Release(i64),
    /// The connection ended without acknowledging it: it becomes ordinary offline storage for the next login.
    Keep(i64),
    /// Store a stanza for `owner`, who is offline, unless the account already holds `max` (as
    /// [`Store::store_offline`], batched with others into one commit).
    Store {
        owner: String,
        stanza: String,
        now: i64,
        max: u32,
    },
}

/// What one [`JournalOp`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalOutcome {
    /// Appended under this id.
    Appended(i64),
    /// Not appended: the account no longer exists.
    NoAccount,
    /// Released or kept (a row already gone counts too: releasing and keeping are idempotent).
    Done,
    /// Stored under this id.
    Stored(i64),
    /// Not stored: the account holds its quota of stored stanzas.
    Full,
}

impl Store {
    /// Applies `ops` in order in one transaction and says what each came to. A stanza for an account that no
    /// longer exists is skipped without failing the others.
    pub async fn apply_journal(
        &self,
        ops: &[JournalOp],
    ) -> Result<Vec<JournalOutcome>, StoreError> {
        // INSERT … SELECT … WHERE EXISTS rather than a foreign-key failure, which would abort the whole batch.
        let append = "INSERT INTO offline_stanzas (owner, stanza, stored_at, in_flight) \
                      SELECT $1, $2, $3, 1 WHERE EXISTS (SELECT 1 FROM accounts WHERE localpart = $1) RETURNING id";
        let release = "DELETE FROM offline_stanzas WHERE id = $1";
        let keep = "UPDATE offline_stanzas SET in_flight = 0 WHERE id = $1";
        // The quota is counted by the insert itself. SQLite has one writer at a time, so that count is exact; in
        // PostgreSQL the account row is written first, which locks it, so concurrent transactions (other nodes)
        // storing for one account count one after the other.
        let is_postgres = matches!(self, Store::Postgres(_));
        let lock = "UPDATE accounts SET roster_version = roster_version WHERE localpart = $1";
        let store = "INSERT INTO offline_stanzas (owner, stanza, stored_at) SELECT $1, $2, $3 \
                     WHERE EXISTS (SELECT 1 FROM accounts WHERE localpart = $1) \
                     AND (SELECT COUNT(*) FROM offline_stanzas WHERE owner = $1 AND in_flight = 0) < $4 \
                     RETURNING id";
        let exists = "SELECT EXISTS (SELECT 1 FROM accounts WHERE localpart = $1)";
        let mut outcomes = Vec::with_capacity(ops.len());
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for op in ops {
                let outcome = match op {
                    JournalOp::Append { owner, stanza, now } => {
                        let id: Option<i64> = sqlx::query_scalar(append)
                            .bind(owner)
                            .bind(stanza)
                            .bind(now)
                            .fetch_optional(&mut *tx)
                            .await?;
                        id.map_or(JournalOutcome::NoAccount, JournalOutcome::Appended)
                    }
                    JournalOp::Release(id) => {
                        sqlx::query(release).bind(id).execute(&mut *tx).await?;
                        JournalOutcome::Done
                    }
                    JournalOp::Keep(id) => {
                        sqlx::query(keep).bind(id).execute(&mut *tx).await?;
                        JournalOutcome::Done
                    }
                    JournalOp::Store { owner, stanza, now, max } => {
                        if is_postgres {
                            sqlx::query(lock).bind(owner).execute(&mut *tx).await?;
                        }
                        let id: Option<i64> = sqlx::query_scalar(store)
                            .bind(owner)
                            .bind(stanza)
                            .bind(now)
                            .bind(i64::from(*max))
                            .fetch_optional(&mut *tx)
                            .await?;
                        match id {
                            Some(id) => JournalOutcome::Stored(id),
                            // Refused: the rare case, worth a second query to say why.
                            None => {
                                let is_account: bool =
                                    sqlx::query_scalar(exists).bind(owner).fetch_one(&mut *tx).await?;
                                if is_account { JournalOutcome::Full } else { JournalOutcome::NoAccount }
                            }
                        }
                    }
                };
                outcomes.push(outcome);
            }
            tx.commit().await?;
        });
        Ok(outcomes)
    }

    /// Marks the account's stored stanzas in flight and returns them with their ids, oldest first: delivered
    /// through the journal, they stay stored until the connection acknowledges them. Stanzas already in flight
    /// (claimed by another connection of the account) are not returned again.
    pub async fn claim_offline(&self, owner: &str) -> Result<Vec<(i64, StoredStanza)>, StoreError> {
        let sql = "UPDATE offline_stanzas SET in_flight = 1 WHERE owner = $1 AND in_flight = 0 \
                   RETURNING id, stanza, stored_at";
        let mut rows: Vec<StanzaRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(owner).fetch_all(pool).await?
        });
        rows.sort_by_key(|row| row.id);
        Ok(rows
            .into_iter()
            .map(|row| {
                let stanza = StoredStanza {
                    stanza: row.stanza,
                    stored_at: row.stored_at,
                };
                (row.id, stanza)
            })
            .collect())
    }

    /// After a restart nothing is in flight any more: every journaled stanza becomes offline storage for its
    /// account's next login. Returns how many there were.
    pub async fn recover_journal(&self) -> Result<u64, StoreError> {
        let sql = "UPDATE offline_stanzas SET in_flight = 0 WHERE in_flight = 1";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql).execute(pool).await?.rows_affected()
        });
        Ok(rows)
    }

    /// How many journaled stanzas are in flight (for tests and the admin view).
    pub async fn count_in_flight(&self) -> Result<u64, StoreError> {
        let sql = "SELECT COUNT(*) FROM offline_stanzas WHERE in_flight = 1";
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(sql).fetch_one(pool).await?
        });
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
