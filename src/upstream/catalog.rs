//! The model table the gateway serves: the configured one merged with Argo's live lists
//! (`GET {base}/v1/models` of each environment), the source of truth for what Argo serves. Each
//! list is read at start and every `upstream.model_refresh_interval_s`; a failed read keeps the
//! last list (at start: the configured table alone), is logged once (and once more when the
//! environment answers again) and counted, and is tried again after [`FIRST_RETRY`], then after
//! twice as long each time up to the refresh interval, and at once when the readiness probe
//! sees the environment answer again ([`Catalog::answers_again`]). `/ready` says which lists
//! were read ([`Catalog::list_states`]).
//!
//! A refresh costs Argo one list read per environment it reads and the gateway a parse and a
//! merge, so refreshes are coalesced: one runs at a time, they start at least
//! `upstream.model_refresh_min_interval_ms` apart, and callers that asked while one was running
//! share the next that reads what they want. A list is read up to
//! `upstream.max_model_list_bytes` and within [`LIST_READ_TIMEOUT`]; it is parsed and merged on
//! the blocking pool, never on the threads that serve requests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use argo_filters::live_models::{self, LiveModel};
use argo_filters::model_rules::ModelRules;
use argo_filters::models::{ModelTable, UpstreamApi};
use argo_filters::ApiError;
use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::sync::Notify;

use crate::config::Settings;
use crate::observe::metrics;
use crate::upstream::{Api, Call, Upstream};

/// The longest a read of one environment's list may take (or `upstream.total_timeout_ms`, if
/// shorter): a list that never ends must not hold the refreshes, which run one at a time.
pub const LIST_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The wait before a failed list is read again; it doubles with each failure in a row, up to
/// `upstream.model_refresh_interval_s` (and refreshes start at least
/// `upstream.model_refresh_min_interval_ms` apart).
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

pub struct Catalog {
    configured: ModelTable,
    current: RwLock<Arc<ModelTable>>,
    /// The last list each environment gave, kept while a later read fails.
    lists: Mutex<BTreeMap<String, Arc<Vec<LiveModel>>>>,
    /// Each environment's reads so far; one not in it has not been read yet.
    reads: Mutex<BTreeMap<String, Reads>>,
    /// Held by the refresh that runs; callers queue on it.
    refreshing: tokio::sync::Mutex<Refreshes>,
    /// Refreshes started so far: a caller shares a refresh numbered above what it saw here.
    started: AtomicU64,
    /// Wakes the [`Refresher`]: a list is due now.
    due_now: Notify,
}

/// How an environment's list reads went.
#[derive(Debug, Clone, Copy)]
struct Reads {
    /// Reads that failed since the last that succeeded.
    failures: u32,
    /// When the [`Refresher`] reads the list next.
    due: Instant,
}

/// What `/ready` says of an environment's live list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListState {
    /// The last read succeeded.
    Read,
    /// The last read failed; an earlier list is served.
    Stale,
    /// No read has succeeded yet: the configured table alone stands for this environment.
    NotRead,
}

impl ListState {
    pub fn name(self) -> &'static str {
        match self {
            ListState::Read => "read",
            ListState::Stale => "stale",
            ListState::NotRead => "not read",
        }
    }
}

/// What the refreshes have done so far.
#[derive(Default)]
struct Refreshes {
    last_start: Option<Instant>,
    /// The last refresh's number, the environments it read, and what it found.
    last: Option<(u64, Vec<String>, Arc<Refreshed>)>,
}

/// What one refresh found.
#[derive(Debug)]
pub struct Refreshed {
    pub models: usize,
    pub failed: Vec<String>,
}

impl Catalog {
    pub fn new(configured: ModelTable) -> Self {
        metrics::MODELS_SERVED.set(configured.models().len() as i64);
        Catalog {
            current: RwLock::new(Arc::new(configured.clone())),
            configured,
            lists: Mutex::new(BTreeMap::new()),
            reads: Mutex::new(BTreeMap::new()),
            refreshing: tokio::sync::Mutex::new(Refreshes::default()),
            started: AtomicU64::new(0),
            due_now: Notify::new(),
        }
    }

