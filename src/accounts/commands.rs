//! The accounts' commands: `argo-bridge keys create|list|revoke`. Each opens the store the
//! configuration names (bringing its schema up to date), does one thing and prints it, as a
//! table for people or as JSON for scripts.

use serde_json::json;

use super::keys::issue;
use super::store::{KeyRecord, Store};
use super::unix_now;
use crate::cli::{KeysCommand, OutputFormat};
use crate::config::{self, AccountsConfig};

pub fn keys(command: KeysCommand) -> Result<(), String> {
    let config = match &command {
        KeysCommand::Create { config, .. }
        | KeysCommand::List { config, .. }
        | KeysCommand::Revoke { config, .. } => accounts_config(config.config.as_deref())?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    runtime.block_on(async {
        let store = Store::open(&config).await.map_err(|e| e.to_string())?;
        match command {
            KeysCommand::Create {
                user,
                name,
                expires,
                format,
                ..
            } => create(&store, &user, &name, expires.as_deref(), format).await,
            KeysCommand::List { user, format, .. } => list(&store, user.as_deref(), format).await,
            KeysCommand::Revoke { id, .. } => revoke(&store, &id).await,
        }
    })
}

/// The `accounts` section of the configuration at `path`, which must name a store.
fn accounts_config(path: Option<&str>) -> Result<AccountsConfig, String> {
    let settings = config::load(path, &|key| std::env::var(key).ok()).map_err(|e| e.to_string())?;
    match settings.accounts.enabled() {
        true => Ok(settings.accounts),
        false => Err(
            "keys live in the accounts store, and none is configured: set \
                      accounts.path (ARGO_BRIDGE_ACCOUNTS_PATH) for SQLite, or \
                      accounts.database_url (ARGO_BRIDGE_DATABASE_URL) for PostgreSQL"
                .into(),
        ),
    }
}

async fn create(
    store: &Store,
    user: &str,
    name: &str,
    expires: Option<&str>,
    format: OutputFormat,
) -> Result<(), String> {
    let (key, record) = issue(user, name, expires, unix_now()).map_err(|e| format!("--{e}"))?;
    store.insert_key(&record).await.map_err(|e| e.to_string())?;
    match format {
        OutputFormat::Json => println!("{}", json!({"key": key, "key_info": record})),
        OutputFormat::Table => {
            println!("{key}");
            eprintln!(
                "key {} for {user}{}: the line above is the key, shown this once (only its hash \
                 is kept)",
                record.id,
                record
                    .expires_at
                    .map_or(String::new(), |at| format!(", expires {}", iso_time(at)))
            );
        }
    }
    Ok(())
}

async fn list(store: &Store, user: Option<&str>, format: OutputFormat) -> Result<(), String> {
    let keys = store.keys(user).await.map_err(|e| e.to_string())?;
    match format {
        OutputFormat::Json => println!("{}", json!({ "keys": keys })),
        OutputFormat::Table => print!("{}", key_table(&keys, unix_now())),
    }
    Ok(())
}

async fn revoke(store: &Store, id: &str) -> Result<(), String> {
    match store
        .revoke_key(id, unix_now())
        .await
        .map_err(|e| e.to_string())?
    {
        true => {
            println!("revoked {id}");
            Ok(())
        }
        false => Err(format!("no key {id} that is not revoked already")),
    }
}

/// The keys as a table: id, user, name, created, last used, expires, state.
fn key_table(keys: &[KeyRecord], now: i64) -> String {
    let time = |at: Option<i64>| at.map_or_else(|| "-".to_string(), iso_time);
    let rows: Vec<[String; 7]> = keys
        .iter()
        .map(|key| {
            let state = match (key.revoked_at, key.expires_at) {
                (Some(_), _) => "revoked",
                (None, Some(at)) if at <= now => "expired",
                _ => "live",
            };
            [
                key.id.clone(),
                key.user.clone(),
                key.name.clone(),
                iso_time(key.created_at),
                time(key.last_used_at),
                time(key.expires_at),
                state.to_string(),
            ]
        })
        .collect();
    let header = [
        "ID",
        "USER",
        "NAME",
        "CREATED",
        "LAST USED",
        "EXPIRES",
        "STATE",
    ]
    .map(String::from);
    table(&header, &rows)
}

/// Columns padded to their widest cell.
fn table<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let mut widths = header.clone().map(|cell| cell.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Unix seconds as `2026-12-08T03:00:00Z`.
pub fn iso_time(unix: i64) -> String {
    let (days, seconds) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_time(1_796_695_200), "2026-12-08T02:00:00Z");
    }

    #[test]
    fn the_table_never_shows_a_hash_and_says_each_keys_state() {
        let key = |id: &str, revoked_at, expires_at| KeyRecord {
            id: id.into(),
            user: "alice".into(),
            name: "laptop".into(),
            hash: "secret-hash".into(),
            created_at: 0,
            expires_at,
            revoked_at,
            last_used_at: None,
        };
        let printed = key_table(
            &[
                key("key_1", None, None),
                key("key_2", Some(5), None),
                key("key_3", None, Some(5)),
            ],
            10,
        );
        assert!(!printed.contains("secret-hash"));
        let states: Vec<&str> = printed
            .lines()
            .skip(1)
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(states, ["live", "revoked", "expired"]);
    }
}
