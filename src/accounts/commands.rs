//! The accounts' commands: `argo-bridge keys create|list|revoke` and `argo-bridge usage`. Each
//! opens the store the configuration names (bringing its schema up to date), does one thing and
//! prints it, as a table for people, or as JSON or CSV for scripts.

use serde_json::json;

use super::keys::{issue, parse_duration};
use super::store::{Grouping, KeyRecord, Store, UsageLine};
use super::time::{day_of, iso_time, unix_now};
use crate::config::{self, AccountsConfig};

/// How a command prints what it read.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Columns for people
    Table,
    /// One JSON document, for scripts
    Json,
    /// Comma-separated values with a header line, for spreadsheets
    Csv,
}

/// What `argo-bridge keys` is asked to do (`cli` reads it off the command line).
pub enum KeysAction {
    Create {
        user: String,
        name: String,
        expires: Option<String>,
        format: OutputFormat,
    },
    List {
        user: Option<String>,
        format: OutputFormat,
    },
    Revoke {
        id: String,
    },
}

/// `argo-bridge keys`, on the store the configuration at `config_path` names.
pub fn keys(config_path: Option<&str>, action: KeysAction) -> Result<(), String> {
    let config = accounts_config(config_path)?;
    with_store(&config, |store| async move {
        let store = &store;
        match action {
            KeysAction::Create {
                user,
                name,
                expires,
                format,
            } => create(store, &user, &name, expires.as_deref(), format).await,
            KeysAction::List { user, format } => list(store, user.as_deref(), format).await,
            KeysAction::Revoke { id } => revoke(store, &id).await,
        }
    })
}

/// `argo-bridge usage`: the ledger from `since` (a duration back, or a day) on, summed `by`.
pub fn usage(
    config_path: Option<&str>,
    since: &str,
    by: Grouping,
    format: OutputFormat,
) -> Result<(), String> {
    let config = accounts_config(config_path)?;
    let since_day = since_day(since, unix_now()).map_err(|e| format!("--since: {e}"))?;
    with_store(&config, |store| async move {
        let lines = store
            .usage(&since_day, by)
            .await
            .map_err(|e| e.to_string())?;
        print!("{}", usage_report(&lines, by, format, &since_day));
        Ok(())
    })
}

/// The first day a report covers: `since` days, hours... back from `now`, or a `YYYY-MM-DD`.
pub fn since_day(since: &str, now: i64) -> Result<String, String> {
    let is_day = since.len() == 10
        && since.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    match is_day {
        true => Ok(since.to_string()),
        false => parse_duration(since).map(|seconds| day_of(now - seconds)),
    }
}

fn usage_report(lines: &[UsageLine], by: Grouping, format: OutputFormat, since: &str) -> String {
    match format {
        OutputFormat::Json => format!(
            "{}\n",
            json!({"since": since, "by": by.column_name(), "usage": lines})
        ),
        OutputFormat::Csv | OutputFormat::Table => {
            let header = [
                by.column_name(),
                "requests",
                "prompt_tokens",
                "completion_tokens",
                "cached_tokens",
            ]
            .map(String::from);
            let rows: Vec<[String; 5]> = lines
                .iter()
                .map(|line| {
                    [
                        line.group.clone(),
                        line.requests.to_string(),
                        line.prompt_tokens.to_string(),
                        line.completion_tokens.to_string(),
                        line.cached_tokens.to_string(),
                    ]
                })
                .collect();
            match format {
                OutputFormat::Csv => csv(&header, &rows),
                _ => table(&header, &rows),
            }
        }
    }
}

/// Runs `work` on the store `config` names, on a runtime of its own.
fn with_store<F, Fut>(config: &AccountsConfig, work: F) -> Result<(), String>
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    runtime.block_on(async {
        let store = Store::open(config).await.map_err(|e| e.to_string())?;
        work(store).await
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
        OutputFormat::Table | OutputFormat::Csv => {
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
        OutputFormat::Table => print!("{}", key_table(&keys, unix_now(), table)),
        OutputFormat::Csv => print!("{}", key_table(&keys, unix_now(), csv)),
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

/// The keys as a table (`layout`: [`table`] or [`csv`]): id, user, name, created, last used,
/// expires, state.
fn key_table(
    keys: &[KeyRecord],
    now: i64,
    layout: fn(&[String; 7], &[[String; 7]]) -> String,
) -> String {
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
        "id",
        "user",
        "name",
        "created",
        "last_used",
        "expires",
        "state",
    ]
    .map(String::from);
    layout(&header, &rows)
}

/// Comma-separated values, a cell quoted where it holds a comma, a quote or a line break.
fn csv<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let cell = |text: &String| match text.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", text.replace('"', "\"\"")),
        false => text.clone(),
    };
    std::iter::once(header)
        .chain(rows)
        .map(|row| row.iter().map(cell).collect::<Vec<_>>().join(",") + "\n")
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_starts_on_a_day_given_or_counted_back() {
        let now = 1_796_695_200; // 2026-12-08T02:00:00Z
        assert_eq!(since_day("7d", now).unwrap(), "2026-12-01");
        assert_eq!(since_day("2026-11-30", now).unwrap(), "2026-11-30");
        assert!(since_day("2026-1-30", now).is_err());
        assert!(since_day("yesterday", now).is_err());
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let header = ["a", "b"].map(String::from);
        let rows = [["x,y".to_string(), "say \"hi\"".to_string()]];
        assert_eq!(csv(&header, &rows), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n");
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
            table,
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
