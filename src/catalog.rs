//! The model table the gateway serves: the configured one merged with Argo's live lists
//! (`GET {base}/v1/models` of each environment), read at start and every
//! `upstream.model_refresh_interval_s`. A failed read keeps the last list, is logged once (and
//! once more when the environment answers again) and counted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use argo_filters::live_models::{self, LiveModel};
use argo_filters::models::ModelTable;
use argo_filters::ApiError;
use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use crate::config::Settings;
use crate::metrics;
use crate::upstream::{Api, Call, Upstream};

pub struct Catalog {
    configured: ModelTable,
    current: RwLock<Arc<ModelTable>>,
    /// The last list each environment gave, kept while a later read fails.
    lists: Mutex<BTreeMap<String, Vec<LiveModel>>>,
    /// Environments whose last read failed (logged once until they answer again).
    failing: Mutex<Vec<String>>,
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
        }
    }

    /// The table requests resolve against now; a request keeps the one it started with.
    pub fn current(&self) -> Arc<ModelTable> {
        match self.current.read() {
            Ok(table) => Arc::clone(&table),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reads every environment's list and serves the merge.
    pub async fn refresh(&self, upstream: &Upstream, settings: &Settings) -> Refreshed {
        let mut failed = Vec::new();
        for env in settings.environments.keys() {
            match read_list(upstream, settings, env).await {
                Ok(list) => {
                    self.recovered(env);
                    self.lock_lists().insert(env.clone(), list);
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
        let models = self.rebuild(settings);
        Refreshed { models, failed }
    }

    fn rebuild(&self, settings: &Settings) -> usize {
        let mut table = self.configured.clone();
        for (env, list) in self.lock_lists().iter() {
            let api = settings
                .upstream
                .default_api
                .get(env)
                .copied()
                .unwrap_or_default();
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

    fn lock_lists(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<LiveModel>>> {
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

async fn read_list(
    upstream: &Upstream,
    settings: &Settings,
    env: &str,
) -> Result<Vec<LiveModel>, String> {
    let call = Call::new(Api::Models, &settings.upstream.model_list_user);
    let answer = upstream
        .buffered(env, &call, b"")
        .await
        .map_err(|e: ApiError| e.cause.map(|cause| *cause).unwrap_or(e.message))?;
    live_models::parse(&answer)
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
