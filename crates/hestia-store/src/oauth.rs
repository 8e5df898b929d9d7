//! The gateway's OAuth 2.0 authorization server state (ISO/IEC 10192-4-3 §8 C2C authorization): registered
//! clients, grants and their refresh-token families, revoked access-token ids, and signing keys. What the
//! records mean (PKCE, rotation, JWTs) lives in `hestia_gateway::oauth`; the store only keeps them.

use std::fmt;

use crate::accounts::expect_one;
use crate::{Store, StoreError, with_pool};

/// A registered client: a peer gateway, confidential, registered by the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    /// What the consent screen calls it.
    pub name: String,
    /// SHA-256 of the client secret.
    pub secret_hash: Vec<u8>,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Scopes it may be granted.
    pub scopes: Vec<String>,
    /// Audiences besides the gateway's own it may ask for in a token exchange.
    pub audiences: Vec<String>,
    pub created_at: i64,
}

/// One user's consent to one client: the family every refresh token of the consent belongs to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OAuthGrant {
    pub grant_id: String,
    pub client_id: String,
    /// The user (account localpart).
    pub username: String,
    /// The scope consented to, space-separated.
    pub scope: String,
    pub created_at: i64,
    /// When the family was revoked; its tokens are refused from then on.
    pub revoked_at: Option<i64>,
}

/// A refresh token as stored (by its hash) with the grant it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub grant: OAuthGrant,
    /// The scope of this token (a refresh may narrow it), space-separated.
    pub scope: String,
    pub expires_at: i64,
    /// Set once the token was exchanged for its successor; a second use is a replay.
    pub used_at: Option<i64>,
}

/// A signing key. `Debug` never shows the private key.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKey {
    pub kid: String,
    /// The private key document (PKCS#8).
    pub private_key: Vec<u8>,
    pub created_at: i64,
    /// None for the current key; a superseded key is published until then.
    pub retires_at: Option<i64>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("private_key", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("retires_at", &self.retires_at)
            .finish()
    }
}

type ClientRow = (String, String, Vec<u8>, String, String, String, i64);

const CLIENT_COLUMNS: &str =
    "client_id, name, secret_hash, redirect_uris, scopes, audiences, created_at";

fn to_json(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::decode(format!("list: {e}")))
}

fn from_json(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::decode(format!("list: {e}")))
}

fn client_from_row(row: ClientRow) -> Result<OAuthClient, StoreError> {
    let (client_id, name, secret_hash, redirect_uris, scopes, audiences, created_at) = row;
    Ok(OAuthClient {
        client_id,
        name,
        secret_hash,
        redirect_uris: from_json(&redirect_uris)?,
        scopes: from_json(&scopes)?,
        audiences: from_json(&audiences)?,
        created_at,
    })
}

