//! Readiness that tells the truth: every `readiness.probe_interval_ms` each configured Argo
//! environment gets a light probe, `GET {base}/v1/models` (no prompt, nothing billed). Connecting
//! and waiting for the answer's head are each bounded by `readiness.probe_timeout_ms`
//! ([`probe_config`]). An environment is down when the connection fails or the answer is 502,
//! 503 or 504: what a proxy in front of a dead Argo says, or Argo when it is unavailable. Any
//! other HTTP answer, a 4xx or even a 500, is up: Argo's application answered, and one broken
//! model list must not drain every instance at once.
//!
//! The probe is judged on the answer's head, never on the list: a huge, slow or dripping list
//! says nothing about whether chat works. An environment that took the probe's request but sent
//! no head in time is `slow`, which does not make the instance unready either: every instance
//! would see the same Argo, and draining them all would turn slow answers into none.
//!
//! `/ready` (API and admin port) is 200 while at least one environment is up or slow, and 503
//! `not_ready` while none is, or before the first round of probes has finished, so that a load
//! balancer drains an instance that cannot reach Argo. `/health` stays liveness only.
//! `argo_bridge_upstream_up{env}` shows each environment's last probe (1 for up and slow).
//!
//! `/ready` also says how many models are served (the table merged with Argo's live lists) and,
//! per environment, whether its live list was read (`model_lists`: `read`, `stale` when the
//! last read failed, `not read` while only the table stands for it). That does not make the
//! instance unready: the table serves meanwhile, and one broken list must not drain every
//! instance. An environment the probe finds answering after it did not has its failed list read
//! again at once ([`Catalog::answers_again`]).
//!
//! With accounts configured, `/ready` says whether the accounts store answered its last read
//! (`accounts`: `reachable`, or `unreachable` while the last keys read keep serving). That does
//! not make the instance unready either: the keys in memory go on authenticating.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use argo_filters::error::ErrorCode;
use argo_filters::ApiError;
use async_trait::async_trait;
use futures::future::join_all;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use serde_json::json;

use crate::accounts::Accounts;
use crate::config::{Settings, UpstreamConfig};
use crate::observe::metrics;
use crate::upstream::catalog::Catalog;
use crate::upstream::{Api, Call, Exchange, Upstream};

/// Most of a probe's list read to its end, so that its connection serves the next probe; a
/// longer list is left unread and its connection closed.
const PROBE_DRAIN_BYTES: usize = 64 * 1024;

/// What the last round of probes found, shared by the prober and both `/ready` handlers.
pub struct Readiness {
    environments: Vec<String>,
    probing: bool,
    /// The models served, and the live lists it was merged with.
    catalog: Arc<Catalog>,
    last: RwLock<Option<BTreeMap<String, Reach>>>,
    accounts: Option<Arc<Accounts>>,
}

/// What the last probe of an environment found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// It answered with a status that says it is up.
    Up,
    /// It took the request but sent no answer within the probe timeout.
    Slow,
    /// The connection failed, or it answered 502, 503 or 504.
    Down,
}

impl Reach {
    fn serves(self) -> bool {
        self != Reach::Down
    }

    fn name(self) -> &'static str {
        match self {
            Reach::Up => "up",
            Reach::Slow => "slow",
            Reach::Down => "down",
        }
    }
}

/// One probe's finding, with what went wrong when it is not up.
type Probe = (Reach, Option<String>);

/// The upstream settings of the probes' own connections: no retries, and the connection and
/// the wait for the answer's head each bounded by the probe timeout, so that a probe tells a
/// failed connection from an answer that does not come.
pub fn probe_config(settings: &Settings) -> UpstreamConfig {
    let timeout = settings.readiness.probe_timeout_ms.max(1);
    UpstreamConfig {
        retries: 0,
        connect_timeout_ms: settings.upstream.connect_timeout_ms.min(timeout),
        head_timeout_ms: timeout,
        ..settings.upstream.clone()
    }
}

