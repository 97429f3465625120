//! The optional admin listener (`admin.listen`): `/metrics`, `/health` and `/ready` on their own
//! port, for scrapers and probes that should not reach the API port. Also the readiness check
//! that both listeners share.

use std::sync::Arc;

use argo_filters::ApiError;
use async_trait::async_trait;
use http::Response;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;
use pingora_core::services::listening::Service;

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::metrics;
use crate::upstream::Upstream;

pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Ready when every environment the model table needs is configured and resolved.
pub fn readiness(settings: &Settings) -> Result<Vec<u8>, ApiError> {
    let missing = settings
        .models
        .environments()
        .any(|env| !settings.environments.contains_key(env));
    if missing {
        return Err(ApiError::new(
            503,
            "server_error",
            "Some model environments are not configured",
        )
        .with_code("not_ready"));
    }
    let body = serde_json::json!({"status": "ready", "models": settings.models.models().len()});
    Ok(body.to_string().into_bytes())
}

pub struct AdminApp {
    settings: Arc<Settings>,
    catalog: Arc<Catalog>,
    /// Its own connections to Argo, for refreshing the model list on request.
    upstream: Upstream,
}

impl AdminApp {
    pub fn new(settings: Arc<Settings>, catalog: Arc<Catalog>, upstream: Upstream) -> Self {
        AdminApp {
            settings,
            catalog,
            upstream,
        }
    }

    /// `POST /models/refresh`: reads Argo's model lists now.
    async fn refresh_models(&self) -> (u16, Vec<u8>) {
        let refreshed = self.catalog.refresh(&self.upstream, &self.settings).await;
        let body = serde_json::json!({"models": refreshed.models, "failed": refreshed.failed});
        (200, body.to_string().into_bytes())
    }
}

pub fn service(listen: &str, app: AdminApp) -> Service<AdminApp> {
    let mut service = Service::new("argo-bridge admin".to_string(), app);
    service.add_tcp(listen);
    service
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let method = session.req_header().method.clone();
        let (status, content_type, body) = match path.as_str() {
            "/models/refresh" if method == http::Method::POST => {
                let (status, body) = self.refresh_models().await;
                (status, "application/json", body)
            }
            "/metrics" => (200, METRICS_CONTENT_TYPE, metrics::render()),
            "/health" | "/healthz" => (200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            "/ready" | "/readyz" => match readiness(&self.settings) {
                Ok(body) => (200, "application/json", body),
                Err(error) => (error.status, "application/json", error.to_json()),
            },
            _ => {
                let error = ApiError::not_found(
                    "The admin port serves /metrics, /health, /ready and POST /models/refresh",
                );
                (404, "application/json", error.to_json())
            }
        };
        let length = body.len();
        Response::builder()
            .status(status)
            .header("Content-Type", content_type)
            .header("Content-Length", length)
            .body(body)
            .unwrap_or_else(|_| Response::new(Vec::new()))
    }
}
