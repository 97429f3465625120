//! Readiness that tells the truth: every `readiness.probe_interval_ms` each configured Argo
//! environment gets a light probe, `GET {base}/v1/models` (no prompt, nothing billed), bounded by
//! `readiness.probe_timeout_ms`. An environment is down when the connection fails, the probe times
//! out, or the answer is 502, 503 or 504: what a proxy in front of a dead Argo says, or Argo
//! when it is unavailable. Any other HTTP answer, a 4xx or even a 500, is up: Argo's application
//! answered, and one broken model list must not drain every instance at once.
//!
//! `/ready` (API and admin port) is 200 while at least one environment is up, and 503
//! `not_ready` while none is, or before the first round of probes has finished, so that a load
//! balancer drains an instance that cannot reach Argo. `/health` stays liveness only.
//! `argo_bridge_upstream_up{env}` shows each environment's last probe.

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

use crate::config::Settings;
use crate::metrics;
use crate::upstream::{Api, Call, Upstream};

/// What the last round of probes found, shared by the prober and both `/ready` handlers.
pub struct Readiness {
    environments: Vec<String>,
    probing: bool,
    last: RwLock<Option<BTreeMap<String, bool>>>,
}

/// A `/ready` answer: status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Readiness {
    pub fn new(settings: &Settings) -> Arc<Self> {
        let environments: Vec<String> = settings.environments.keys().cloned().collect();
        for env in &environments {
            metrics::UPSTREAM_UP.with_label_values(&[env]).set(0);
        }
        Arc::new(Readiness {
            environments,
            probing: settings.readiness.probe_interval_ms > 0,
            last: RwLock::new(None),
        })
    }

    /// The answer to `/ready`.
    pub fn answer(&self, settings: &Settings) -> Answer {
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
        let models = settings.models.models().len();
        if !self.probing {
            let body = json!({"status": "ready", "models": models, "environments": "not probed"});
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
            return error_answer(&error, &statuses);
        };
        let statuses: BTreeMap<&str, &str> = last
            .iter()
            .map(|(env, up)| (env.as_str(), if *up { "up" } else { "down" }))
            .collect();
        if last.values().any(|up| *up) {
            let body = json!({"status": "ready", "models": models, "environments": statuses});
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
        error_answer(&error, &statuses)
    }

    /// Records a round of probes; logs each environment that went down or came back.
    fn record(&self, round: BTreeMap<String, Result<(), String>>) {
        let mut last = match self.last.write() {
            Ok(last) => last,
            Err(poisoned) => poisoned.into_inner(),
        };
        let was_ready = last.as_ref().map(|last| last.values().any(|up| *up));
        let previous = last.take().unwrap_or_default();
        let mut now = BTreeMap::new();
        for (env, outcome) in round {
            let up = outcome.is_ok();
            metrics::UPSTREAM_UP
                .with_label_values(&[&env])
                .set(i64::from(up));
            match (previous.get(&env), &outcome) {
                (Some(true) | None, Err(cause)) => {
                    log::warn!("readiness: Argo {env} does not answer: {cause}")
                }
                (Some(false), Ok(())) => log::info!("readiness: Argo {env} answers again"),
                _ => {}
            }
            now.insert(env, up);
        }
        let ready = now.values().any(|up| *up);
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

/// The OpenAI error envelope, plus each environment's status beside it.
fn error_answer(error: &ApiError, statuses: &BTreeMap<&str, &str>) -> Answer {
    let mut body: serde_json::Value =
        serde_json::from_slice(&error.to_json()).unwrap_or_else(|_| json!({}));
    body["environments"] = json!(statuses);
    Answer {
        status: error.status,
        body: body.to_string().into_bytes(),
    }
}

/// Whether a probe's answer says that Argo is up (see the module's comment).
fn answered_up(status: u16) -> bool {
    !matches!(status, 502..=504)
}

/// One probe: `Ok` when the environment answered in time with a status that says it is up.
async fn probe(
    upstream: &Upstream,
    env: &str,
    user: &str,
    timeout: Duration,
) -> Result<(), String> {
    let call = Call::new(Api::Models, user);
    let attempt = async {
        let mut exchange = upstream
            .send(env, &call, b"", None)
            .await
            .map_err(|e: ApiError| e.cause.map(|cause| *cause).unwrap_or(e.message))?;
        let status = exchange.status();
        if exchange.is_success() {
            // Read the list to its end so that the connection can serve the next probe.
            if exchange.read_to_end(upstream).await.is_ok() {
                upstream.release(exchange);
            }
        } else {
            // Read (and drop) the error body; it is not logged.
            drop(upstream.reject(exchange).await);
        }
        match answered_up(status) {
            true => Ok(()),
            false => Err(format!("GET /v1/models answered {status}")),
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())))
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
                let outcome = probe(&self.upstream, env, user, timeout).await;
                (env.clone(), outcome)
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