/// A `/ready` answer: status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Readiness {
    pub fn new(
        settings: &Settings,
        catalog: Arc<Catalog>,
        accounts: Option<Arc<Accounts>>,
    ) -> Arc<Self> {
        let environments: Vec<String> = settings.environments.keys().cloned().collect();
        for env in &environments {
            metrics::UPSTREAM_UP.with_label_values(&[env]).set(0);
        }
        Arc::new(Readiness {
            environments,
            probing: settings.readiness.probe_interval_ms > 0,
            catalog,
            last: RwLock::new(None),
            accounts,
        })
    }

    /// The answer to `/ready`: Argo's state, and the accounts store's when there is one.
    pub fn answer(&self, settings: &Settings) -> Answer {
        let mut answer = self.argo_answer(settings);
        if let Some(accounts) = &self.accounts {
            let state = match accounts.store_reachable() {
                true => "reachable",
                false => "unreachable",
            };
            if let Ok(serde_json::Value::Object(mut body)) =
                serde_json::from_slice::<serde_json::Value>(&answer.body)
            {
                body.insert("accounts".into(), state.into());
                answer.body = serde_json::Value::Object(body).to_string().into_bytes();
            }
        }
        answer
    }

    /// `/ready`'s answer about Argo: its environments and model lists.
    fn argo_answer(&self, settings: &Settings) -> Answer {
        let missing = settings
            .models
            .environments()
            .any(|env| !settings.environments.contains_key(env));
        if missing {
            let error = not_ready("Some model environments are not configured");
            return Answer {
                status: error.status,
                body: error.to_json(),
            };
        }
        let models = self.catalog.current().models().len();
        let lists = self.model_lists();
        if !self.probing {
            let body = json!({"status": "ready", "models": models, "environments": "not probed",
                "model_lists": lists});
            return Answer {
                status: 200,
                body: body.to_string().into_bytes(),
            };
        }
        let last = match self.last.read() {
            Ok(last) => last.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(last) = last else {
            let error = not_ready("Argo has not been probed yet");
            let statuses: BTreeMap<&str, &str> = self
                .environments
                .iter()
                .map(|env| (env.as_str(), "unknown"))
                .collect();
            return error_answer(&error, models, &statuses, &lists);
        };
        let statuses: BTreeMap<&str, &str> = last
            .iter()
            .map(|(env, reach)| (env.as_str(), reach.name()))
            .collect();
        if last.values().any(|reach| reach.serves()) {
            let body = json!({"status": "ready", "models": models, "environments": statuses,
                "model_lists": lists});
            return Answer {
                status: 200,
                body: body.to_string().into_bytes(),
            };
        }
        let down: Vec<&str> = statuses.keys().copied().collect();
        let error = not_ready(&format!(
            "No Argo environment answers (down: {})",
            down.join(", ")
        ));
        error_answer(&error, models, &statuses, &lists)
    }

    /// Whether each environment's live model list was read.
    fn model_lists(&self) -> BTreeMap<&str, &'static str> {
        let envs = self.environments.iter().map(String::as_str);
        self.catalog
            .list_states(envs)
            .into_iter()
            .map(|(env, state)| (env, state.name()))
            .collect()
    }

    /// Records a round of probes; logs each environment whose state changed.
    fn record(&self, round: BTreeMap<String, Probe>) {
        let mut last = match self.last.write() {
            Ok(last) => last,
            Err(poisoned) => poisoned.into_inner(),
        };
        let was_ready = last
            .as_ref()
            .map(|last| last.values().any(|reach| reach.serves()));
        let previous = last.take().unwrap_or_default();
        let mut now = BTreeMap::new();
        for (env, (reach, cause)) in round {
            metrics::UPSTREAM_UP
                .with_label_values(&[&env])
                .set(i64::from(reach.serves()));
            let cause = cause.unwrap_or_default();
            match (previous.get(&env).copied(), reach) {
                (before, now) if before == Some(now) => {}
                (_, Reach::Down) => log::warn!("readiness: Argo {env} does not answer: {cause}"),
                (_, Reach::Slow) => log::warn!(
                    "readiness: Argo {env} took the probe but did not answer in time ({cause}); \
                     still counted as reachable"
                ),
                (Some(_), Reach::Up) => log::info!("readiness: Argo {env} answers again"),
                (None, Reach::Up) => {}
            }
            if reach == Reach::Up && previous.get(&env) != Some(&Reach::Up) {
                self.catalog.answers_again(&env);
            }
            now.insert(env, reach);
        }
        let ready = now.values().any(|reach| reach.serves());
        if was_ready != Some(ready) {
            match ready {
                true => log::info!("ready: Argo answers"),
                false => log::warn!("not ready: no Argo environment answers"),
            }
        }
        *last = Some(now);
    }
}

fn not_ready(message: &str) -> ApiError {
    ApiError::new(503, "server_error", message).with_code(ErrorCode::NotReady)
}

/// The OpenAI error envelope, plus the models served and each environment's status and model
/// list beside it.
fn error_answer(
    error: &ApiError,
    models: usize,
    statuses: &BTreeMap<&str, &str>,
    lists: &BTreeMap<&str, &str>,
) -> Answer {
    let mut body: serde_json::Value =
        serde_json::from_slice(&error.to_json()).unwrap_or_else(|_| json!({}));
    body["models"] = json!(models);
    body["environments"] = json!(statuses);
    body["model_lists"] = json!(lists);
    Answer {
        status: error.status,
        body: body.to_string().into_bytes(),
    }
}

/// Whether a probe's answer says that Argo is up (see the module's comment).
fn answered_up(status: u16) -> bool {
    !matches!(status, 502..=504)
}

