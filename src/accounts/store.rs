//! The accounts store: SQLite in a file, or PostgreSQL, through sqlx's `Any` driver, so that one
//! schema and one set of queries (`$1` parameters, which both take) serve both. The schema's
//! migrations run when the store is first reached; the gateway never waits on the store to
//! answer a request (see [`super::keys::KeyRing`]).

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

use crate::config::AccountsConfig;

/// The schema, oldest first. A migration, once released, never changes (sqlx checks each one's
/// checksum against the store's record); a change is a new file.
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "keys", include_str!("migrations/0001_keys.sql"))];

/// The store could not do what was asked: its message names the operation and sqlx's cause.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn failed(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |error| StoreError(format!("accounts store: cannot {what}: {error}"))
}

/// A key as the store keeps it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyRecord {
    pub id: String,
    pub user: String,
    pub name: String,
    #[serde(skip)]
    pub hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl KeyRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(KeyRecord {
            id: row.try_get("id")?,
            user: row.try_get("user_name")?,
            name: row.try_get("name")?,
            hash: row.try_get("hash")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            last_used_at: row.try_get("last_used_at")?,
        })
    }
}

const KEY_COLUMNS: &str =
    "id, user_name, name, hash, created_at, expires_at, revoked_at, last_used_at";

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    sqlite: bool,
}

impl Store {
    /// The store `config` names, not yet reached: the first query connects (and a store that
    /// is down at start is no error here; the caller retries).
    pub fn lazy(config: &AccountsConfig) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(&config.url())
            .map_err(failed("read accounts.path / accounts.database_url"))?;
        Ok(Store {
            pool,
            sqlite: config.database_url.is_empty(),
        })
    }

    /// Connects now and brings the schema up to date: for the command line, which has nothing
    /// to do without the store.
    pub async fn open(config: &AccountsConfig) -> Result<Store, StoreError> {
        let store = Store::lazy(config)?;
        store.migrate().await?;
        Ok(store)
    }

    /// Runs the migrations the store has not had yet (on PostgreSQL under sqlx's advisory lock,
    /// so instances starting together apply each once). SQLite is switched to write-ahead
    /// logging, so the command line can write while a gateway reads.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        if self.sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await
                .map_err(failed("switch SQLite to write-ahead logging"))?;
        }
        migrator()
            .run(&self.pool)
            .await
            .map_err(|error| StoreError(format!("accounts store: cannot migrate: {error}")))
    }

    pub async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO keys (id, user_name, name, hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&key.user)
        .bind(&key.name)
        .bind(&key.hash)
        .bind(key.created_at)
        .bind(key.expires_at)
        .execute(&self.pool)
        .await
        .map_err(failed("add the key"))?;
        Ok(())
    }

    /// Every key, or `user`'s, newest first.
    pub async fn keys(&self, user: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = match user {
            Some(user) => {
                sqlx::query(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE user_name = $1 ORDER BY created_at DESC, id"
            ))
                .bind(user)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {KEY_COLUMNS} FROM keys ORDER BY created_at DESC, id"
                ))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(failed("list the keys"))?;
        rows.iter()
            .map(KeyRecord::from_row)
            .collect::<Result<_, _>>()
            .map_err(failed("read the keys"))
    }

    /// The keys that may authenticate at `now`: not revoked, not expired.
    pub async fn live_keys(&self, now: i64) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM keys WHERE revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $1)"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read the keys"))?;
        rows.iter()
            .map(KeyRecord::from_row)
            .collect::<Result<_, _>>()
            .map_err(failed("read the keys"))
    }

    /// Revokes key `id` at `now`: whether there was such a key not yet revoked.
    pub async fn revoke_key(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(failed("revoke the key"))?;
        Ok(done.rows_affected() > 0)
    }
}

fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}