impl Store {
    /// Registers a client. [`StoreError::Conflict`] if its id is taken.
    pub async fn put_oauth_client(&self, client: &OAuthClient) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO oauth_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        let (uris, scopes, audiences) = (
            to_json(&client.redirect_uris)?,
            to_json(&client.scopes)?,
            to_json(&client.audiences)?,
        );
        with_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(&client.client_id)
                .bind(&client.name)
                .bind(&client.secret_hash)
                .bind(&uris)
                .bind(&scopes)
                .bind(&audiences)
                .bind(client.created_at)
                .execute(pool)
                .await
                .map_err(StoreError::from_insert)?;
        });
        Ok(())
    }

    pub async fn oauth_client(&self, client_id: &str) -> Result<Option<OAuthClient>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1");
        let row: Option<ClientRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(client_id).fetch_optional(pool).await?
        });
        row.map(client_from_row).transpose()
    }

    /// Every registered client, ordered by id.
    pub async fn oauth_clients(&self) -> Result<Vec<OAuthClient>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY client_id");
        let rows: Vec<ClientRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        rows.into_iter().map(client_from_row).collect()
    }

    /// Removes a client and, in the same transaction, revokes every grant it held; the ids of the grants
    /// revoked now. [`StoreError::NotFound`] if there is no such client.
    pub async fn delete_oauth_client(
        &self,
        client_id: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let revoke = "UPDATE oauth_grants SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL \
            RETURNING grant_id";
        let delete = "DELETE FROM oauth_clients WHERE client_id = $1";
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows = sqlx::query(delete).bind(client_id).execute(&mut *tx).await?.rows_affected();
            expect_one(rows)?;
            let revoked: Vec<String> =
                sqlx::query_scalar(revoke).bind(client_id).bind(now).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok(revoked)
        })
    }

    /// Records a new grant. [`StoreError::NotFound`] if its user does not exist.
    pub async fn create_oauth_grant(&self, grant: &OAuthGrant) -> Result<(), StoreError> {
        let sql = "INSERT INTO oauth_grants (grant_id, client_id, username, scope, created_at, revoked_at) \
            VALUES ($1, $2, $3, $4, $5, $6)";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(&grant.grant_id)
                .bind(&grant.client_id)
                .bind(&grant.username)
                .bind(&grant.scope)
                .bind(grant.created_at)
                .bind(grant.revoked_at)
                .execute(pool)
                .await
                .map_err(StoreError::from_write)?;
        });
        Ok(())
    }

    pub async fn oauth_grant(&self, grant_id: &str) -> Result<Option<OAuthGrant>, StoreError> {
        let sql = "SELECT grant_id, client_id, username, scope, created_at, revoked_at FROM oauth_grants \
            WHERE grant_id = $1";
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sql).bind(grant_id).fetch_optional(pool).await?
        }))
    }

    /// Revokes a grant family; true when it was live until now.
    pub async fn revoke_oauth_grant(&self, grant_id: &str, now: i64) -> Result<bool, StoreError> {
        let sql =
            "UPDATE oauth_grants SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql).bind(grant_id).bind(now).execute(pool).await?.rows_affected()
        });
        Ok(rows == 1)
    }

    /// The ids of grants revoked at or after `since`, ordered: what a starting gateway must refuse.
    pub async fn revoked_oauth_grants(&self, since: i64) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT grant_id FROM oauth_grants WHERE revoked_at >= $1 ORDER BY grant_id";
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(since).fetch_all(pool).await?
        }))
    }

    /// Stores a refresh token by its hash. [`StoreError::NotFound`] if the grant does not exist.
    pub async fn put_refresh_token(
        &self,
        token_hash: &[u8],
        grant_id: &str,
        scope: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, scope, expires_at) \
            VALUES ($1, $2, $3, $4)";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(token_hash)
                .bind(grant_id)
                .bind(scope)
                .bind(expires_at)
                .execute(pool)
                .await
                .map_err(StoreError::from_write)?;
        });
        Ok(())
    }

    /// The refresh token with this hash and its grant, used or not.
    pub async fn refresh_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshToken>, StoreError> {
        type Row = (
            String,
            String,
            String,
            String,
            i64,
            Option<i64>,
            String,
            i64,
            Option<i64>,
        );
        let sql = "SELECT g.grant_id, g.client_id, g.username, g.scope, g.created_at, g.revoked_at, \
            r.scope, r.expires_at, r.used_at FROM oauth_refresh_tokens r \
            JOIN oauth_grants g ON g.grant_id = r.grant_id WHERE r.token_hash = $1";
        let row: Option<Row> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(token_hash).fetch_optional(pool).await?
        });
        Ok(row.map(
            |(
                grant_id,
                client_id,
                username,
                grant_scope,
                created_at,
                revoked_at,
                scope,
                expires_at,
                used_at,
            )| {
                RefreshToken {
                    grant: OAuthGrant {
                        grant_id,
                        client_id,
                        username,
                        scope: grant_scope,
                        created_at,
                        revoked_at,
                    },
                    scope,
                    expires_at,
                    used_at,
                }
            },
        ))
    }

    /// Marks a refresh token used, atomically: true if it existed unused; of concurrent users of one token at
    /// most one gets true.
    pub async fn spend_refresh_token(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE oauth_refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL";
        let rows = with_pool!(self, pool => {
            sqlx::query(sql).bind(token_hash).bind(now).execute(pool).await?.rows_affected()
        });
        Ok(rows == 1)
    }

    /// Records a revoked access token's id until the token's own expiry (unix seconds).
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        let sql = "INSERT INTO oauth_revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING";
        with_pool!(self, pool => {
            sqlx::query(sql).bind(jti).bind(expires_at).execute(pool).await?;
        });
        Ok(())
    }

    /// The ids of revoked access tokens not yet expired at `now`, ordered.
    pub async fn revoked_access_tokens(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT jti FROM oauth_revoked_tokens WHERE expires_at > $1 ORDER BY jti";
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(now).fetch_all(pool).await?
        }))
    }

    /// Stores a new signing key and, in the same transaction, gives every other current key `retires_at`:
    /// the new key is the only current one.
    pub async fn rotate_signing_key(
        &self,
        key: &SigningKey,
        retires_at: i64,
    ) -> Result<(), StoreError> {
        let retire = "UPDATE oauth_signing_keys SET retires_at = $1 WHERE retires_at IS NULL";
        let insert = "INSERT INTO oauth_signing_keys (kid, private_key, created_at, retires_at) VALUES ($1, $2, $3, NULL)";
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(retire).bind(retires_at).execute(&mut *tx).await?;
            sqlx::query(insert)
                .bind(&key.kid)
                .bind(&key.private_key)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_insert)?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The keys still published at `now`: the current one first, then those not yet retired, newest first.
    pub async fn signing_keys(&self, now: i64) -> Result<Vec<SigningKey>, StoreError> {
        let sql = "SELECT kid, private_key, created_at, retires_at FROM oauth_signing_keys \
            WHERE retires_at IS NULL OR retires_at > $1 \
            ORDER BY CASE WHEN retires_at IS NULL THEN 0 ELSE 1 END, created_at DESC, kid";
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sql).bind(now).fetch_all(pool).await?
        }))
    }

    /// Deletes what no longer matters at `now`: expired refresh tokens, revoked-token ids past their expiry,
    /// retired keys. The number of rows removed.
    pub async fn prune_oauth(&self, now: i64) -> Result<u64, StoreError> {
        let statements = [
            "DELETE FROM oauth_refresh_tokens WHERE expires_at <= $1",
            "DELETE FROM oauth_revoked_tokens WHERE expires_at <= $1",
            "DELETE FROM oauth_signing_keys WHERE retires_at <= $1",
        ];
        let mut removed = 0;
        for sql in statements {
            removed += with_pool!(self, pool => {
                sqlx::query(sql).bind(now).execute(pool).await?.rows_affected()
            });
        }
        Ok(removed)
    }
}
