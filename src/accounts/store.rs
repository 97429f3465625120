//! The accounts store: SQLite in a file, or PostgreSQL, through sqlx's `Any` driver, so that one
//! schema and one set of queries (`$1` parameters, which both take) serve both. The schema's
//! migrations run when the store is first reached; the gateway never waits on the store to
//! answer a request (see [`super::keys::KeyRing`]).

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

use super::ledger::Batch;
use super::time::day_of;
use crate::config::AccountsConfig;

/// The schema, oldest first. A migration, once released, never changes (sqlx checks each one's
/// checksum against the store's record); a change is a new file.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "keys", include_str!("migrations/0001_keys.sql")),
    (2, "usage", include_str!("migrations/0002_usage.sql")),
];

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

/// What a usage report sums by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    User,
    Model,
    Day,
}

impl Grouping {
    /// The word for it in reports.
    pub fn column_name(self) -> &'static str {
        match self {
            Grouping::User => "user",
            Grouping::Model => "model",
            Grouping::Day => "day",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Grouping::User => "user_name",
            Grouping::Model => "model",
            Grouping::Day => "day",
        }
    }
}

/// One line of a usage report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsageLine {
    pub group: String,
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
}

impl Store {
    /// Adds `batch` to the ledger in one transaction, once: a batch `id` already written (its
    /// commit went through, its answer was lost) is not added again. Keys in the batch get
    /// their `last_used_at`.
    pub async fn write_batch(&self, id: &str, batch: &Batch, now: i64) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(failed("write usage"))?;
        let first_time = sqlx::query(
            "INSERT INTO ledger_batches (id, written_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(failed("write usage"))?
        .rows_affected()
            > 0;
        if first_time {
            for (row, totals) in batch {
                sqlx::query(
                    "INSERT INTO usage_daily (day, user_name, key_id, model, client, endpoint, \
                     status, requests, prompt_tokens, completion_tokens, cached_tokens) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (day, user_name, key_id, model, client, endpoint, status) \
                     DO UPDATE SET requests = usage_daily.requests + excluded.requests, \
                     prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens, \
                     completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens, \
                     cached_tokens = usage_daily.cached_tokens + excluded.cached_tokens",
                )
                .bind(day_of(row.day * 86_400))
                .bind(row.user.as_ref())
                .bind(row.key_id.as_ref())
                .bind(row.model.as_ref())
                .bind(row.client)
                .bind(row.endpoint)
                .bind(i64::from(row.status))
                .bind(count(totals.requests))
                .bind(count(totals.tokens.prompt))
                .bind(count(totals.tokens.completion))
                .bind(count(totals.tokens.cached))
                .execute(&mut *transaction)
                .await
                .map_err(failed("write usage"))?;
            }
            let mut used: Vec<&str> = batch.keys().map(|row| row.key_id.as_ref()).collect();
            used.sort_unstable();
            used.dedup();
            for key_id in used.into_iter().filter(|id| !id.is_empty()) {
                sqlx::query("UPDATE keys SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(key_id)
                    .execute(&mut *transaction)
                    .await
                    .map_err(failed("write usage"))?;
            }
        }
        transaction.commit().await.map_err(failed("write usage"))
    }

    /// The ledger's totals from `since_day` (`YYYY-MM-DD`) on, summed by `by`.
    pub async fn usage(&self, since_day: &str, by: Grouping) -> Result<Vec<UsageLine>, StoreError> {
        let column = by.column();
        let rows = sqlx::query(&format!(
            "SELECT {column} AS grouped, CAST(SUM(requests) AS BIGINT) AS requests, \
             CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, \
             CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens, \
             CAST(SUM(cached_tokens) AS BIGINT) AS cached_tokens \
             FROM usage_daily WHERE day >= $1 GROUP BY {column} ORDER BY {column}"
        ))
        .bind(since_day)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read usage"))?;
        rows.iter()
            .map(|row| {
                Ok(UsageLine {
                    group: row.try_get("grouped")?,
                    requests: row.try_get("requests")?,
                    prompt_tokens: row.try_get("prompt_tokens")?,
                    completion_tokens: row.try_get("completion_tokens")?,
                    cached_tokens: row.try_get("cached_tokens")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(failed("read usage"))
    }
}

/// A count as the store's signed 64 bits (a count past them is held at the top).
fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
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
