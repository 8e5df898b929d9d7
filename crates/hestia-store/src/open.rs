//! Opening a store from its URL, with crash-safe SQLite settings, and bringing the schema up to date.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{Store, StoreError};

/// How long a SQLite statement waits for another connection's write lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Opens the store named by `url` and applies pending migrations.
    ///
    /// - `sqlite:PATH` or `sqlite://PATH`: a SQLite file, created if missing.
    /// - `postgres://…` or `postgresql://…`: a PostgreSQL database; an optional `schema=NAME` query parameter
    ///   (lower-case letters, digits, `_`) confines the store to that schema, created if missing.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|error| StoreError::InvalidUrl(format!("{error}")))?;
            Self::open_sqlite(options).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let (url, schema) = split_schema(url);
            Self::open_postgres(&url, schema.as_deref()).await
        } else {
            Err(StoreError::InvalidUrl(
                "expected a sqlite: or postgres:// url".to_owned(),
            ))
        }
    }

    /// Opens (creating if missing) the SQLite database file at `path` and applies pending migrations.
    pub async fn open_sqlite_file(path: &Path) -> Result<Store, StoreError> {
        Self::open_sqlite(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens the PostgreSQL database at `url` (without a `schema` parameter), confined to `schema` when given, and
    /// applies pending migrations there.
    pub async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Store, StoreError> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|error| StoreError::InvalidUrl(format!("{error}")))?;
        if let Some(schema) = schema {
            check_schema_name(schema)?;
            create_schema(&options, schema).await?;
            // A startup parameter, so every pooled connection (and the migration table) lives in the schema.
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new().connect_with(options).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Store::Postgres(pool))
    }

    async fn open_sqlite(options: SqliteConnectOptions) -> Result<Store, StoreError> {
        // WAL with synchronous=FULL: a commit is on disk before it is acknowledged, so it survives kill -9 and
        // power loss; WAL lets readers run alongside the single writer.
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new().connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Store::Sqlite(pool))
    }
}

/// Removes a `schema=NAME` query parameter from a PostgreSQL URL (sqlx does not know it), returning the rest.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut schema = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", name)) => schema = Some(name.to_owned()),
            _ => kept.push(pair),
        }
    }
    if kept.is_empty() {
        (base.to_owned(), schema)
    } else {
        (format!("{base}?{}", kept.join("&")), schema)
    }
}

/// Only plain lower-case identifiers: they need no quoting in `search_path` and cannot inject SQL.
fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let mut chars = schema.chars();
    let is_valid = chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if is_valid {
        Ok(())
    } else {
        Err(StoreError::InvalidUrl(format!(
            "schema {schema:?}: use lower-case letters, digits and _"
        )))
    }
}

async fn create_schema(options: &PgConnectOptions, schema: &str) -> Result<(), StoreError> {
    let mut connection = sqlx::PgConnection::connect_with(options).await?;
    let created = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&mut connection)
        .await;
    connection.close().await?;
    match created {
        Ok(_) => Ok(()),
        // Two processes creating the same schema at once: the loser sees a unique violation; the schema exists.
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(()),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parameter_is_split_from_the_url() {
        let cases = [
            ("postgres://h/db", "postgres://h/db", None),
            ("postgres://h/db?schema=s1", "postgres://h/db", Some("s1")),
            (
                "postgres://h/db?sslmode=disable&schema=s1&application_name=x",
                "postgres://h/db?sslmode=disable&application_name=x",
                Some("s1"),
            ),
            (
                "postgres://h/db?sslmode=disable",
                "postgres://h/db?sslmode=disable",
                None,
            ),
        ];
        for (input, url, schema) in cases {
            assert_eq!(
                split_schema(input),
                (url.to_owned(), schema.map(str::to_owned)),
                "{input}"
            );
        }
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["hestia", "_x", "t_123"] {
            assert!(check_schema_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "Hestia",
            "a-b",
            "a;drop",
            "x\"y",
            &"a".repeat(64),
        ] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn unknown_scheme_is_an_invalid_url() {
        let result = Store::open("mysql://localhost/db").await;
        assert!(matches!(result, Err(StoreError::InvalidUrl(_))));
    }
}