    /// The table requests resolve against now; a request keeps the one it started with.
    pub fn current(&self) -> Arc<ModelTable> {
        match self.current.read() {
            Ok(table) => Arc::clone(&table),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Every environment's list, read by a refresh that started after this call: the one that
    /// starts next, or one that another caller started meanwhile. Refreshes run one at a time,
    /// at least `upstream.model_refresh_min_interval_ms` apart.
    pub async fn refresh(
        self: &Arc<Self>,
        upstream: &Upstream,
        settings: &Settings,
    ) -> Arc<Refreshed> {
        let every: Vec<String> = settings.environments.keys().cloned().collect();
        self.refresh_envs(upstream, settings, every).await
    }

    /// [`Catalog::refresh`] of the lists of `envs` only.
    async fn refresh_envs(
        self: &Arc<Self>,
        upstream: &Upstream,
        settings: &Settings,
        envs: Vec<String>,
    ) -> Arc<Refreshed> {
        let seen = self.started.load(Ordering::SeqCst);
        let mut refreshes = self.refreshing.lock().await;
        if let Some((number, read, refreshed)) = &refreshes.last {
            if *number > seen && envs.iter().all(|env| read.contains(env)) {
                return Arc::clone(refreshed);
            }
        }
        if let Some(last_start) = refreshes.last_start {
            let apart = Duration::from_millis(settings.upstream.model_refresh_min_interval_ms);
            tokio::time::sleep_until((last_start + apart).into()).await;
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        refreshes.last_start = Some(Instant::now());
        let refreshed = Arc::new(self.read_and_merge(upstream, settings, &envs).await);
        refreshes.last = Some((number, envs, Arc::clone(&refreshed)));
        refreshed
    }

    /// Reads the lists of `envs` and serves the merge of every list.
    async fn read_and_merge(
        self: &Arc<Self>,
        upstream: &Upstream,
        settings: &Settings,
        envs: &[String],
    ) -> Refreshed {
        let (mut answered, mut failed) = (Vec::new(), Vec::new());
        let interval = Duration::from_secs(settings.upstream.model_refresh_interval_s);
        for env in envs {
            match read_list(upstream, settings, env).await {
                Ok(list) => {
                    self.lock_lists().insert(env.clone(), Arc::new(list));
                    answered.push(env);
                }
                Err(cause) => {
                    metrics::MODEL_REFRESH_FAILURES
                        .with_label_values(&[env])
                        .inc();
                    self.failed(env, &cause, interval);
                    failed.push(env.clone());
                }
            }
        }
        let catalog = Arc::clone(self);
        let default_api = settings.upstream.default_api.clone();
        let rules = settings.model_rules.clone();
        let models = tokio::task::spawn_blocking(move || catalog.rebuild(&default_api, &rules))
            .await
            .unwrap_or_else(|error| {
                log::error!("merging Argo's model lists failed: {error}");
                self.current().models().len()
            });
        // Read once its models are served.
        for env in answered {
            self.read(env, interval);
        }
        Refreshed { models, failed }
    }

    /// The configured table merged with every list; on the blocking pool.
    fn rebuild(&self, default_api: &BTreeMap<String, UpstreamApi>, rules: &ModelRules) -> usize {
        let lists: Vec<(String, Arc<Vec<LiveModel>>)> = self
            .lock_lists()
            .iter()
            .map(|(env, list)| (env.clone(), Arc::clone(list)))
            .collect();
        let mut table = self.configured.clone();
        for (env, list) in &lists {
            let api = default_api.get(env).copied().unwrap_or_default();
            match live_models::merge(&table, list, env, api, rules) {
                Ok(merged) => table = merged,
                Err(e) => log::warn!("Argo {env}'s model list could not be merged: {e}"),
            }
        }
        let count = table.models().len();
        metrics::MODELS_SERVED.set(count as i64);
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(table),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(table),
        }
        count
    }

    /// The environments of `envs` whose list is due at `now` (never read counts as due).
    fn due(&self, envs: &[String], now: Instant) -> Vec<String> {
        let reads = self.lock_reads();
        envs.iter()
            .filter(|env| reads.get(*env).is_none_or(|read| read.due <= now))
            .cloned()
            .collect()
    }

    /// When the next list of `envs` is due.
    fn next_due(&self, envs: &[String]) -> Instant {
        let reads = self.lock_reads();
        let now = Instant::now();
        envs.iter()
            .map(|env| reads.get(env).map_or(now, |read| read.due))
            .min()
            .unwrap_or(now)
    }

    /// The readiness probe found `env` answering after it did not (or before it had a say):
    /// a list whose last read failed is read again now rather than at its next retry.
    pub fn answers_again(&self, env: &str) {
        let mut reads = self.lock_reads();
        if let Some(read) = reads.get_mut(env).filter(|read| read.failures > 0) {
            read.due = Instant::now();
            log::info!(
                "reading Argo {env}'s model list now: the readiness probe found it answering"
            );
            self.due_now.notify_one();
        }
    }

    /// What `/ready` says of each environment's list.
    pub fn list_states<'a>(
        &self,
        envs: impl Iterator<Item = &'a str>,
    ) -> Vec<(&'a str, ListState)> {
        let lists = self.lock_lists();
        let reads = self.lock_reads();
        envs.map(|env| {
            let state = match (lists.contains_key(env), reads.get(env)) {
                (true, Some(read)) if read.failures == 0 => ListState::Read,
                (true, Some(_)) => ListState::Stale,
                // Not read yet, or read but not merged yet.
                (false, _) | (true, None) => ListState::NotRead,
            };
            (env, state)
        })
        .collect()
    }

    fn lock_lists(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Vec<LiveModel>>>> {
        self.lists
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_reads(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Reads>> {
        self.reads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `env`'s list was read: the next read is a refresh interval away.
    fn read(&self, env: &str, interval: Duration) {
        metrics::MODEL_LIST_READ.with_label_values(&[env]).set(1);
        let due = Instant::now() + interval;
        let before = self
            .lock_reads()
            .insert(env.to_string(), Reads { failures: 0, due });
        if let Some(failures) = before.map(|before| before.failures).filter(|n| *n > 0) {
            log::info!("Argo {env}'s model list can be read again (after {failures} failed reads)");
        }
    }

    /// Reading `env`'s list failed: it is tried again after the backoff.
    fn failed(&self, env: &str, cause: &str, interval: Duration) {
        metrics::MODEL_LIST_READ.with_label_values(&[env]).set(0);
        // Never both locks at once: `list_states` takes them the other way round.
        let kept = match self.lock_lists().contains_key(env) {
            true => "keeping the last one",
            false => "serving the configured table meanwhile",
        };
        let (failures, retry) = {
            let mut reads = self.lock_reads();
            let failures = reads.get(env).map_or(0, |read| read.failures) + 1;
            let retry = retry_after(failures, interval);
            let due = Instant::now() + retry;
            reads.insert(env.to_string(), Reads { failures, due });
            (failures, retry)
        };
        if failures == 1 {
            log::warn!(
                "reading Argo {env}'s model list failed, {kept}; trying again in {} s, then \
                 less and less often (up to every {} s) until it answers: {cause}",
                retry.as_secs_f64(),
                interval.as_secs()
            );
        }
    }
}

/// The wait after the `failures`th failed read in a row: [`FIRST_RETRY`], doubled each time,
/// at most `interval`.
fn retry_after(failures: u32, interval: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    FIRST_RETRY.saturating_mul(1 << doublings).min(interval)
}

/// One environment's list: read within `upstream.max_model_list_bytes` and
/// [`LIST_READ_TIMEOUT`], parsed on the blocking pool.
async fn read_list(
    upstream: &Upstream,
    settings: &Settings,
    env: &str,
) -> Result<Vec<LiveModel>, String> {
    let body = read_list_body(upstream, settings, env).await?;
    tokio::task::spawn_blocking(move || live_models::parse(&body))
        .await
        .map_err(|error| format!("parsing the list failed: {error}"))?
}

async fn read_list_body(
    upstream: &Upstream,
    settings: &Settings,
    env: &str,
) -> Result<Vec<u8>, String> {
    let cause = |e: ApiError| e.cause.map(|cause| *cause).unwrap_or(e.message);
    let call = Call::new(Api::Models, &settings.upstream.model_list_user);
    let deadline = Instant::now() + LIST_READ_TIMEOUT.min(settings.upstream.total_timeout());
    let mut exchange = upstream
        .send(env, &call, b"", Some(deadline))
        .await
        .map_err(cause)?;
    if !exchange.is_success() {
        return Err(cause(upstream.reject(exchange).await));
    }
    let most = settings.upstream.max_model_list_bytes;
    let mut body = Vec::new();
    while let Some(chunk) = exchange.next_chunk(upstream).await.map_err(cause)? {
        if body.len() + chunk.len() > most {
            // Dropped unread: the connection closes.
            return Err(format!(
                "the list is larger than upstream.max_model_list_bytes ({most} bytes)"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    upstream.release(exchange);
    Ok(body)
}

/// Reads every environment's list at start, then each again when it is due: a refresh
/// interval after a read that succeeded, sooner after one that failed (see the module's
/// comment). Never when `upstream.model_refresh_interval_s` is 0. It has its own connections
/// to Argo: a background service runs on its own runtime.
pub struct Refresher {
    pub catalog: Arc<Catalog>,
    pub upstream: Upstream,
    pub settings: Arc<Settings>,
}

#[async_trait]
impl BackgroundService for Refresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if self.settings.upstream.model_refresh_interval_s == 0 {
            return;
        }
        let envs: Vec<String> = self.settings.environments.keys().cloned().collect();
        loop {
            let due = self.catalog.due(&envs, Instant::now());
            if !due.is_empty() {
                let refreshed = self
                    .catalog
                    .refresh_envs(&self.upstream, &self.settings, due)
                    .await;
                log::debug!("model lists refreshed: {refreshed:?}");
            }
            let next = self.catalog.next_due(&envs);
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = self.catalog.due_now.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_reads_are_retried_after_1_s_then_twice_as_long_up_to_the_interval() {
        let interval = Duration::from_secs(600);
        let waits: Vec<u64> = (1..=12)
            .map(|failures| retry_after(failures, interval).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(retry_after(u32::MAX, interval), interval);
        assert_eq!(retry_after(3, Duration::from_secs(3)).as_secs(), 3);
    }

    #[test]
    fn readiness_brings_a_failing_list_forward_and_leaves_a_read_one_alone() {
        let catalog = Catalog::new(ModelTable::default());
        let envs = vec!["prod".to_string(), "dev".to_string()];
        let now = Instant::now();
        assert_eq!(catalog.due(&envs, now), envs, "never read: due at once");
        let interval = Duration::from_secs(600);
        catalog
            .lock_lists()
            .insert("dev".into(), Arc::new(Vec::new()));
        catalog.read("dev", interval);
        catalog.failed("prod", "connection refused", interval);
        catalog.failed("prod", "connection refused", interval);
        let later = Instant::now();
        assert!(catalog.due(&envs, later).is_empty());
        let next = catalog.next_due(&envs);
        assert!(
            next > later + Duration::from_millis(1_500) && next < later + Duration::from_secs(3)
        );
        let states = catalog.list_states(["prod", "dev"].into_iter());
        assert_eq!(
            states,
            [("prod", ListState::NotRead), ("dev", ListState::Read)]
        );
        catalog.answers_again("dev");
        assert!(
            catalog.due(&envs, Instant::now()).is_empty(),
            "dev was read"
        );
        catalog.answers_again("prod");
        assert_eq!(catalog.due(&envs, Instant::now()), ["prod"]);
        catalog.failed("dev", "503", interval);
        assert_eq!(
            catalog.list_states(["dev"].into_iter()),
            [("dev", ListState::Stale)]
        );
    }
}
