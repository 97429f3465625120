//! The model table the gateway serves: the configured one merged with Argo's live lists
//! (`GET {base}/v1/models` of each environment), read at start and every
//! `upstream.model_refresh_interval_s`. A failed read keeps the last list, is logged once (and
//! once more when the environment answers again) and counted.
//!
//! A refresh costs Argo one list read per environment and the gateway a parse and a merge, so
//! refreshes are coalesced: one runs at a time, they start at least
//! `upstream.model_refresh_min_interval_ms` apart, and callers that asked while one was running
//! share the next. A list is read up to `upstream.max_model_list_bytes` and within
//! [`LIST_READ_TIMEOUT`]; it is parsed and merged on the blocking pool, never on the threads
//! that serve requests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use argo_filters::live_models::{self, LiveModel};
use argo_filters::models::{ModelTable, UpstreamApi};
use argo_filters::ApiError;
use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use crate::config::Settings;
use crate::metrics;
use crate::upstream::{Api, Call, Upstream};

/// The longest a read of one environment's list may take (or `upstream.total_timeout_ms`, if
/// shorter): a list that never ends must not hold the refreshes, which run one at a time.
pub const LIST_READ_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Catalog {
    configured: ModelTable,
    current: RwLock<Arc<ModelTable>>,
    /// The last list each environment gave, kept while a later read fails.
    lists: Mutex<BTreeMap<String, Arc<Vec<LiveModel>>>>,
    /// Environments whose last read failed (logged once until they answer again).
    failing: Mutex<Vec<String>>,
    /// Held by the refresh that runs; callers queue on it.
    refreshing: tokio::sync::Mutex<Refreshes>,
    /// Refreshes started so far: a caller shares a refresh numbered above what it saw here.
    started: AtomicU64,
}

/// What the refreshes have done so far.
#[derive(Default)]
struct Refreshes {
    last_start: Option<Instant>,
    /// The last refresh's number and what it found.
    last: Option<(u64, Arc<Refreshed>)>,
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
            failing: Mutex::new(Vec::new()),
            refreshing: tokio::sync::Mutex::new(Refreshes::default()),
            started: AtomicU64::new(0),
        }
    }

    /// The table requests resolve against now; a request keeps the one it started with.
    pub fn current(&self) -> Arc<ModelTable> {
        match self.current.read() {
            Ok(table) => Arc::clone(&table),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// What a refresh that started after this call found: the one that starts next, or one
    /// that another caller started meanwhile. Refreshes run one at a time, at least
    /// `upstream.model_refresh_min_interval_ms` apart.
    pub async fn refresh(
        self: &Arc<Self>,
        upstream: &Upstream,
        settings: &Settings,
    ) -> Arc<Refreshed> {
        let seen = self.started.load(Ordering::SeqCst);
        let mut refreshes = self.refreshing.lock().await;
        if let Some((number, refreshed)) = &refreshes.last {
            if *number > seen {
                return Arc::clone(refreshed);
            }
        }
        if let Some(last_start) = refreshes.last_start {
            let apart = Duration::from_millis(settings.upstream.model_refresh_min_interval_ms);
            tokio::time::sleep_until((last_start + apart).into()).await;
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        refreshes.last_start = Some(Instant::now());
        let refreshed = Arc::new(self.read_and_merge(upstream, settings).await);
        refreshes.last = Some((number, Arc::clone(&refreshed)));
        refreshed
    }

    /// Reads every environment's list and serves the merge.
    async fn read_and_merge(
        self: &Arc<Self>,
        upstream: &Upstream,
        settings: &Settings,
    ) -> Refreshed {
        let mut failed = Vec::new();
        for env in settings.environments.keys() {
            match read_list(upstream, settings, env).await {
                Ok(list) => {
                    self.recovered(env);
                    self.lock_lists().insert(env.clone(), Arc::new(list));
                }
                Err(cause) => {
                    metrics::MODEL_REFRESH_FAILURES
                        .with_label_values(&[env])
                        .inc();
                    self.failed(env, &cause);
                    failed.push(env.clone());
                }
            }
        }
        let catalog = Arc::clone(self);
        let default_api = settings.upstream.default_api.clone();
        let models = tokio::task::spawn_blocking(move || catalog.rebuild(&default_api))
            .await
            .unwrap_or_else(|error| {
                log::error!("merging Argo's model lists failed: {error}");
                self.current().models().len()
            });
        Refreshed { models, failed }
    }

    /// The configured table merged with every list; on the blocking pool.
    fn rebuild(&self, default_api: &BTreeMap<String, UpstreamApi>) -> usize {
        let lists: Vec<(String, Arc<Vec<LiveModel>>)> = self
            .lock_lists()
            .iter()
            .map(|(env, list)| (env.clone(), Arc::clone(list)))
            .collect();
        let mut table = self.configured.clone();
        for (env, list) in &lists {
            let api = default_api.get(env).copied().unwrap_or_default();
            match live_models::merge(&table, list, env, api) {
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

    fn lock_lists(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Vec<LiveModel>>>> {
        self.lists
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn failed(&self, env: &str, cause: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if !failing.iter().any(|known| known == env) {
            failing.push(env.to_string());
            log::warn!("reading Argo {env}'s model list failed, keeping the last one: {cause}");
        }
    }

    fn recovered(&self, env: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = failing.iter().position(|known| known == env) {
            failing.remove(at);
            log::info!("Argo {env}'s model list can be read again");
        }
    }
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

/// Refreshes the catalog at start, then every `upstream.model_refresh_interval_s` (never when
/// 0). It has its own connections to Argo: a background service runs on its own runtime.
pub struct Refresher {
    pub catalog: Arc<Catalog>,
    pub upstream: Upstream,
    pub settings: Arc<Settings>,
}

#[async_trait]
impl BackgroundService for Refresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let every = self.settings.upstream.model_refresh_interval_s;
        if every == 0 {
            return;
        }
        loop {
            let refreshed = self.catalog.refresh(&self.upstream, &self.settings).await;
            log::debug!("model list refreshed: {refreshed:?}");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(every)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
