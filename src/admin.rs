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

use crate::config::Settings;
use crate::metrics;

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
}

pub fn service(listen: &str, settings: Arc<Settings>) -> Service<AdminApp> {
    let mut service = Service::new("argo-bridge admin".to_string(), AdminApp { settings });
    service.add_tcp(listen);
    service
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path();
        let (status, content_type, body) = match path {
            "/metrics" => (200, METRICS_CONTENT_TYPE, metrics::render()),
            "/health" | "/healthz" => (200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            "/ready" | "/readyz" => match readiness(&self.settings) {
                Ok(body) => (200, "application/json", body),
                Err(error) => (error.status, "application/json", error.to_json()),
            },
            _ => {
                let error = ApiError::not_found("The admin port serves /metrics, /health, /ready");
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