/// One probe, judged on the answer's head (see the module's comment). The upstream's own
/// limits ([`probe_config`]) bound the connection and the head; the whole is bounded too.
async fn probe(upstream: &Upstream, env: &str, user: &str, timeout: Duration) -> Probe {
    let call = Call::new(Api::Models, user);
    let whole = timeout * 3 + Duration::from_secs(1);
    let exchange = match tokio::time::timeout(whole, upstream.send(env, &call, b"", None)).await {
        Ok(Ok(exchange)) => exchange,
        Ok(Err(error)) if error.code == Some(ErrorCode::UpstreamHeadTimeout) => {
            let waited = format!("no answer within {} ms", timeout.as_millis());
            return (Reach::Slow, Some(waited));
        }
        Ok(Err(error)) => return (Reach::Down, Some(cause_of(error))),
        Err(_) => {
            let waited = format!("no connection within {} ms", whole.as_millis());
            return (Reach::Down, Some(waited));
        }
    };
    let status = exchange.status();
    drain(upstream, exchange, timeout).await;
    match answered_up(status) {
        true => (Reach::Up, None),
        false => (
            Reach::Down,
            Some(format!("GET /v1/models answered {status}")),
        ),
    }
}

fn cause_of(error: ApiError) -> String {
    error.cause.map(|cause| *cause).unwrap_or(error.message)
}

/// Reads the rest of a probe's answer (never logged) when it is short and comes within
/// `within`, so that its connection can serve the next probe; otherwise the connection closes.
async fn drain(upstream: &Upstream, mut exchange: Exchange, within: Duration) {
    let read = async {
        let mut read = 0;
        while let Some(chunk) = exchange.next_chunk(upstream).await.ok()? {
            read += chunk.len();
            if read > PROBE_DRAIN_BYTES {
                return None;
            }
        }
        Some(())
    };
    if let Ok(Some(())) = tokio::time::timeout(within, read).await {
        upstream.release(exchange);
    }
}

/// Probes every environment at once, every `readiness.probe_interval_ms` (never when 0). It
/// has its own connections to Argo, without retries.
pub struct Prober {
    pub readiness: Arc<Readiness>,
    pub upstream: Upstream,
    pub settings: Arc<Settings>,
}

#[async_trait]
impl BackgroundService for Prober {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let config = &self.settings.readiness;
        if config.probe_interval_ms == 0 {
            return;
        }
        let every = Duration::from_millis(config.probe_interval_ms);
        let timeout = Duration::from_millis(config.probe_timeout_ms);
        let user = &self.settings.upstream.model_list_user;
        loop {
            let probes = self.readiness.environments.iter().map(|env| async move {
                let found = probe(&self.upstream, env, user, timeout).await;
                (env.clone(), found)
            });
            let round = join_all(probes).await.into_iter().collect();
            self.readiness.record(round);
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let text = std::fs::read_to_string(crate::config::DEFAULT_PATH).unwrap();
        crate::config::validate(crate::config::parse(&text).unwrap()).unwrap()
    }

    fn round(reaches: &[(&str, Reach)]) -> BTreeMap<String, Probe> {
        reaches
            .iter()
            .map(|(env, reach)| (env.to_string(), (*reach, None)))
            .collect()
    }

    #[test]
    fn a_slow_environment_keeps_the_instance_ready_and_a_down_one_does_not() {
        let settings = settings();
        let readiness = Readiness::new(
            &settings,
            Arc::new(Catalog::new(settings.models.clone())),
            None,
        );
        assert_eq!(readiness.answer(&settings).status, 503, "not probed yet");
        readiness.record(round(&[
            ("prod", Reach::Slow),
            ("dev", Reach::Down),
            ("test", Reach::Down),
        ]));
        let answer = readiness.answer(&settings);
        assert_eq!(answer.status, 200);
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["environments"]["prod"], "slow");
        assert_eq!(body["environments"]["dev"], "down");
        readiness.record(round(&[
            ("prod", Reach::Down),
            ("dev", Reach::Down),
            ("test", Reach::Down),
        ]));
        assert_eq!(readiness.answer(&settings).status, 503);
    }

    #[test]
    fn probes_wait_for_a_connection_and_a_head_within_the_probe_timeout() {
        let mut settings = settings();
        settings.readiness.probe_timeout_ms = 700;
        let config = probe_config(&settings);
        assert_eq!(config.retries, 0);
        assert_eq!(config.head_timeout_ms, 700);
        assert_eq!(
            config.connect_timeout_ms,
            settings.upstream.connect_timeout_ms.min(700)
        );
    }

    #[test]
    fn gateway_errors_are_down_and_any_other_answer_is_up() {
        for status in [200, 204, 301, 400, 401, 403, 404, 429, 500, 501, 505] {
            assert!(answered_up(status), "{status}");
        }
        for status in [502, 503, 504] {
            assert!(!answered_up(status), "{status}");
        }
    }
}
